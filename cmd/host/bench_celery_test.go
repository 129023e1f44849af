package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
	tcelery "taskhost.dev/backends/celery"
)

// BenchmarkCeleryWire measures, interleaved on the same Redis, workers
// serving Celery's own Python client (testdata/celery/client.py):
//
//   - tasks/s: 2,000 tasks that the client sent to a queue no worker serves
//     are moved at once (RENAME) to the worker's queue; the time runs from
//     the move to the last result published (counted on a pattern
//     subscription to celery-task-meta-*), so that the client's own speed
//     (300-900 tasks sent/s) does not cap the figure; the client then reads
//     every result back and checks it;
//   - p50-ms: 200 single tasks one after another, sent and read by the
//     client.
//
// The workers:
//
//   - wasm: this project's worker on the celery backend running the core
//     plugin's task;
//   - native: the same worker with a Go handler;
//   - celery-prefork, celery-threads: Debian's Python Celery worker.
//
// Both tasks, add and echo, are measured on every row. Needs Debian's
// python3-celery (make celery). Run with:
//
//	go test ./cmd/host -run '^$' -bench BenchmarkCeleryWire -benchtime 1x
func BenchmarkCeleryWire(b *testing.B) {
	ctx := context.Background()
	if err := exec.Command("/usr/bin/python3", "-c", "import celery, redis").Run(); err != nil {
		b.Skipf("Debian's Celery is not installed (make celery): %v", err)
	}
	h, rounds := benchHost(b)
	opt, err := redis.ParseURL(benchRedis)
	if err != nil {
		b.Fatal(err)
	}
	rc := redis.NewClient(opt)
	defer rc.Close()
	if err := rc.Ping(ctx).Err(); err != nil {
		b.Skipf("no Redis at %s: %v", benchRedis, err)
	}
	for range rounds {
		for _, task := range []string{"add", "echo"} {
			for _, impl := range []string{"wasm", "native", "celery-prefork", "celery-threads"} {
				b.Run(task+"/"+impl, func(b *testing.B) {
					if err := rc.FlushDB(ctx).Err(); err != nil {
						b.Fatal(err)
					}
					if impl == "wasm" || impl == "native" {
						defer ourCeleryWorker(b, benchHandler(h, impl))()
					} else {
						defer startCeleryWorker(b, celeryPools[impl])()
					}
					runPython(b, "", "client.py", task, "1", "0") // the worker is up
					var rate float64
					for range b.N {
						rate = drainRate(b, rc, task, 2000)
					}
					b.ReportMetric(rate, "tasks/s")
					b.ReportMetric(celeryP50(b, task), "p50-ms")
				})
			}
		}
	}
}

// drainRate stages n tasks with the Python client, moves them to the
// worker's queue at once and returns tasks/s until the last result.
func drainRate(b *testing.B, rc *redis.Client, task string, n int) float64 {
	ctx := context.Background()
	ids := runPython(b, "", "client.py", "stage", task, strconv.Itoa(n), "staged")
	sub := rc.PSubscribe(ctx, "celery-task-meta-*")
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		b.Fatal(err)
	}
	done := map[string]bool{}
	start := time.Now()
	if err := rc.Rename(ctx, "staged", "celery").Err(); err != nil {
		b.Fatal(err)
	}
	timeout := time.After(2 * time.Minute)
	for len(done) < n {
		select {
		case m := <-sub.Channel():
			var meta struct {
				Status string
				TaskID string `json:"task_id"`
			}
			json.Unmarshal([]byte(m.Payload), &meta)
			switch meta.Status {
			case "SUCCESS":
				done[meta.TaskID] = true
			case "FAILURE":
				b.Fatalf("a task failed: %s", m.Payload)
			}
		case <-timeout:
			b.Fatalf("%d of %d tasks done after two minutes", len(done), n)
		}
	}
	rate := float64(n) / time.Since(start).Seconds()
	runPython(b, ids, "client.py", "verify", task)
	return rate
}

// celeryP50 is the client's one-task latency, 200 tasks one after another.
func celeryP50(b *testing.B, task string) float64 {
	var res struct {
		P50 float64 `json:"p50_ms"`
	}
	if err := json.Unmarshal([]byte(runPython(b, "", "client.py", task, "0", "200")), &res); err != nil {
		b.Fatal(err)
	}
	return res.P50
}

// runPython runs a script of testdata/celery with Debian's Python and
// returns its standard output.
func runPython(b *testing.B, stdin string, args ...string) string {
	dir, _ := filepath.Abs(filepath.Join("testdata", "celery"))
	cmd := exec.Command("/usr/bin/python3", args...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "CELERY_BENCH_REDIS="+benchRedis, "PYTHONPATH="+dir)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b.Fatalf("python3 %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// ourCeleryWorker runs this project's worker on the celery backend, on
// Celery's default queue, and returns the function that stops it.
func ourCeleryWorker(b *testing.B, hd backends.Handler) (stop func()) {
	be, err := backends.Open(context.Background(), tcelery.Engine, backends.Config{URL: benchRedis})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	be.Register(ctx, backends.TaskSpec{Name: "add", Timeout: time.Minute}, backends.TaskSpec{Name: "echo", Timeout: time.Minute})
	done := make(chan error, 1)
	go func() { done <- be.Work(ctx, backends.WorkerOptions{Concurrency: 32}, hd) }()
	return func() { cancel(); <-done; be.Close() }
}
