package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/internal/testplugins"
)

// rssKiB reads a process's resident set size.
func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

// BenchmarkSoak pushes SOAK_TASKS (default 100,000) echo tasks through a
// host worker process on River with SQLite and reports the worker's RSS
// after the first 10 %, at half and at the end. Run with:
//
//	go test ./cmd/host -run '^$' -bench BenchmarkSoak -benchtime 1x -timeout 30m
func BenchmarkSoak(b *testing.B) {
	total := 100_000
	if s := os.Getenv("SOAK_TASKS"); s != "" {
		total, _ = strconv.Atoi(s)
	}
	bin := filepath.Join(b.TempDir(), "host")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	db := filepath.Join(b.TempDir(), "soak.db")
	worker := exec.Command(bin, "worker", "--plugins-dir", testplugins.Core(b), "--manifest", emptyManifest(b),
		"--cache-dir", filepath.Join(os.TempDir(), "taskhost-bench-cache"), "--backend-url", db, "--concurrency", "32")
	worker.Stderr = os.Stderr
	ctx := context.Background()
	be, err := backends.Open(ctx, "river", backends.Config{URL: db})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	if err := worker.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { worker.Process.Kill(); worker.Wait() }()
	time.Sleep(2 * time.Second)
	startRSS := rssKiB(worker.Process.Pid)
	b.ResetTimer()
	start := time.Now()
	var samples []string
	const batch = 1000
	for done := 0; done < total; done += batch {
		base := done
		waitAll(b, be, submitN(b, be, "echo", batch, func(i int) string { return fmt.Sprintf(`{"n":%d}`, base+i) }))
		if n := done + batch; n == total/10 || n == total/2 || n == total {
			samples = append(samples, fmt.Sprintf("%d tasks: %d KiB", n, rssKiB(worker.Process.Pid)))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "tasks/s")
	b.Logf("worker RSS: start %d KiB; %s", startRSS, strings.Join(samples, "; "))
}
