package main

import "taskhost.dev/sdk"

//go:wasmexport word_count
func wordCountExport() int32 { return sdk.Serve("word_count") }

//go:wasmexport csv_to_json
func csvToJSONExport() int32 { return sdk.Serve("csv_to_json") }

//go:wasmexport select_fields
func selectFieldsExport() int32 { return sdk.Serve("select_fields") }

//go:wasmexport sha256
func sha256Export() int32 { return sdk.Serve("sha256") }
