package main

import (
	"github.com/extism/go-pdk"

	"taskhost.dev/sdk"
)

//go:wasmexport chat
func chatExport() int32 { return sdk.Serve("chat") }

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
