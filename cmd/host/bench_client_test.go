package main

import (
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"taskhost.dev/internal/testplugins"
)

// BenchmarkSubmitCommand measures one `host submit` process on River with
// SQLite, the three core plugins in the plugins folder and their metadata
// cached by an earlier command: wall time from exec to exit (p50-ms) and
// peak resident memory (max-rss-MiB, what /usr/bin/time calls %M), against
// `host --version` (the binary's own floor) in the same run. Run with:
//
//	go test ./cmd/host -run '^$' -bench BenchmarkSubmitCommand -benchtime 20x
func BenchmarkSubmitCommand(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "host")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	plugins, cache, db := testplugins.Core(b), b.TempDir(), filepath.Join(b.TempDir(), "submit.db")
	submit := []string{"submit", "--plugins-dir", plugins, "--manifest", emptyManifest(b), "--cache-dir", cache,
		"--backend", "river", "--backend-url", db, "echo", `{"n":1}`}
	run := func(args []string) (time.Duration, int64) {
		t0 := time.Now()
		cmd := exec.Command(bin, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("host %v: %v\n%s", args, err, out)
		}
		return time.Since(t0), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10
	}
	run(submit) // caches the plugins' metadata
	for _, c := range []struct {
		name string
		args []string
	}{{"submit", submit}, {"version", []string{"--version"}}} {
		b.Run(c.name, func(b *testing.B) {
			var times []time.Duration
			var rss int64
			for range b.N {
				d, r := run(c.args)
				times = append(times, d)
				rss = max(rss, r)
			}
			slices.Sort(times)
			b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(rss)/(1<<20), "max-rss-MiB")
		})
	}
}
