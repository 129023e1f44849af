package main

import "taskhost.dev/sdk"

//go:wasmexport ping
func pingExport() int32 { return sdk.Serve("ping") }

//go:wasmexport progress_demo
func progressDemoExport() int32 { return sdk.Serve("progress_demo") }

//go:wasmexport fail
func failExport() int32 { return sdk.Serve("fail") }
