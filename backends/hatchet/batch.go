package hatchet

import (
	"context"
	"fmt"
	"sync"
	"time"

	v0 "github.com/hatchet-dev/hatchet/pkg/client"

	"taskhost.dev/backends/driver"
)

// Batches on Hatchet go through the engine's bulk trigger
// (BulkTriggerWorkflow, through the SDK's v0 admin client): the
// plain jobs of a batch in calls of up to bulkChunk runs, each accepted or
// refused as a whole, the run ids in order. A job with a unique key or a
// delay is submitted on its own (Enqueue), bulkConcurrency at a time: a
// bulk call does not say which runs an idempotency key turned away, and a
// delay is a scheduled run.

// bulkChunk bounds the runs of one bulk call (a gRPC message).
const bulkChunk = 200

// bulkConcurrency bounds the jobs submitted on their own at once.
const bulkConcurrency = 16

// EnqueueMany implements driver.Batcher.
func (b *backend) EnqueueMany(ctx context.Context, jobs []*driver.Job) ([]string, error) {
	ids := make([]string, len(jobs))
	var bulk, single []int
	var runs []*v0.WorkflowRun
	for i, j := range jobs {
		if j.UniqueKey != "" || !j.RunAt.IsZero() && time.Until(j.RunAt) > 0 {
			single = append(single, i)
			continue
		}
		name, env, err := b.prepare(j)
		if err != nil {
			return nil, &driver.BatchError{Index: i, Err: err}
		}
		bulk = append(bulk, i)
		runs = append(runs, &v0.WorkflowRun{Name: name, Input: env})
	}
	if len(runs) > 0 {
		legacy, err := b.legacy()
		if err != nil {
			return nil, &driver.BatchError{Index: -1, Err: err}
		}
		for start := 0; start < len(runs); start += bulkChunk {
			end := min(start+bulkChunk, len(runs))
			if err := ctx.Err(); err != nil {
				return nil, &driver.BatchError{Index: bulk[start], Err: err, IDs: ids}
			}
			got, err := legacy.Admin().BulkRunWorkflow(runs[start:end])
			if err == nil && len(got) != end-start {
				err = fmt.Errorf("the engine returned %d run ids for %d runs", len(got), end-start)
			}
			if err != nil {
				return nil, &driver.BatchError{Index: -1, Err: fmt.Errorf("hatchet: bulk submission of entries %d to %d: %w", bulk[start], bulk[end-1], err), IDs: ids}
			}
			for k, id := range got {
				ids[bulk[start+k]] = id
				b.recent.note(id, nil)
			}
		}
	}
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, bulkConcurrency)
	var wg sync.WaitGroup
	for _, i := range single {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ids[i], errs[i] = b.Enqueue(ctx, jobs[i])
		})
	}
	wg.Wait()
	for _, i := range single {
		if errs[i] != nil {
			return nil, &driver.BatchError{Index: i, Err: errs[i], IDs: ids}
		}
	}
	return ids, nil
}
