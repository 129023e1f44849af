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
