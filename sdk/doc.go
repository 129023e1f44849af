// Package sdk is the Go guest SDK: it turns ordinary typed Go functions into
// taskhost tasks inside a WebAssembly plugin built with the standard Go
// toolchain (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared).
//
// A plugin registers its tasks in init and exports one small stub per task:
//
//	type AddIn struct{ A, B float64 }
//	type AddOut struct{ Sum float64 `json:"sum"` }
//
//	func add(in AddIn) (AddOut, error) { return AddOut{in.A + in.B}, nil }
//
//	func init() { sdk.Register("add", add) }
//
//	//go:wasmexport add
//	func addExport() int32 { return sdk.Serve("add") }
//
//	func main() {}
//
// The SDK decodes the JSON input into the function's input type, encodes its
// result as JSON, reports errors with their kind and retryability
// (Permanent, BadInput), and exports abi.MetaExport so that the host finds
// the plugin's tasks by itself. Progress, Heartbeat, Info, Log and Config
// reach the host; the raw imports stay in sdk/internal.
//
// Outside WebAssembly the package still compiles: Call runs a registered
// task in-process, so task logic can be unit-tested with go test.
package sdk
