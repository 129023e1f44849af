package main

import (
	"github.com/extism/go-pdk"

	"taskhost.dev/sdk"
)

//go:wasmexport fetch_url
func fetchURLExport() int32 { return sdk.Serve("fetch_url") }

//go:wasmexport read_file
func readFileExport() int32 { return sdk.Serve("read_file") }

//go:wasmexport list_dir
func listDirExport() int32 { return sdk.Serve("list_dir") }

func init() {
	send = func(method, url string, headers map[string]string, body []byte) (int, []byte, error) {
		m := pdk.MethodGet
		if method == "POST" {
			m = pdk.MethodPost
		}
		req := pdk.NewHTTPRequest(m, url)
		for k, v := range headers {
			req.SetHeader(k, v)
		}
		if body != nil {
			req.SetBody(body)
		}
		resp := req.Send()
		return int(resp.Status()), resp.Body(), nil
	}
}
