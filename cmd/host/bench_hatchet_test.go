package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"taskhost.dev/backends"
	_ "taskhost.dev/backends/hatchet"
	"taskhost.dev/internal/testengines"
)

// BenchmarkHatchetEndToEnd measures, on the hatchet-lite engine that
// scripts/hatchet-up.sh starts (its environment read from the file that
// script writes), with a native Go handler and the WASM core task
// interleaved (in alternating order):
//
//   - tasks: 500 add tasks submitted from 8 goroutines, every result
//     waited for: runs/s;
//   - flows: 100 DAG workflows of three sequential echo steps: workflows/s;
//   - latency: 50 single tasks one after another: p50.
//
// Run with:
//
//	go test ./cmd/host -run '^$' -bench BenchmarkHatchetEndToEnd -benchtime 1x
func BenchmarkHatchetEndToEnd(b *testing.B) {
	ctx := context.Background()
	testengines.LoadHatchetEnv()
	h, rounds := benchHost(b)
	for round := range rounds {
		// The order alternates, as the engine's database grows and
		// slows it from one row to the next.
		order := []string{"native", "wasm"}
		if round%2 == 1 {
			order = []string{"wasm", "native"}
		}
		for _, impl := range order {
			b.Run(impl, func(b *testing.B) {
				be, err := backends.Open(ctx, "hatchet", backends.Config{})
				if err != nil {
					b.Skipf("no Hatchet engine (scripts/hatchet-up.sh): %v", err)
				}
				defer be.Close()
				queue := fmt.Sprintf("bench_%s_%d", impl, time.Now().UnixNano())
				be.Register(ctx, backends.TaskSpec{Name: "add", Queue: queue, Timeout: time.Minute},
					backends.TaskSpec{Name: "echo", Queue: queue, Timeout: time.Minute})
				if err := be.DeclareWorkflows(ctx, *benchFlow); err != nil {
					b.Fatal(err)
				}
				defer benchWorker(b, be, queue, benchHandler(h, impl), "add")()
				b.ResetTimer()
				var rate, flows float64
				for range b.N {
					rate = runBatch(b, be, "add", 500)
					flows = runFlows(b, be, 100)
				}
				b.StopTimer()
				b.ReportMetric(rate, "runs/s")
				b.ReportMetric(flows, "workflows/s")
				b.ReportMetric(oneTaskP50(b, be, "add", 50), "p50-ms")
			})
		}
	}
}
