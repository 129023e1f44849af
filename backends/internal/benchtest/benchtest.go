// Package benchtest holds the end-to-end benchmarks the Redis drivers
// (asynq, Celery) run on their engine: a task submitted, run by a Go
// handler in the same process, and waited for.
package benchtest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"taskhost.dev/backends"
)

// echo returns its input.
var echo = backends.HandlerFunc(func(_ context.Context, t *backends.Task) (json.RawMessage, error) { return t.Input, nil })

// start opens engine with a worker of concurrency on a queue of its own.
func start(b *testing.B, engine string, cfg backends.Config, concurrency int) *backends.Client {
	ctx := context.Background()
	c, err := backends.Open(ctx, engine, cfg)
	if err != nil {
		b.Fatal(err)
	}
	q := fmt.Sprintf("bench_%d", time.Now().UnixNano())
	if err := c.Register(ctx, backends.TaskSpec{Name: "bench_echo", Queue: q}); err != nil {
		b.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Work(wctx, backends.WorkerOptions{Concurrency: concurrency}, echo) }()
	b.Cleanup(func() { stop(); <-done; c.Close() })
	return c
}

func roundTrip(b *testing.B, c *backends.Client) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id, err := c.Submit(ctx, "bench_echo", json.RawMessage(`{"a":1}`))
	if err != nil {
		b.Fatal(err)
	}
	if r, err := c.Wait(ctx, id); err != nil || r.Status != backends.StatusSucceeded {
		b.Fatalf("Wait(%s) = %+v, %v", id, r, err)
	}
}

// RoundTrip measures one task at a time: Submit, the worker's run, Wait.
func RoundTrip(b *testing.B, engine string, cfg backends.Config) {
	c := start(b, engine, cfg, 4)
	roundTrip(b, c) // the worker and the waiters' subscription are up
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		roundTrip(b, c)
	}
}

// Parallel measures round trips from GOMAXPROCS*4 goroutines at once on a
// worker of concurrency 16: throughput.
func Parallel(b *testing.B, engine string, cfg backends.Config) {
	c := start(b, engine, cfg, 16)
	roundTrip(b, c)
	b.ReportAllocs()
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			roundTrip(b, c)
		}
	})
}
