package main

import "taskhost.dev/sdk"

//go:wasmexport fetch_url
func fetchURLExport() int32 { return sdk.Serve("fetch_url") }

//go:wasmexport read_file
func readFileExport() int32 { return sdk.Serve("read_file") }

//go:wasmexport list_dir
func listDirExport() int32 { return sdk.Serve("list_dir") }
