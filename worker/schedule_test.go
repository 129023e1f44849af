package worker_test

import (
	"context"
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

// TestManifestSchedules: a worker makes the engine's manifest schedules
// its manifest's: a [[schedule]] fires, and one removed from the manifest
// is deleted when a worker starts without it, while a schedule made through
// the client stays (issue 16).
func TestManifestSchedules(t *testing.T) {
	ctx := context.Background()
	plugins := testplugins.Core(t)
	dir := t.TempDir()
	c, err := backends.Open(ctx, "river", backends.Config{URL: filepath.Join(dir, "t.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.CreateSchedule(ctx, backends.Schedule{Name: "by_client", Task: "echo", Every: time.Hour}); err != nil {
		t.Fatal(err)
	}
	run := func(manifest string, until func() bool) {
		t.Helper()
		mf := filepath.Join(dir, "manifest.toml")
		if err := os.WriteFile(mf, []byte(manifest), 0o644); err != nil {
			t.Fatal(err)
		}
		h, err := host.Load(ctx, host.Config{PluginsDir: plugins, Manifest: mf})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close(ctx)
		w, err := worker.New(worker.Config{Host: h, Client: c, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		wctx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(wctx) }()
		select {
		case <-w.Ready():
		case err := <-done:
			t.Fatalf("worker: %v", err)
		}
		deadline := time.Now().Add(30 * time.Second)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for !until() {
			if time.Now().After(deadline) {
				t.Fatal("the schedules never reached the wanted state")
			}
			<-tick.C
		}
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	find := func(name string) (backends.ScheduleInfo, bool) {
		list, err := c.Schedules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range list {
			if s.Name == name {
				return s, true
			}
		}
		return backends.ScheduleInfo{}, false
	}
	// Until a tick has fired and the worker has run its task.
	run("[[schedule]]\nname = \"tick\"\ntask = \"echo\"\nevery = \"1s\"\ninput = { n = 1 }\n", func() bool {
		s, ok := find("tick")
		if !ok || s.LastID == "" {
			return false
		}
		r, err := c.Result(ctx, s.LastID)
		return err == nil && r.Status == backends.StatusSucceeded
	})
	s, _ := find("tick")
	if s.Source != backends.SourceManifest || string(s.Input) != `{"n":1}` {
		t.Errorf("the manifest's schedule: %+v", s)
	}
	run("", func() bool { _, ok := find("tick"); return !ok })
	if _, ok := find("by_client"); !ok {
		t.Error("a worker's sync deleted a schedule made through the client")
	}
}
