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

// open opens the backend for a test on a queue of its own, named after
// prefix, with tasks registered there.
func open(t *testing.T, prefix string, tasks ...backends.TaskSpec) (backends.Backend, string) {
	t.Helper()
	engine(t)
	b, err := backends.Open(context.Background(), "hatchet", backends.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	q := fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano())
	for i := range tasks {
		tasks[i].Queue = q
	}
	if err := b.Register(tasks...); err != nil {
		t.Fatal(err)
	}
	return b, q
}

// work runs a worker on queue q (all the registered tasks' queues when
// empty) with h until the test ends.
func work(t *testing.T, b backends.Backend, q string, h backends.HandlerFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var qs []string
	if q != "" {
		qs = []string{q}
	}
	go func() { done <- b.Work(ctx, backends.WorkerOptions{Queues: qs}, h) }()
	t.Cleanup(func() { cancel(); <-done })
}

// TestTaskRegisteredWhileWorking: a task registered after the worker
// started (a .wasm dropped in) is served: the worker registers again with
// the engine, as Hatchet adds no workflows to a started worker.
func TestTaskRegisteredWhileWorking(t *testing.T) {
	ctx := context.Background()
	b, q := open(t, "late", backends.TaskSpec{Name: "early"})
	work(t, b, q, func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
		return json.Marshal(map[string]string{"ran": t.Name})
	})
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
	ctx := context.Background()
	b, _ := open(t, "beat", backends.TaskSpec{Name: "beating", Timeout: 3 * time.Second}, backends.TaskSpec{Name: "silent", Timeout: 3 * time.Second})
	work(t, b, "", func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
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
	})
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

// TestPing: the health probe's call reaches the engine.
func TestPing(t *testing.T) {
	b, _ := open(t, "ping")
	p, ok := b.(backends.Pinger)
	if !ok {
		t.Fatal("the hatchet backend is not a backends.Pinger")
	}
	if err := p.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
}
