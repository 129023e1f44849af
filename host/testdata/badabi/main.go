//go:build wasip1

// Command badabi is a plugin that claims a taskhost ABI version the host
// does not speak.
package main

import "github.com/extism/go-pdk"

//go:wasmexport taskhost_meta
func meta() int32 {
	pdk.OutputString(`{"abi":99,"tasks":[{"name":"future_task"}]}`)
	return 0
}

//go:wasmexport future_task
func futureTask() int32 { return 0 }

func main() {}
