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

func TestTasks(t *testing.T) {
	testplugins.RunCases(t, "system_tasks", sdk.Call, []testplugins.Case{
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
