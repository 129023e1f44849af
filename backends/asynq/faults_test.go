package asynq_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
)

// ownRedis starts a redis-server of the test's own on a free loopback
// port, with the DEBUG command enabled (the machine's Redis is never
// stalled), and returns its address.
func ownRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server to start a Redis of the test's own")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", t.TempDir(), "--enable-debug-command", "local")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	rc := redis.NewClient(&redis.Options{Addr: addr})
	defer rc.Close()
	for i := 0; rc.Ping(context.Background()).Err() != nil; i++ {
		if i == 100 {
			t.Fatalf("redis-server did not answer on %s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return addr
}

// TestOutcomeSurvivesStalledRedis: a task whose run succeeded ends
// succeeded, not failed, while Redis stalls for longer than the client's
// read timeout (DEBUG SLEEP 4), also between a run and the write of its
// result, with no retries to spare (max_retries 0; issue 19); and a task
// whose dequeue a stall cut runs, once, rather than ending failed with
// "task lease expired" without having run.
func TestOutcomeSurvivesStalledRedis(t *testing.T) {
	addr := ownRedis(t)
	ctx := context.Background()
	c, err := backends.Open(ctx, "asynq", backends.Config{URL: "redis://" + addr + "/0"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Register(ctx, backends.TaskSpec{Name: "ft", Queue: "faults", MaxRetries: 0}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	runs := map[string]int{}
	stalls := make(chan struct{}, 8)
	h := backends.HandlerFunc(func(ctx context.Context, task *backends.Task) (json.RawMessage, error) {
		mu.Lock()
		runs[task.ID]++
		mu.Unlock()
		var in struct{ Stall bool }
		json.Unmarshal(task.Input, &in)
		if in.Stall {
			stalls <- struct{}{} // Redis stalls as this run ends
		}
		time.Sleep(5 * time.Millisecond)
		return task.Input, nil
	})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Work(wctx, backends.WorkerOptions{Concurrency: 4}, h) }()
	defer func() { stop(); <-done }()
	admin := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 10 * time.Second})
	defer admin.Close()
	stalled := make(chan struct{})
	go func() {
		defer close(stalled)
		for range 3 {
			select {
			case <-stalls:
			case <-time.After(time.Minute):
				return
			}
			if err := admin.Do(ctx, "DEBUG", "SLEEP", "4").Err(); err != nil {
				t.Errorf("DEBUG SLEEP: %v", err)
			}
		}
	}()
	var ids []string
	for i := range 60 {
		in := fmt.Sprintf(`{"i":%d,"stall":%v}`, i, i%20 == 5)
		var id string
		for try := 0; ; try++ { // the client's own calls time out in a stall too
			if id, err = c.Submit(ctx, "ft", json.RawMessage(in)); err == nil || try == 20 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("Submit: %v", err)
		}
		ids = append(ids, id)
	}
	// A task whose dequeue the stall cut (it moved to asynq's active list,
	// but its worker never learned it) runs once asynq's recoverer finds
	// its lease expired: 30 s, then up to a minute.
	for _, id := range ids {
		var r backends.TaskResult
		deadline := time.Now().Add(3 * time.Minute)
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
	<-stalled
}
