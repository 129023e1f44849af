package backendtest

import (
	"context"
	"testing"
	"time"

	"taskhost.dev/backends"
)

// testInspect: listing by state, queue and task with paging, retrying a
// failed task, purging a queue, and counting a queue's tasks (issue 17).
func testInspect(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	ctx := context.Background()
	idle := e.queue + "_idle"
	h := newHandler()
	e.work(h, backends.WorkerOptions{})
	var done []string
	for range 3 {
		done = append(done, e.submit("bt_echo", `{}`))
	}
	failed := e.submit("bt_fail", `{}`)
	waiting := []string{e.submit("bt_echo", `{}`, backends.Queue(idle)), e.submit("bt_echo", `{}`, backends.Queue(idle))}
	for _, id := range append(done, failed) {
		e.wait(id, 30*time.Second)
	}
	page, err := e.b.List(ctx, backends.ListFilter{Queue: e.queue, States: []backends.Status{backends.StatusFailed}})
	unsupported(t, err)
	if err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != failed {
		t.Fatalf("List(failed on %s) = %+v, %v; want task %s alone", e.queue, page, err, failed)
	}
	page, err = e.b.List(ctx, backends.ListFilter{Queue: idle})
	if err != nil || len(page.Tasks) != 2 || page.Tasks[0].Status != backends.StatusPending {
		t.Fatalf("List(queue %s) = %+v, %v; want the two pending tasks", idle, page, err)
	}
	// Newest first, two a page.
	first, err := e.b.List(ctx, backends.ListFilter{Queue: e.queue, Task: "bt_echo", Limit: 2})
	if err != nil || len(first.Tasks) != 2 || first.Next == "" || first.Tasks[0].ID != done[2] {
		t.Fatalf("List(bt_echo, limit 2) = %+v, %v; want %s first and a next page", first, err, done[2])
	}
	second, err := e.b.List(ctx, backends.ListFilter{Queue: e.queue, Task: "bt_echo", Limit: 2, Cursor: first.Next})
	if err != nil || len(second.Tasks) != 1 || second.Tasks[0].ID != done[0] || second.Next != "" {
		t.Fatalf("the second page = %+v, %v; want %s alone and no further page", second, err, done[0])
	}
	if err := e.b.Retry(ctx, done[0]); err == nil {
		t.Error("Retry of a task that succeeded was accepted")
	}
	if err := e.b.Retry(ctx, failed); err != nil {
		t.Fatalf("Retry of a failed task: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for h.count(failed) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.count(failed); n != 2 {
		t.Errorf("a retried failed task ran %d times, want twice", n)
	}
	n, err := e.b.Purge(ctx, idle)
	if err != nil || n != 2 {
		t.Errorf("Purge(%s) = %d, %v; want the two waiting tasks deleted", idle, n, err)
	}
	for _, id := range waiting {
		if r, err := e.b.Result(ctx, id); err == nil && r.Status == backends.StatusPending {
			t.Errorf("task %s still pending after its queue was purged", id)
		}
	}
	stats, err := e.b.QueueStats(ctx)
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	for _, s := range stats {
		if s.Queue == e.queue {
			if s.Succeeded < 3 || s.Failed+s.Retrying+s.Running+s.Pending < 1 {
				t.Errorf("stats of %s: %+v; want 3 succeeded and the failed one counted", e.queue, s)
			}
			if s.Workers == 0 {
				t.Errorf("stats of %s: %+v; a worker serves it", e.queue, s)
			}
			if n, known, err := e.b.Workers(ctx, e.queue); known && (err != nil || n < 1) {
				t.Errorf("Workers(%s) = %d, %v; a worker serves it", e.queue, n, err)
			}
			if n, known, err := e.b.Workers(ctx, idle); known && (err != nil || n != 0) {
				t.Errorf("Workers(%s) = %d, %v; no worker serves it", idle, n, err)
			}
			return
		}
	}
	t.Errorf("QueueStats lists no %s: %+v", e.queue, stats)
}

// testProgress: a task's progress, where the engine stores it, is returned
// by Result while the task runs.
func testProgress(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	h := newHandler()
	h.release, h.noProgress = make(chan struct{}), make(chan struct{})
	e.work(h, backends.WorkerOptions{})
	id := e.submit("bt_progress", `{}`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-h.noProgress:
			t.Skipf("%s stores no progress (Task.Progress is nil)", engine)
		default:
		}
		r, err := e.b.Result(context.Background(), id)
		if err == nil && r.Progress != nil {
			if r.Progress.Percent != 50 || r.Progress.Message != "half way" {
				t.Errorf("progress %+v, want 50%% half way", *r.Progress)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no progress seen within 30 s: %+v, %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(h.release)
	if r := e.wait(id, 30*time.Second); r.Status != backends.StatusSucceeded {
		t.Errorf("the task after its progress: %+v", r)
	}
}
