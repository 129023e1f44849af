package host_test

import (
	"bufio"
	"context"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"taskhost.dev/host"
)

// BenchmarkMemoryCap runs the hostile plugin's membomb, which grows its
// memory until its 64 MiB max_memory stops it, and reports the host's
// resident memory at the call's peak above what it was before the call
// (extra-MiB) and as a multiple of the cap (x-cap; the target is 1.5 or
// less). The peak is VmRSS sampled every millisecond during the call.
func BenchmarkMemoryCap(b *testing.B) {
	h := loadHostile(b, "") // max_memory = "64MiB"
	ctx := context.Background()
	if _, err := h.Run(ctx, "ok", []byte(`{}`), host.Invocation{}); err != nil {
		b.Fatal(err)
	}
	var worst float64
	for range b.N {
		debug.FreeOSMemory()
		before := vmRSS(b)
		var peak atomic.Int64
		stop := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				if r := vmRSS(b); r > peak.Load() {
					peak.Store(r)
				}
				select {
				case <-stop:
					return
				case <-t.C:
				}
			}
		}()
		_, err := h.Run(ctx, "membomb", []byte(`{}`), host.Invocation{Timeout: 20 * time.Second})
		close(stop)
		<-sampled
		if te, ok := host.AsTaskError(err); !ok || te.Kind != "oom" {
			b.Fatalf("membomb: %v, want an oom", err)
		}
		worst = max(worst, float64(peak.Load()-before)/(1<<20))
	}
	b.ReportMetric(worst, "extra-MiB")
	b.ReportMetric(worst/64, "x-cap")
}

// vmRSS is the process's resident memory in bytes.
func vmRSS(b *testing.B) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status here")
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
