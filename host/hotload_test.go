package host_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFileAndUnload(t *testing.T) {
	ctx := context.Background()
	core := testplugins.Core(t)
	dir := t.TempDir()
	copyFile(t, filepath.Join(core, "data_processing.wasm"), filepath.Join(dir, "data_processing.wasm"))
	h, err := host.Load(ctx, host.Config{PluginsDir: dir, CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if _, ok := h.Task("sleep"); ok {
		t.Fatal("sleep is served before its plugin was dropped in")
	}

	// A plugin dropped in later serves its tasks.
	basic := filepath.Join(dir, "basic.wasm")
	copyFile(t, filepath.Join(core, "basic_operations.wasm"), basic)
	p, err := h.LoadFile(ctx, basic)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := h.Run(ctx, "add", []byte(`{"a":2,"b":3}`), host.Invocation{}); err != nil || string(out) != `{"sum":5}` {
		t.Fatalf("add after LoadFile: %s, %v", out, err)
	}

	// A bad module and a second plugin serving the same tasks are refused,
	// and change nothing.
	bad := filepath.Join(dir, "bad.wasm")
	os.WriteFile(bad, []byte("not wasm"), 0o644)
	if _, err := h.LoadFile(ctx, bad); err == nil || !strings.Contains(err.Error(), "bad.wasm") {
		t.Errorf("LoadFile of a bad module: %v, want an error naming it", err)
	}
	dup := filepath.Join(dir, "dup.wasm")
	copyFile(t, basic, dup)
	if _, err := h.LoadFile(ctx, dup); err == nil || !strings.Contains(err.Error(), "already served by plugin") {
		t.Errorf("LoadFile of a plugin with taken task names: %v", err)
	}
	if len(h.Plugins()) != 2 {
		t.Errorf("%d plugins after two refusals, want 2", len(h.Plugins()))
	}

	// Replacing the file replaces the plugin; a call running on the old one
	// finishes there.
	done := make(chan error, 1)
	go func() {
		_, err := h.Run(ctx, "sleep", []byte(`{"ms":400}`), host.Invocation{})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	p2, err := h.LoadFile(ctx, basic)
	if err != nil || p2 == p {
		t.Fatalf("reloading %s: %v", basic, err)
	}
	if err := <-done; err != nil {
		t.Errorf("a call running while its plugin was replaced: %v", err)
	}
	if task, _ := h.Task("echo"); task.Plugin != p2 {
		t.Error("echo is not served by the new plugin")
	}

	// Unload: a running call finishes, then the tasks are gone.
	go func() {
		_, err := h.Run(ctx, "sleep", []byte(`{"ms":400}`), host.Invocation{})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if h.Unload(ctx, basic) != p2 {
		t.Fatal("Unload did not return the plugin")
	}
	if err := <-done; err != nil {
		t.Errorf("a call running while its plugin was removed: %v", err)
	}
	_, err = h.Run(ctx, "add", []byte(`{"a":1,"b":1}`), host.Invocation{})
	if te, ok := host.AsTaskError(err); !ok || te.Kind != abi.KindUnknownTask {
		t.Errorf("add after Unload: %v, want unknown_task", err)
	}
	if out, err := h.Run(ctx, "sha256", []byte(`{"text":"abc"}`), host.Invocation{}); err != nil || !strings.Contains(string(out), "ba7816bf") {
		t.Errorf("the other plugin after Unload: %s, %v", out, err)
	}
}
