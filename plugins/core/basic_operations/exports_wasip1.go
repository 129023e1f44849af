package main

import "taskhost.dev/sdk"

//go:wasmexport echo
func echoExport() int32 { return sdk.Serve("echo") }

//go:wasmexport add
func addExport() int32 { return sdk.Serve("add") }

//go:wasmexport uppercase
func uppercaseExport() int32 { return sdk.Serve("uppercase") }

//go:wasmexport sleep
func sleepExport() int32 { return sdk.Serve("sleep") }
