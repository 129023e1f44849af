package sdk

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/extism/go-pdk"

	"taskhost.dev/abi"
	"taskhost.dev/sdk/internal/raw"
)

// Serve runs the registered task name on the call's input and hands its
// output or error to the host. Call it from the task's //go:wasmexport stub
// and return its result.
func Serve(name string) int32 {
	// WebAssembly runs one goroutine at a time here and tasks are registered
	// in init, so the map is read without the lock.
	t, ok := tasks[name]
	if !ok {
		raw.Error(abi.EncodeError(abi.Error{Message: fmt.Sprintf("task %q is exported but not registered with sdk.Register", name)}))
		return 1
	}
	out, err := t.run(raw.Input())
	if err != nil {
		raw.Error(encodeError(err))
		return 1
	}
	raw.Output(out)
	return 0
}

//go:wasmexport taskhost_meta
func taskhostMeta() int32 {
	b, err := json.Marshal(Meta())
	if err != nil {
		raw.Error([]byte(err.Error()))
		return 1
	}
	raw.Output(b)
	return 0
}

// Progress reports how far the task is (0-100) and what it is doing. Each
// report is also a heartbeat.
func Progress(percent float64, message string) {
	b, _ := json.Marshal(abi.Progress{Percent: percent, Message: message})
	raw.Progress(b)
}

// Heartbeat tells the host, and through it the engine, that the task is
// still alive.
func Heartbeat() { raw.Progress(nil) }

// Info returns the running task's id, name, attempt and plugin.
func Info() abi.TaskInfo {
	var info abi.TaskInfo
	_ = json.Unmarshal(raw.TaskInfo(), &info)
	return info
}

// Config returns a value from the plugin's [plugin.config] in the manifest.
func Config(key string) (string, bool) { return pdk.GetConfig(key) }

// Log writes a line to the host's log, tagged with the task, its id, the
// plugin and the attempt.
func Log(level slog.Level, msg string) {
	l := pdk.LogError
	switch {
	case level < slog.LevelDebug:
		l = pdk.LogTrace
	case level < slog.LevelInfo:
		l = pdk.LogDebug
	case level < slog.LevelWarn:
		l = pdk.LogInfo
	case level < slog.LevelError:
		l = pdk.LogWarn
	}
	pdk.Log(l, msg)
}

// HTTP sends a request through the host, which allows only the hosts in the
// plugin's allowed_hosts (any other ends the call with a sandbox
// violation). method is GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS.
func HTTP(method, url string, headers map[string]string, body []byte) (int, []byte, error) {
	m, ok := map[string]pdk.HTTPMethod{"GET": pdk.MethodGet, "HEAD": pdk.MethodHead, "POST": pdk.MethodPost, "PUT": pdk.MethodPut,
		"PATCH": pdk.MethodPatch, "DELETE": pdk.MethodDelete, "OPTIONS": pdk.MethodOptions}[method]
	if !ok {
		return 0, nil, fmt.Errorf("HTTP method %q is not supported", method)
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
