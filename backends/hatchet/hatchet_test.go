package hatchet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	"taskhost.dev/backends/hatchet"
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
func open(t *testing.T, prefix string, tasks ...backends.TaskSpec) (*backends.Client, string) {
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
	if err := b.Register(context.Background(), tasks...); err != nil {
		t.Fatal(err)
	}
	return b, q
}

// work runs a worker on queue q (all the registered tasks' queues when
// empty) with h until the test ends.
func work(t *testing.T, b *backends.Client, q string, h backends.HandlerFunc) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var qs []string
	if q != "" {
		qs = []string{q}
	}
	go func() { done <- b.Work(ctx, backends.WorkerOptions{Queues: qs}, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
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
	if err := b.Register(ctx, backends.TaskSpec{Name: "late", Queue: q}); err != nil {
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

// TestPing: the health probe's call reaches the engine: with the engine's
// address wrong, it fails.
func TestPing(t *testing.T) {
	b, _ := open(t, "ping")
	if err := b.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	bad, err := backends.Open(context.Background(), "hatchet", backends.Config{URL: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := bad.Ping(ctx); err == nil {
		t.Error("Ping of an engine at 127.0.0.1:1 succeeded")
	}
}

// TestTasksChangedHonoursCtx: a Register while a worker runs returns with
// its context's error when that ends before the engine has the new
// registration; the next Register, with time to spare, registers again
// (the worker then serves the task), and the worker stops promptly: no
// registration holds what the drain needs.
func TestTasksChangedHonoursCtx(t *testing.T) {
	ctx := context.Background()
	b, q := open(t, "ctx", backends.TaskSpec{Name: "first"})
	stop := work(t, b, q, func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
		return json.Marshal(map[string]string{"ran": t.Name})
	})
	wctx, c := context.WithTimeout(ctx, time.Minute)
	defer c()
	// The worker serves "first": its registration is done.
	id, err := b.Submit(ctx, "first", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.Wait(wctx, id); err != nil || r.Status != backends.StatusSucceeded {
		t.Fatalf("first: %+v, %v", r, err)
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	start := time.Now()
	err = b.Register(short, backends.TaskSpec{Name: "second", Queue: q})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Register with a 1ms context: %v; want its deadline error", err)
	}
	// Generous for a loaded 2-core machine: the point is not 30 s.
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Register with a 1ms context returned after %s", took)
	}
	if err := b.Register(ctx, backends.TaskSpec{Name: "second", Queue: q}); err != nil {
		t.Fatal(err)
	}
	id, err = b.Submit(ctx, "second", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.Wait(wctx, id); err != nil || r.Status != backends.StatusSucceeded || string(r.Output) != `{"ran":"second"}` {
		t.Fatalf("the task registered again after an abandoned registration: %+v (output %s), %v", r, r.Output, err)
	}
	start = time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Work: %v", err)
	}
	// Generous again; the old registration's wait was up to 30 s.
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("the worker took %s to stop", took)
	}
}

// TestCancelledDelayedTaskFiredLate: the engine's ticker loads the
// schedules due in the next seconds ahead of time, and may start one that
// Cancel deleted since. The worker then finds the task's tombstone and
// cancels the run instead of running the task.
func TestCancelledDelayedTaskFiredLate(t *testing.T) {
	ctx := context.Background()
	b, q := open(t, "fired_late", backends.TaskSpec{Name: "fired_late"})
	var mu sync.Mutex
	ran := map[string]int{}
	work(t, b, q, func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
		mu.Lock()
		ran[string(t.Input)]++
		mu.Unlock()
		return t.Input, nil
	})
	id, err := b.Submit(ctx, "fired_late", json.RawMessage(`{"n":"cancelled"}`), backends.Delay(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := hatchet.Tombstone(ctx, id); err != nil {
		t.Fatal(err)
	}
	// Past the cancelled task's time, with the worker serving its queue.
	probe, err := b.Submit(ctx, "fired_late", json.RawMessage(`{"n":"probe"}`), backends.Delay(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if r, err := b.Wait(wctx, probe); err != nil || r.Status != backends.StatusSucceeded {
		t.Fatalf("the probe: %+v, %v", r, err)
	}
	if r, err := b.Wait(wctx, id); err != nil || r.Status != backends.StatusCancelled {
		t.Errorf("a cancelled delayed task whose schedule fired: %+v, %v; want cancelled", r, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := ran[`{"n":"cancelled"}`]; n != 0 {
		t.Errorf("a cancelled delayed task whose schedule fired ran %d times, want never", n)
	}
}
