package temporal_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends"
)

// TestRetryKeyedTask: a task with a unique key has an id that names its
// run; a retry (Temporal's reset) makes a new run, which that id then
// follows. A task cancelled before it started is not retried (a reset
// would replay its cancellation): the error says to submit it again.
func TestRetryKeyedTask(t *testing.T) {
	ctx := context.Background()
	b, err := backends.Open(ctx, "temporal", config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	q := fmt.Sprintf("retry_%d", time.Now().UnixNano())
	if err := b.Register(ctx, backends.TaskSpec{Name: "fails_once", Queue: q, Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 2)
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{Queues: []string{q}}, backends.HandlerFunc(func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
			if runs.Add(1) == 1 {
				return nil, &backends.TaskError{Kind: abi.KindFailed, Message: "the first run fails"}
			}
			return json.RawMessage(`{"ok":true}`), nil
		}))
	}()
	workers := 1
	defer func() {
		stop()
		for range workers {
			<-done
		}
	}()
	wait := func(id string) backends.TaskResult {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r, err := b.Wait(c, id)
		if err != nil {
			t.Fatalf("Wait(%s): %v", id, err)
		}
		return r
	}
	id, err := b.Submit(ctx, "fails_once", json.RawMessage(`{}`), backends.UniqueKey(q))
	if err != nil {
		t.Fatal(err)
	}
	if r := wait(id); r.Status != backends.StatusFailed {
		t.Fatalf("the first run: %+v, want failed", r)
	}
	if err := b.Retry(ctx, id); err != nil {
		t.Fatalf("Retry(%s): %v", id, err)
	}
	if r := wait(id); r.Status != backends.StatusSucceeded || string(r.Output) != `{"ok":true}` || runs.Load() != 2 {
		t.Fatalf("the retried task %s: %+v (output %s, %d runs), want it run again and succeeded", id, r, r.Output, runs.Load())
	}
	idle, err := b.Submit(ctx, "fails_once", json.RawMessage(`{}`), backends.Queue(q+"_idle"))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Cancel(ctx, idle); err != nil {
		t.Fatal(err)
	}
	// Its workflow closes cancelled once a worker of its queue runs it.
	workers++
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{Queues: []string{q + "_idle"}}, backends.HandlerFunc(func(context.Context, *backends.Task) (json.RawMessage, error) {
			return nil, nil
		}))
	}()
	if r := wait(idle); r.Status != backends.StatusCancelled {
		t.Fatalf("a task cancelled while queued: %+v", r)
	}
	if err := b.Retry(ctx, idle); err == nil || !strings.Contains(err.Error(), "submit it again") {
		t.Errorf("Retry of a task cancelled before it started: %v, want a refusal that says to submit it again", err)
	}
}
