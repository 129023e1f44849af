package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
	"taskhost.dev/worker"
)

// TestSpecsCarryRetryBackoff: a task's retry_* keys become the backoff its
// engine registers (issue 18).
func TestSpecsCarryRetryBackoff(t *testing.T) {
	ctx := context.Background()
	core := testplugins.Core(t)
	mf := filepath.Join(t.TempDir(), "manifest.toml")
	text := fmt.Sprintf("[[plugin]]\npath = %q\n[[plugin.task]]\nname = \"echo\"\nretry_delay = \"2s\"\nretry_max_delay = \"10s\"\nretry_backoff = \"fixed\"\nretry_jitter = 0.25\n",
		filepath.Join(core, "basic_operations.wasm"))
	if err := os.WriteFile(mf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := host.Load(ctx, host.Config{Manifest: mf, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	want := backends.Backoff{Initial: 2 * time.Second, Max: 10 * time.Second, Fixed: true, Jitter: 0.25}
	for _, s := range worker.Specs(h) {
		switch s.Name {
		case "echo":
			if s.Backoff != want {
				t.Errorf("echo's backoff %+v, want %+v", s.Backoff, want)
			}
		default:
			if s.Backoff != (backends.Backoff{}) {
				t.Errorf("%s's backoff %+v, want the engine's default", s.Name, s.Backoff)
			}
		}
	}
}
