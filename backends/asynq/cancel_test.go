package asynq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"taskhost.dev/backends"
)

// TestCancelledTaskArchived: a task cancelled while it runs ends archived
// in asynq (not waiting for a retry), and Retry runs it again to success.
func TestCancelledTaskArchived(t *testing.T) {
	ctx := context.Background()
	b, err := backends.Open(ctx, "asynq", backends.Config{URL: redisURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	queue := fmt.Sprintf("cancel_%d", time.Now().UnixNano())
	if err := b.Register(ctx, backends.TaskSpec{Name: "hold", Queue: queue, MaxRetries: 3}); err != nil {
		t.Fatal(err)
	}
	started := make(chan int, 2)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{Queues: []string{queue}}, backends.HandlerFunc(func(ctx context.Context, task *backends.Task) (json.RawMessage, error) {
			started <- task.Attempt
			if task.Attempt > 1 { // run again by Retry
				return json.RawMessage(`{"again":true}`), nil
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}))
	}()
	defer func() { cancel(); <-done }()
	id, err := b.Submit(ctx, "hold", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the task did not start within 30 s")
	}
	if err := b.Cancel(ctx, id); err != nil {
		t.Fatal(err)
	}
	wait := func() backends.TaskResult {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		r, err := b.Wait(wctx, id)
		if err != nil {
			t.Fatalf("Wait(%s): %v", id, err)
		}
		return r
	}
	if r := wait(); r.Status != backends.StatusCancelled || r.Error == nil || r.Error.Kind != "cancelled" || r.Attempts != 1 {
		t.Fatalf("a task cancelled while running: %+v (error %+v); want cancelled after one attempt", r, r.Error)
	}
	opt, err := asynq.ParseRedisURI(redisURL())
	if err != nil {
		t.Fatal(err)
	}
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	q, tid, _ := strings.Cut(id, "/")
	// The worker archives it a moment after recording it cancelled.
	var info *asynq.TaskInfo
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if info, err = insp.GetTaskInfo(q, tid); err != nil {
			t.Fatal(err)
		}
		if info.State == asynq.TaskStateArchived || time.Now().After(deadline) {
			break
		}
	}
	if info.State != asynq.TaskStateArchived {
		t.Fatalf("asynq holds the cancelled task as %s, want archived", info.State)
	}
	if err := b.Cancel(ctx, id); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Errorf("Cancel of a cancelled task: %v, want ErrFinished saying cancelled", err)
	}
	if err := b.Retry(ctx, id); err != nil {
		t.Fatalf("Retry of a cancelled task: %v", err)
	}
	if r := wait(); r.Status != backends.StatusSucceeded || string(r.Output) != `{"again":true}` {
		t.Errorf("a cancelled task retried: %+v, want it run again to success", r)
	}
}
