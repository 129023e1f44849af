package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
	tasyncq "taskhost.dev/backends/asynq"
)

// benchRedis is the Redis database the asynq and Celery benchmarks use
// (tests use 3 and up to 4; this one is flushed before each round).
const benchRedis = "redis://127.0.0.1:6379/5"

// celeryPools are the Celery worker pools measured, as celery worker
// flags.
var celeryPools = map[string][]string{
	"celery-prefork": {"--pool=prefork", "-c", "2"},
	"celery-threads": {"--pool=threads", "-c", "4"},
	"celery-solo":    {"--pool=solo"},
}

// BenchmarkAsynqEndToEnd measures, interleaved on the same Redis, the
// submit-to-result throughput of 2,000 tasks and the one-task p50
// latency of:
//
//   - asynq-native: asynq alone (client, server, a Go asynq.HandlerFunc,
//     results with ResultWriter and read with Inspector.GetTaskInfo, polled
//     every millisecond), as an asynq user writes it;
//   - native: this project's asynq backend with a Go handler;
//   - wasm: this project's asynq backend running the core plugin's add;
//   - celery-*: Debian's Python Celery with each of its pools, its own
//     client submitting and reading results back (skipped when Debian's
//     python3-celery and python3-redis are missing: make celery installs
//     them).
//
// Both tasks, add and echo, are measured on every row.
//
// Every asynq row polls at ASYNQ_TASK_CHECK_INTERVAL, default 5 ms. Run
// with:
//
//	go test ./cmd/host -run '^$' -bench BenchmarkAsynqEndToEnd -benchtime 1x
func BenchmarkAsynqEndToEnd(b *testing.B) {
	ctx := context.Background()
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
	impls := []string{"asynq-native", "native", "wasm"}
	if err := exec.Command("/usr/bin/python3", "-c", "import celery, redis").Run(); err == nil {
		impls = append(impls, "celery-prefork", "celery-threads", "celery-solo")
	} else {
		b.Log("Debian's Celery is not installed (make celery): its rounds are skipped")
	}
	rates := map[string][]float64{} // "task/impl": tasks/s, round by round
	for round := range rounds {
		for _, task := range []string{"add", "echo"} {
			for _, impl := range alternate(impls, round, "native", "wasm") {
				b.Run(task+"/"+impl, func(b *testing.B) {
					if err := rc.FlushDB(ctx).Err(); err != nil {
						b.Fatal(err)
					}
					var rate, p50 float64
					switch impl {
					case "asynq-native":
						rate, p50 = benchPlainAsynq(b, opt, task)
					case "native", "wasm":
						rate, p50 = benchAsynqBackend(b, benchHandler(h, impl), task)
					default:
						rate, p50 = benchCelery(b, celeryPools[impl], task)
					}
					rates[task+"/"+impl] = append(rates[task+"/"+impl], rate)
					b.ReportMetric(rate, "tasks/s")
					b.ReportMetric(p50, "p50-ms")
				})
			}
		}
	}
	for _, task := range []string{"add", "echo"} {
		logRatios(b, task+": wasm / native", rates[task+"/wasm"], rates[task+"/native"])
		logRatios(b, task+": wasm / asynq alone", rates[task+"/wasm"], rates[task+"/asynq-native"])
		if len(impls) > 3 {
			best := make([]float64, rounds)
			for _, impl := range impls[3:] {
				for i, r := range rates[task+"/"+impl] {
					best[i] = max(best[i], r)
				}
			}
			logRatios(b, task+": wasm / Celery's best pool", rates[task+"/wasm"], best)
		}
	}
}

// benchAsynqBackend runs the batch and the latency series through this
// project's asynq backend with hd as the worker's handler.
func benchAsynqBackend(b *testing.B, hd backends.Handler, task string) (rate, p50 float64) {
	ctx := context.Background()
	be, err := backends.Open(ctx, tasyncq.Engine, backends.Config{URL: benchRedis})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	be.Register(ctx, backends.TaskSpec{Name: task, Queue: "bench", MaxRetries: 0, Timeout: time.Minute})
	defer benchWorker(b, be, "bench", hd, task)()
	b.ResetTimer()
	for range b.N {
		rate = runBatch(b, be, task, 2000)
	}
	b.StopTimer()
	return rate, oneTaskP50(b, be, task, 200)
}

// benchPlainAsynq is the same work on asynq alone.
func benchPlainAsynq(b *testing.B, opt *redis.Options, task string) (rate, p50 float64) {
	ctx := context.Background()
	ro := asynq.RedisClientOpt{Addr: opt.Addr, DB: opt.DB}
	client := asynq.NewClient(ro)
	defer client.Close()
	insp := asynq.NewInspector(ro)
	defer insp.Close()
	check := tasyncq.DefaultTaskCheckInterval
	if d, err := time.ParseDuration(os.Getenv("ASYNQ_TASK_CHECK_INTERVAL")); err == nil {
		check = d // as the backend does
	}
	srv := asynq.NewServer(ro, asynq.Config{Concurrency: 32, Queues: map[string]int{"bench": 1},
		TaskCheckInterval: check, LogLevel: asynq.WarnLevel})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
		out, err := nativeHandler(ctx, &backends.Task{Name: t.Type(), Input: t.Payload()})
		if err != nil {
			return fmt.Errorf("%v: %w", err, asynq.SkipRetry)
		}
		_, err = t.ResultWriter().Write(out)
		return err
	})); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown()
	submit := func(i int) (string, error) {
		info, err := client.EnqueueContext(ctx, asynq.NewTask(task, fmt.Appendf(nil, `{"a":%d,"b":1}`, i)),
			asynq.Queue("bench"), asynq.MaxRetry(0), asynq.Timeout(time.Minute), asynq.Retention(time.Hour))
		if err != nil {
			return "", err
		}
		return info.ID, nil
	}
	wait := func(id string) error {
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			info, err := insp.GetTaskInfo("bench", id)
			if err != nil {
				return err
			}
			switch info.State {
			case asynq.TaskStateCompleted:
				return nil
			case asynq.TaskStateArchived:
				return fmt.Errorf("task %s failed: %s", id, info.LastErr)
			}
			time.Sleep(time.Millisecond)
		}
		return fmt.Errorf("task %s: no result within 2 minutes", id)
	}
	batch := func(n int) float64 {
		start := time.Now()
		ids := make([]string, n)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := g; i < n; i += 8 {
					id, err := submit(i)
					if err != nil {
						b.Error(err)
						return
					}
					ids[i] = id
				}
			})
		}
		wg.Wait()
		for _, id := range ids {
			if err := wait(id); err != nil {
				b.Fatal(err)
			}
		}
		return float64(n) / time.Since(start).Seconds()
	}
	batch(50)
	b.ResetTimer()
	for range b.N {
		rate = batch(2000)
	}
	b.StopTimer()
	return rate, latencyP50(b, 200, func() error {
		id, err := submit(1)
		if err == nil {
			err = wait(id)
		}
		return err
	})
}

// benchCelery starts a Celery worker with the given pool flags and runs
// testdata/celery/client.py, Celery's own client, for the same series.
func benchCelery(b *testing.B, pool []string, task string) (rate, p50 float64) {
	defer startCeleryWorker(b, pool)()
	return celeryClient(b, task)
}

// startCeleryWorker starts a Python Celery worker on testdata/celery's
// tasks with the given pool flags, and returns the function that stops it.
func startCeleryWorker(b *testing.B, pool []string) (stop func()) {
	dir, _ := filepath.Abs(filepath.Join("testdata", "celery"))
	args := append([]string{"-m", "celery", "-A", "tasks", "worker", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"}, pool...)
	worker := exec.Command("/usr/bin/python3", args...)
	worker.Dir, worker.Env = dir, append(os.Environ(), "CELERY_BENCH_REDIS="+benchRedis, "PYTHONPATH="+dir)
	var wlog bytes.Buffer
	worker.Stdout, worker.Stderr = &wlog, &wlog
	if err := worker.Start(); err != nil {
		b.Fatal(err)
	}
	return func() {
		worker.Process.Signal(os.Interrupt)
		t := time.AfterFunc(10*time.Second, func() { worker.Process.Kill() })
		worker.Wait()
		t.Stop()
		if b.Failed() {
			b.Logf("celery worker's log:\n%s", wlog.String())
		}
	}
}

// celeryClient runs testdata/celery/client.py, Celery's own client: 2,000
// tasks submitted and read back, then 200 one after another.
func celeryClient(b *testing.B, task string) (rate, p50 float64) {
	dir, _ := filepath.Abs(filepath.Join("testdata", "celery"))
	var res struct {
		Rate float64 `json:"tasks_per_s"`
		P50  float64 `json:"p50_ms"`
	}
	for range b.N {
		client := exec.Command("/usr/bin/python3", "client.py", task, "2000", "200")
		client.Dir, client.Env = dir, append(os.Environ(), "CELERY_BENCH_REDIS="+benchRedis, "PYTHONPATH="+dir)
		var stderr bytes.Buffer
		client.Stderr = &stderr
		out, err := client.Output()
		if err != nil {
			b.Fatalf("celery client: %v\n%s%s", err, out, stderr.String())
		}
		if err := json.Unmarshal(out, &res); err != nil {
			b.Fatalf("celery client printed %q: %v", out, err)
		}
	}
	return res.Rate, res.P50
}
