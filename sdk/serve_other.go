//go:build !wasip1

package sdk

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"

	"taskhost.dev/abi"
)

// Outside WebAssembly these do nothing, so that task code that reports
// progress can be unit-tested natively with Call.

// Progress reports progress; a no-op outside WebAssembly.
func Progress(percent float64, message string) {}

// Heartbeat reports liveness; a no-op outside WebAssembly.
func Heartbeat() {}

// Info returns the running task's description; empty outside WebAssembly.
func Info() abi.TaskInfo { return abi.TaskInfo{} }

// Config returns a plugin config value; never found outside WebAssembly.
func Config(key string) (string, bool) { return "", false }

// Log writes to slog's default logger outside WebAssembly.
func Log(level slog.Level, msg string) { slog.Log(context.Background(), level, msg) }

// HTTP sends a request with net/http outside WebAssembly (no allowed_hosts
// check: that is the host's).
func HTTP(method, url string, headers map[string]string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}
