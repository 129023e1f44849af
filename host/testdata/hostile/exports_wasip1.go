package main

import "taskhost.dev/sdk"

//go:wasmexport ok
func okExport() int32 { return sdk.Serve("ok") }

//go:wasmexport loop
func loopExport() int32 { return sdk.Serve("loop") }

//go:wasmexport announced_loop
func announcedLoopExport() int32 { return sdk.Serve("announced_loop") }

//go:wasmexport membomb
func membombExport() int32 { return sdk.Serve("membomb") }

//go:wasmexport panic
func panicExport() int32 { return sdk.Serve("panic") }

//go:wasmexport recurse
func recurseExport() int32 { return sdk.Serve("recurse") }

//go:wasmexport bigoutput
func bigoutputExport() int32 { return sdk.Serve("bigoutput") }

//go:wasmexport readfile
func readfileExport() int32 { return sdk.Serve("readfile") }

//go:wasmexport logflood
func logfloodExport() int32 { return sdk.Serve("logflood") }

//go:wasmexport http
func httpExport() int32 { return sdk.Serve("http") }
