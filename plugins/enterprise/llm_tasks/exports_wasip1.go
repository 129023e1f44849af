package main

import "taskhost.dev/sdk"

//go:wasmexport chat
func chatExport() int32 { return sdk.Serve("chat") }
