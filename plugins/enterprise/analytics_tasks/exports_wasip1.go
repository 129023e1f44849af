package main

import "taskhost.dev/sdk"

//go:wasmexport aggregate
func aggregateExport() int32 { return sdk.Serve("aggregate") }

//go:wasmexport count_by
func countByExport() int32 { return sdk.Serve("count_by") }
