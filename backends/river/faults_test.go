package river_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"taskhost.dev/backends"
	"taskhost.dev/internal/testdb"
)

// TestOutcomeSurvivesDroppedConnections: a task whose plugin succeeded is
// recorded as succeeded, not failed, while every connection to the
// database is terminated again and again, also between a run and the write
// of its outcome (issue 19), with no retries to spare (max_retries 0).
func TestOutcomeSurvivesDroppedConnections(t *testing.T) {
	const db = "taskhost_river_faults"
	url := testdb.Fresh(t, db)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testdb.Admin())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var mu sync.Mutex
	kill := func() {
		mu.Lock()
		defer mu.Unlock()
		if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, db); err != nil {
			t.Errorf("terminating the connections: %v", err)
		}
	}
	c, err := backends.Open(ctx, "river", backends.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Register(ctx, backends.TaskSpec{Name: "ft", Queue: "faults", MaxRetries: 0}); err != nil {
		t.Fatal(err)
	}
	runs := map[string]int{}
	h := backends.HandlerFunc(func(ctx context.Context, task *backends.Task) (json.RawMessage, error) {
		mu.Lock()
		runs[task.ID]++
		mu.Unlock()
		if strings.Contains(string(task.Input), `"kill":true`) {
			kill()
		}
		time.Sleep(time.Millisecond) // a run takes a moment, as a plugin's does
		return task.Input, nil
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Work(wctx, backends.WorkerOptions{Concurrency: 4}, h) }()
	defer func() { stop(); <-done }()
	// Connections are terminated every 150 ms meanwhile, so that some end
	// in the middle of a completing transaction.
	killing, stopKilling := context.WithCancel(ctx)
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for killing.Err() == nil {
			time.Sleep(150 * time.Millisecond)
			kill()
		}
	}()
	var ids []string
	for i := range 80 {
		in := fmt.Sprintf(`{"i":%d,"kill":%v}`, i, i%8 == 3)
		var id string
		for try := 0; ; try++ { // the client's own connections die too
			if id, err = c.Submit(ctx, "ft", json.RawMessage(in)); err == nil || try == 20 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		ids = append(ids, id)
	}
	for _, id := range ids {
		if t.Failed() {
			break
		}
		var r backends.TaskResult
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			wc, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, err = c.Wait(wc, id)
			cancel()
			if err == nil {
				break
			}
		}
		if err != nil || r.Status != backends.StatusSucceeded {
			t.Errorf("task %s: %+v, %v; want succeeded (its run happened)", id, r, err)
		}
		mu.Lock()
		n := runs[id]
		mu.Unlock()
		if n != 1 {
			t.Errorf("task %s ran %d times, want once", id, n)
		}
	}
	stopKilling()
	<-killed
}
