// Package redisflowtest holds the tests the Redis drivers (asynq, Celery)
// run on their redisflow.Store with a real fault injected; a driver's test
// calls them with its engine and its Redis.
package redisflowtest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
	"taskhost.dev/internal/jsontest"
)

// AdvanceFault checks that a step whose workflow bookkeeping fails runs
// again promptly, without spending a retry, and that the workflow then
// succeeds with the step counted once. The fault is real: while the step
// runs, the workflow's hash (flowKey of its id, in rc) is replaced by a
// string, so that the runner's StepDone fails with Redis's WRONGTYPE; the
// step's second run puts the hash back.
func AdvanceFault(t *testing.T, engine string, cfg backends.Config, rc *redis.Client, flowKey func(id string) string) {
	ctx := context.Background()
	c, err := backends.Open(ctx, engine, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	q := fmt.Sprintf("fault_%d", time.Now().UnixNano())
	// No retries: a rerun that spent one would fail the step for good.
	if err := c.Register(ctx, backends.TaskSpec{Name: "fx_step", Queue: q}, backends.TaskSpec{Name: "fx_echo", Queue: q}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var runs, attempts []int
	var returned, rerun time.Time
	var dump string
	var ttl time.Duration
	restored := make(chan struct{}) // closed once the rerun put the hash back
	h := backends.HandlerFunc(func(ctx context.Context, task *backends.Task) (json.RawMessage, error) {
		if task.Name == "fx_echo" {
			return task.Input, nil
		}
		mu.Lock()
		defer mu.Unlock()
		key := flowKey(task.Flow.ID)
		runs, attempts = append(runs, len(runs)+1), append(attempts, task.Attempt)
		switch len(runs) {
		case 1:
			d, err := rc.Dump(ctx, key).Result()
			if err != nil {
				return nil, fmt.Errorf("reading the workflow's hash %s: %w", key, err)
			}
			dump, ttl = d, rc.PTTL(ctx, key).Val()
			if err := rc.Set(ctx, key, "not a hash", 0).Err(); err != nil {
				return nil, err
			}
			returned = time.Now()
		case 2:
			rerun = time.Now()
			if err := rc.RestoreReplace(ctx, key, ttl, dump).Err(); err != nil {
				return nil, fmt.Errorf("putting the workflow's hash %s back: %w", key, err)
			}
			close(restored)
		}
		return json.RawMessage(`{"step":"done"}`), nil
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Work(wctx, backends.WorkerOptions{Queues: []string{q}, Concurrency: 2}, h) }()
	t.Cleanup(func() { stop(); <-done })

	wf := backends.NewWorkflow("fault").Then("fx_step").Then("fx_echo", `{"after":true}`)
	id, err := c.SubmitWorkflow(ctx, *wf, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	// The workflow is read only once its hash is back: while the fault
	// lasts, reading it fails with WRONGTYPE, as it should.
	select {
	case <-restored:
	case <-time.After(time.Minute):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("the step whose bookkeeping failed did not run again within a minute (it ran %d times)", len(runs))
	}
	wait, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	r, err := c.WaitWorkflow(wait, id)
	mu.Lock()
	defer mu.Unlock()
	if err != nil {
		t.Fatalf("WaitWorkflow: %v (last seen %+v; the faulted step ran %d times)", err, r, len(runs))
	}
	if r.Status != backends.StatusSucceeded || !jsontest.Equal(r.Output, `{"step":"done","after":true}`) {
		t.Fatalf("workflow %+v (output %s, error %+v), want it succeeded past the fault", r, r.Output, r.Error)
	}
	if len(runs) != 2 || attempts[1] != 1 {
		t.Errorf("the faulted step ran %d times, as attempts %v; want twice, the rerun still attempt 1 (no retry spent)", len(runs), attempts)
	}
	// The rerun follows driver.RetryDelay(0), a second; the margin is for
	// a loaded machine. Without the fix the delivery sat until the
	// visibility timeout, or for ever.
	if gap := rerun.Sub(returned); gap > 10*time.Second {
		t.Errorf("the step ran again %s after its bookkeeping failed, want within a few seconds", gap)
	}
	if n, err := rc.HGet(ctx, flowKey(id), "pending:0").Int(); err != nil || n != 0 {
		t.Errorf("stage 1's pending count: %d, %v; want 0 (its step counted once)", n, err)
	}
	if s := r.Steps[0]; s.Status != backends.StatusSucceeded || !jsontest.Equal(s.Output, `{"step":"done"}`) {
		t.Errorf("the faulted step's result: %+v", s)
	}
}
