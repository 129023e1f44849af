package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/host"
	"taskhost.dev/internal/testdb"
	"taskhost.dev/internal/testplugins"
	_ "taskhost.dev/plugins/core/basic_operations/tasks"
	"taskhost.dev/sdk"
	"taskhost.dev/worker"
)

// benchEngines are the River databases the end-to-end benchmarks run on.
func benchEngines(b *testing.B) map[string]string {
	return map[string]string{
		"sqlite":   filepath.Join(b.TempDir(), "bench.db"),
		"postgres": testdb.Fresh(b, "taskhost_bench"),
	}
}

// benchHost loads the core plugins for a benchmark (closed when it ends),
// and returns the rounds to run: BENCH_ROUNDS, else 3.
func benchHost(b *testing.B) (*host.Host, int) {
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{PluginsDir: testplugins.Core(b), CacheDir: filepath.Join(os.TempDir(), "taskhost-bench-cache")})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(ctx) })
	rounds := 3
	if s := os.Getenv("BENCH_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	return h, rounds
}

// benchHandler is the handler a round measures: native (a Go handler) or
// wasm (the core plugins in the sandbox).
func benchHandler(h *host.Host, impl string) backends.Handler {
	if impl == "wasm" {
		return worker.Handler(h)
	}
	return nativeHandler
}

// benchWorker runs a worker (concurrency 32) on queue with hd, warms it up
// with 50 tasks, and returns the function that stops it.
func benchWorker(b *testing.B, be *backends.Client, queue string, hd backends.Handler, task string) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- be.Work(ctx, backends.WorkerOptions{Queues: []string{queue}, Concurrency: 32}, hd) }()
	runBatch(b, be, task, 50)
	return func() { cancel(); <-done }
}

// alternate returns impls with a and b swapped in odd rounds, so that
// neither of the two compared implementations always runs first.
func alternate(impls []string, round int, a, b string) []string {
	out := slices.Clone(impls)
	if round%2 == 1 {
		i, j := slices.Index(out, a), slices.Index(out, b)
		if i >= 0 && j >= 0 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// logRatios prints num/den round by round (each pair measured seconds
// apart, on the same machine load) and their median, the figure quoted in
// docs/BENCHMARKS.md. It prints to stdout: go test shows no log of a
// benchmark that has sub-benchmarks.
func logRatios(b *testing.B, what string, num, den []float64) {
	var rs []float64
	for i := range min(len(num), len(den)) {
		if den[i] > 0 {
			rs = append(rs, num[i]/den[i])
		}
	}
	if len(rs) == 0 {
		return
	}
	line := make([]string, len(rs))
	for i, r := range rs {
		line[i] = fmt.Sprintf("%.2f", r)
	}
	sorted := slices.Sorted(slices.Values(rs))
	med := sorted[len(sorted)/2]
	if len(sorted)%2 == 0 {
		med = (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	}
	fmt.Printf("%s: %s: median %.2f (rounds: %s)\n", b.Name(), what, med, strings.Join(line, " "))
}

// oneTaskP50 runs n single tasks one after another (submit, then wait) and
// returns the median, in milliseconds.
func oneTaskP50(b *testing.B, be *backends.Client, task string, n int) float64 {
	ctx := context.Background()
	return latencyP50(b, n, func() error {
		id, err := be.Submit(ctx, task, json.RawMessage(`{"a":1,"b":2}`))
		if err == nil {
			_, err = be.Wait(ctx, id)
		}
		return err
	})
}

// latencyP50 runs one() n times and returns the median, in milliseconds.
func latencyP50(b *testing.B, n int, one func() error) float64 {
	lat := make([]time.Duration, n)
	for i := range lat {
		start := time.Now()
		if err := one(); err != nil {
			b.Fatal(err)
		}
		lat[i] = time.Since(start)
	}
	slices.Sort(lat)
	return float64(lat[len(lat)/2].Microseconds()) / 1000
}

// nativeHandler runs the core plugin basic_operations' own task code (its
// package tasks, with the same easyjson codecs), compiled as native Go.
var nativeHandler = backends.HandlerFunc(func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
	return sdk.Call(t.Name, t.Input)
})

// submitN submits n tasks from 8 goroutines, input(i) being the i-th
// input, and returns their ids in order.
func submitN(b *testing.B, be *backends.Client, task string, n int, input func(i int) string) []string {
	ids := make([]string, n)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				id, err := be.Submit(context.Background(), task, json.RawMessage(input(i)))
				if err != nil {
					b.Error(err)
					return
				}
				ids[i] = id
			}
		}()
	}
	wg.Wait()
	return ids
}

// waitAll waits for every task, two minutes at most, and fails unless each
// succeeded.
func waitAll(b *testing.B, be *backends.Client, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, id := range ids {
		r, err := be.Wait(ctx, id)
		if err != nil || r.Status != backends.StatusSucceeded {
			b.Fatalf("task %s: %+v, %v", id, r, err)
		}
	}
}

// runBatch submits n tasks, waits for all, and returns tasks/s.
func runBatch(b *testing.B, be *backends.Client, task string, n int) float64 {
	start := time.Now()
	waitAll(b, be, submitN(b, be, task, n, func(i int) string { return fmt.Sprintf(`{"a":%d,"b":1}`, i) }))
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkRiverEndToEnd measures, on River with SQLite and with
// PostgreSQL, submit-to-result throughput of 2,000 tasks and the one-task
// latency, for a WASM core task and a native Go handler doing the same
// work, interleaved. Run with:
//
//	go test ./cmd/host -run '^$' -bench BenchmarkRiverEndToEnd -benchtime 1x
func BenchmarkRiverEndToEnd(b *testing.B) {
	ctx := context.Background()
	h, rounds := benchHost(b)
	for _, engine := range []string{"sqlite", "postgres"} {
		url := benchEngines(b)[engine]
		for _, task := range []string{"echo", "add"} {
			// Rounds alternate native and wasm, so that both see the same
			// machine load.
			for i := 0; i < 2*rounds; i++ {
				impl := []string{"native", "wasm"}[i%2]
				b.Run(fmt.Sprintf("%s/%s/%s", engine, task, impl), func(b *testing.B) {
					be, err := backends.Open(ctx, "river", backends.Config{URL: url})
					if err != nil {
						b.Fatal(err)
					}
					defer be.Close()
					queue := fmt.Sprintf("bench_%s_%s_%d", task, impl, time.Now().UnixNano())
					be.Register(ctx, backends.TaskSpec{Name: task, Queue: queue, MaxRetries: 0, Timeout: time.Minute})
					defer benchWorker(b, be, queue, benchHandler(h, impl), task)()
					b.ResetTimer()
					var rate float64
					for range b.N {
						rate = runBatch(b, be, task, 2000)
					}
					b.StopTimer()
					b.ReportMetric(rate, "tasks/s")
					b.ReportMetric(oneTaskP50(b, be, task, 200), "p50-ms")
				})
			}
		}
	}
}

// BenchmarkWorkerStart measures the whole-process start of host worker with
// the core plugins and a warm compilation cache: exec to /readyz answering.
// Run with: go test ./cmd/host -run '^$' -bench BenchmarkWorkerStart -benchtime 10x
func BenchmarkWorkerStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "host")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	plugins := testplugins.Core(b)
	cache := b.TempDir()
	db := filepath.Join(b.TempDir(), "start.db")
	start := func(port int) time.Duration {
		t0 := time.Now()
		cmd := exec.Command(bin, "worker", "--plugins-dir", plugins, "--manifest", emptyManifest(b), "--cache-dir", cache,
			"--backend-url", db, "--health-addr", "127.0.0.1:"+strconv.Itoa(port))
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		for time.Since(t0) < 30*time.Second {
			if resp, err := httpGet(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)); err == nil && resp == 200 {
				return time.Since(t0)
			}
			time.Sleep(2 * time.Millisecond)
		}
		b.Fatalf("the worker was not ready within 30s:\n%s", stderr.String())
		return 0
	}
	start(18301) // fills the compilation cache
	var times []time.Duration
	b.ResetTimer()
	for i := range b.N {
		times = append(times, start(18302+i%50))
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Milliseconds()), "p50-ms-to-ready")
}

// emptyManifest returns a manifest with no entries, so that only the
// plugins folder counts.
func emptyManifest(tb testing.TB) string {
	p := filepath.Join(tb.TempDir(), "manifest.toml")
	if err := os.WriteFile(p, []byte("# no entries\n"), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}
