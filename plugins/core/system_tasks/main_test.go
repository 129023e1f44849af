package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"taskhost.dev/abi"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
	"taskhost.dev/sdk"
)

// runBoth runs each case natively (sdk.Call) and through the host on the
// built module, and checks both give the wanted output.
func runBoth(t *testing.T, plugin string, cases []struct{ task, input, want string }) {
	t.Helper()
	dir := t.TempDir()
	if err := os.Symlink(testplugins.Build(t, "plugins/core/"+plugin), filepath.Join(dir, plugin+".wasm")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{PluginsDir: dir, CacheDir: filepath.Join(os.TempDir(), "taskhost-test-cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, c := range cases {
		native, err := sdk.Call(c.task, []byte(c.input))
		if err != nil || !jsonEqual(native, c.want) {
			t.Errorf("native %s(%s) = %s, %v; want %s", c.task, c.input, native, err, c.want)
		}
		out, err := h.Run(ctx, c.task, []byte(c.input), host.Invocation{})
		if err != nil || !jsonEqual(out, c.want) {
			t.Errorf("host %s(%s) = %s, %v; want %s", c.task, c.input, out, err, c.want)
		}
	}
}

func jsonEqual(got []byte, want string) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

func TestTasks(t *testing.T) {
	runBoth(t, "system_tasks", []struct{ task, input, want string }{
		{"progress_demo", `{"steps":2}`, `{"steps":2}`},
	})
}

func TestThroughTheHost(t *testing.T) {
	dir := t.TempDir()
	os.Symlink(testplugins.Build(t, "plugins/core/system_tasks"), filepath.Join(dir, "system_tasks.wasm"))
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{PluginsDir: dir, CacheDir: filepath.Join(os.TempDir(), "taskhost-test-cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	out, err := h.Run(ctx, "ping", []byte(`{}`), host.Invocation{ID: "p1", Attempt: 2})
	var pong struct {
		Pong    bool
		Task    string
		Attempt int
	}
	if err != nil || json.Unmarshal(out, &pong) != nil || !pong.Pong || pong.Task != "ping" || pong.Attempt != 2 {
		t.Errorf("ping = %s, %v", out, err)
	}
	var reports []abi.Progress
	if _, err := h.Run(ctx, "progress_demo", []byte(`{"steps":3}`), host.Invocation{OnProgress: func(p abi.Progress) { reports = append(reports, p) }}); err != nil || len(reports) != 3 || reports[2].Percent != 100 {
		t.Errorf("progress_demo: %v, reports %+v", err, reports)
	}
	_, err = h.Run(ctx, "fail", []byte(`{"message":"on purpose"}`), host.Invocation{})
	if te, ok := host.AsTaskError(err); !ok || te.Kind != abi.KindFailed || te.Retryable || te.Message != "on purpose" {
		t.Errorf("fail: %v", err)
	}
	if task, _ := h.Task("fail"); task.MaxRetries != 0 {
		t.Errorf("fail has %d retries, want 0 (from the module's metadata)", task.MaxRetries)
	}
}
