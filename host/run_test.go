package host_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

func loadCore(t *testing.T, cfg host.Config) *host.Host {
	t.Helper()
	if cfg.PluginsDir == "" {
		cfg.PluginsDir = testplugins.Core(t)
	}
	cfg.CacheDir = cacheDir(t)
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	h, err := host.Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

func TestTaskFailures(t *testing.T) {
	h := loadCore(t, host.Config{})
	cases := []struct {
		task, input string
		kind        abi.Kind
		retryable   bool
		message     string
	}{
		{"fail", `{"message":"nope"}`, abi.KindFailed, false, "nope"},
		{"add", `{"a":1}`, abi.KindBadInput, false, `needs two numbers`},
		{"add", `{"a":null,"b":1}`, abi.KindBadInput, false, `needs two numbers`},
		{"add", `null`, abi.KindBadInput, false, `needs two numbers`},
		{"add", `{"a":"x","b":1}`, abi.KindBadInput, false, "decoding input"},
		{"add", `not json`, abi.KindBadInput, false, "not a valid JSON document"},
		{"no_such_task", `{}`, abi.KindUnknownTask, false, "known tasks: add,"},
	}
	for _, c := range cases {
		_, err := h.Run(context.Background(), c.task, []byte(c.input), host.Invocation{})
		te, ok := host.AsTaskError(err)
		if !ok {
			t.Fatalf("%s(%s): got %v, want a TaskError", c.task, c.input, err)
		}
		if te.Kind != c.kind || te.Retryable != c.retryable || !strings.Contains(te.Message, c.message) {
			t.Errorf("%s(%s) = %s retryable=%v; want kind %s retryable=%v mentioning %q", c.task, c.input, te, te.Retryable, c.kind, c.retryable, c.message)
		}
	}
}

func TestProgressAndLogs(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&syncWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h := loadCore(t, host.Config{Logger: logger})
	var reports []abi.Progress
	out, err := h.Run(context.Background(), "progress_demo", []byte(`{"steps":4}`), host.Invocation{
		ID: "job-42", Attempt: 2,
		OnProgress: func(p abi.Progress) { reports = append(reports, p) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"steps":4}` || len(reports) != 4 {
		t.Fatalf("out %s, %d reports", out, len(reports))
	}
	mu.Lock()
	logged := logs.String()
	mu.Unlock()
	for _, want := range []string{"starting 4 steps", "task=progress_demo", "task_id=job-42", "plugin=system_tasks", "attempt=2"} {
		if !strings.Contains(logged, want) {
			t.Errorf("log %q does not contain %q", logged, want)
		}
	}
	if reports[3].Percent != 100 || reports[3].Message != "step 4 of 4" || reports[0].Percent != 25 {
		t.Errorf("reports = %+v", reports)
	}
	out, err = h.Run(context.Background(), "ping", []byte(`{}`), host.Invocation{ID: "job-43", Attempt: 3})
	if err != nil {
		t.Fatal(err)
	}
	var pong struct {
		Task    string
		Attempt int
	}
	json.Unmarshal(out, &pong)
	if pong.Task != "ping" || pong.Attempt != 3 {
		t.Errorf("ping saw %+v, want task ping attempt 3", pong)
	}
}

type syncWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestConcurrentCalls runs 8 goroutines x 500 calls across pooled instances;
// run it with -race.
func TestConcurrentCalls(t *testing.T) {
	h := loadCore(t, host.Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				task, input, want := "add", fmt.Sprintf(`{"a":%d,"b":%d}`, g, i), fmt.Sprintf(`{"sum":%d}`, g+i)
				if i%3 == 1 {
					task, input, want = "uppercase", fmt.Sprintf(`{"text":"g%d-i%d"}`, g, i), fmt.Sprintf(`{"text":"G%d-I%d"}`, g, i)
				}
				out, err := h.Run(context.Background(), task, []byte(input), host.Invocation{})
				if err != nil || string(out) != want {
					errs <- fmt.Errorf("goroutine %d call %d: %s(%s) = %s, %v; want %s", g, i, task, input, out, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, p := range h.Plugins() {
		st := p.Stats()
		if st.Live > p.Limits.PoolSize || st.Busy != 0 {
			t.Errorf("plugin %s: %+v with pool size %d", p.Name, st, p.Limits.PoolSize)
		}
	}
}

func TestIsolationAndRecycling(t *testing.T) {
	manifest := writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "fresh"
path = %q
[plugin.limits]
isolation = "fresh"
pool_size = 2

[[plugin]]
name = "recycled"
path = %q
[plugin.limits]
max_uses = 3
pool_size = 1
[[plugin.task]]
name = "word_count"
queue = "text"
max_retries = 7
timeout = "5s"
`, testplugins.Build(t, "plugins/core/basic_operations"), testplugins.Build(t, "plugins/core/data_processing")))
	h := loadCore(t, host.Config{Manifest: manifest, PluginsDir: t.TempDir()})
	ctx := context.Background()
	for range 4 {
		if _, err := h.Run(ctx, "add", []byte(`{"a":1,"b":1}`), host.Invocation{}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.Run(ctx, "sha256", []byte(`{"text":"x"}`), host.Invocation{}); err != nil {
			t.Fatal(err)
		}
	}
	fresh, _ := h.Task("add")
	if st := fresh.Plugin.Stats(); st.Live != 0 || st.Created != 5 {
		t.Errorf("fresh plugin: %+v, want no live instance and 5 created (1 at load + 4 calls)", st)
	}
	rec, _ := h.Task("sha256")
	if st := rec.Plugin.Stats(); st.Live != 1 || st.Created != 2 {
		t.Errorf("recycled plugin: %+v, want 1 live and 2 created (3 calls on the first, then a new one)", st)
	}
	wc, _ := h.Task("word_count")
	if wc.Queue != "text" || wc.MaxRetries != 7 || wc.Timeout.String() != "5s" {
		t.Errorf("manifest overrides not applied: %+v", wc)
	}
}

// TestIdleInstancesReleased: a pooled instance that waits idle_timeout for
// a call is closed, giving its memory back, and the pool fills again on
// the next call; with the default timeout the instance stays (issue 14).
func TestIdleInstancesReleased(t *testing.T) {
	h := loadCore(t, host.Config{Manifest: writeManifest(t, "[defaults.limits]\nidle_timeout = \"100ms\"\n")})
	ctx := context.Background()
	echo, ok := h.Task("echo")
	if !ok {
		t.Fatal("no echo task")
	}
	p := echo.Plugin
	for round := range 2 {
		if _, err := h.Run(ctx, "echo", []byte(`{"round":1}`), host.Invocation{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for p.Stats().Live != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %+v ten seconds after the last call, want no live instance", round, p.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if st := p.Stats(); st.Created < 2 {
		t.Errorf("%+v: the second call should have made a new instance", st)
	}
	kept := loadCore(t, host.Config{})
	if _, err := kept.Run(ctx, "echo", []byte(`{}`), host.Invocation{}); err != nil {
		t.Fatal(err)
	}
	kecho, _ := kept.Task("echo")
	if st := kecho.Plugin.Stats(); st.Live != 1 || st.Idle != 1 {
		t.Errorf("with the default idle_timeout: %+v, want the instance kept", st)
	}
}

// TestPoolFollowsConcurrency: with Config.Concurrency a plugin whose
// pool_size is not set runs that many tasks at once; one that sets it keeps
// its own (issue 19).
func TestPoolFollowsConcurrency(t *testing.T) {
	h := loadCore(t, host.Config{Concurrency: 8, Manifest: writeManifest(t, "")})
	sleep, ok := h.Task("sleep")
	if !ok {
		t.Fatal("no sleep task")
	}
	if n := sleep.Plugin.Limits.PoolSize; n != 8 {
		t.Fatalf("pool_size %d with Concurrency 8", n)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := h.Run(context.Background(), "sleep", []byte(`{"ms":300}`), host.Invocation{}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if st := sleep.Plugin.Stats(); st.Created < 8 {
		t.Errorf("%+v after 8 tasks at once: want 8 instances made", st)
	}
	kept := loadCore(t, host.Config{Concurrency: 8, Manifest: writeManifest(t, "[defaults.limits]\npool_size = 3\n")})
	if s, _ := kept.Task("sleep"); s.Plugin.Limits.PoolSize != 3 {
		t.Errorf("an explicit pool_size became %d", s.Plugin.Limits.PoolSize)
	}
}
