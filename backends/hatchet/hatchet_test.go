package hatchet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	_ "taskhost.dev/backends/hatchet"
	"taskhost.dev/internal/testengines"
)

func TestMain(m *testing.M) {
	testengines.LoadHatchetEnv()
	backendtest.Main(m)
}

// engine skips the test when no engine is configured, unless
// TASKHOST_REQUIRE_HATCHET is set (make test sets it, after
// scripts/hatchet-up.sh).
func engine(t *testing.T) {
	t.Helper()
	if os.Getenv("HATCHET_CLIENT_TOKEN") == "" {
		if os.Getenv("TASKHOST_REQUIRE_HATCHET") != "" {
			t.Fatal("no Hatchet engine: HATCHET_CLIENT_TOKEN is not set and scripts/hatchet-up.sh wrote no environment")
		}
		t.Skip("no Hatchet engine (scripts/hatchet-up.sh starts one)")
	}
}

// TestConformance runs the suite against the hatchet-lite engine of
// scripts/hatchet-up.sh.
func TestConformance(t *testing.T) {
	engine(t)
	backendtest.Run(t, "hatchet", backends.Config{})
}

// TestTaskRegisteredWhileWorking: a task registered after the worker
// started (a .wasm dropped in) is served: the worker registers again with
// the engine, as Hatchet adds no workflows to a started worker.
func TestTaskRegisteredWhileWorking(t *testing.T) {
	engine(t)
	ctx := context.Background()
	b, err := backends.Open(ctx, "hatchet", backends.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	q := fmt.Sprintf("late_%d", time.Now().UnixNano())
	b.Register(backends.TaskSpec{Name: "early", Queue: q})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{Queues: []string{q}}, backends.HandlerFunc(func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
			return json.Marshal(map[string]string{"ran": t.Name})
		}))
	}()
	defer func() { cancel(); <-done }()
	wait := func(task string) {
		t.Helper()
		id, err := b.Submit(ctx, task, json.RawMessage(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		wctx, c := context.WithTimeout(ctx, time.Minute)
		defer c()
		r, err := b.Wait(wctx, id)
		if err != nil || r.Status != backends.StatusSucceeded || string(r.Output) != `{"ran":"`+task+`"}` {
			t.Fatalf("%s: %+v (output %s), %v", task, r, r.Output, err)
		}
	}
	wait("early")
	if err := b.Register(backends.TaskSpec{Name: "late", Queue: q}); err != nil {
		t.Fatal(err)
	}
	wait("late")
	wait("early")
}

// TestHeartbeatRefreshesTimeout: a task that heartbeats outlives its
// execution timeout in the engine, which is pushed back each time; one
// that does not is timed out by the engine.
func TestHeartbeatRefreshesTimeout(t *testing.T) {
	engine(t)
	ctx := context.Background()
	b, err := backends.Open(ctx, "hatchet", backends.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	q := fmt.Sprintf("beat_%d", time.Now().UnixNano())
	b.Register(backends.TaskSpec{Name: "beating", Queue: q, Timeout: 3 * time.Second}, backends.TaskSpec{Name: "silent", Queue: q, Timeout: 3 * time.Second})
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{Queues: []string{q}}, backends.HandlerFunc(func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
			end := time.After(7 * time.Second)
			for {
				select {
				case <-end:
					return json.RawMessage(`{"done":true}`), nil
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(200 * time.Millisecond):
					if t.Name == "beating" {
						t.Heartbeat()
					}
				}
			}
		}))
	}()
	defer func() { cancel(); <-done }()
	beating, err := b.Submit(ctx, "beating", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	silent, err := b.Submit(ctx, "silent", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	wait := func(id string) backends.TaskResult {
		wctx, c := context.WithTimeout(ctx, time.Minute)
		defer c()
		r, err := b.Wait(wctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := wait(beating); r.Status != backends.StatusSucceeded {
		t.Errorf("a task heartbeating past its 3s timeout: %+v, %+v; want it to succeed after 7s", r, r.Error)
	}
	if r := wait(silent); r.Status != backends.StatusFailed {
		t.Errorf("a silent task running past its 3s timeout: %+v; want it timed out by the engine", r)
	}
}
