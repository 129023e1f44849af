package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"taskhost.dev/backends"
)

// BenchmarkTemporalEndToEnd measures, on the Temporal dev server that
// scripts/temporal-up.sh starts, with a native Go handler and the WASM
// core task interleaved:
//
//   - tasks: 1,000 add tasks (each a workflow running one activity),
//     submitted from 8 goroutines, every result waited for: tasks/s;
//   - flows: 200 workflows of three sequential echo steps: workflows/s
//     and activities/s;
//   - latency: 100 single tasks one after another: p50.
//
// Run with:
//
//	go test ./cmd/host -run '^$' -bench BenchmarkTemporalEndToEnd -benchtime 1x
func BenchmarkTemporalEndToEnd(b *testing.B) {
	ctx := context.Background()
	h, rounds := benchHost(b)
	for range rounds {
		for _, impl := range []string{"native", "wasm"} {
			b.Run(impl, func(b *testing.B) {
				be, err := backends.Open(ctx, "temporal", backends.Config{})
				if err != nil {
					b.Skipf("no Temporal server (scripts/temporal-up.sh): %v", err)
				}
				defer be.Close()
				queue := fmt.Sprintf("bench_%s_%d", impl, time.Now().UnixNano())
				be.Register(ctx, backends.TaskSpec{Name: "add", Queue: queue, Timeout: time.Minute},
					backends.TaskSpec{Name: "echo", Queue: queue, Timeout: time.Minute})
				defer benchWorker(b, be, queue, benchHandler(h, impl), "add")()
				b.ResetTimer()
				var rate, flows float64
				for range b.N {
					rate = runBatch(b, be, "add", 1000)
					flows = runFlows(b, be, 200)
				}
				b.StopTimer()
				b.ReportMetric(rate, "tasks/s")
				b.ReportMetric(flows, "workflows/s")
				b.ReportMetric(3*flows, "activities/s")
				b.ReportMetric(oneTaskP50(b, be, "add", 100), "p50-ms")
			})
		}
	}
}

// benchFlow is the workflow runFlows runs: three echo steps.
var benchFlow = backends.NewWorkflow("bench").Then("echo").Then("echo").Then("echo")

// runFlows runs n three-step echo workflows at once and returns
// workflows/s.
func runFlows(b *testing.B, be *backends.Client, n int) float64 {
	w := be
	wf := benchFlow
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := g; i < n; i += 8 {
				id, err := w.SubmitWorkflow(ctx, *wf, json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))
				if err == nil {
					var r backends.WorkflowResult
					r, err = w.WaitWorkflow(ctx, id)
					if err == nil && r.Status != backends.StatusSucceeded {
						err = fmt.Errorf("workflow %s: %s", id, r.Status)
					}
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return float64(n) / time.Since(start).Seconds()
}
