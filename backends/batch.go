package backends

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"taskhost.dev/backends/driver"
)

// Submission is one entry of a batch (SubmitMany).
type Submission struct {
	Task    string
	Input   json.RawMessage
	Options []SubmitOption
}

// BatchError is a batch's failure: which entry, why, and the ids of the
// entries enqueued all the same (see SubmitMany).
type BatchError = driver.BatchError

// BatchOption changes how SubmitMany submits.
type BatchOption func(*batchOptions)

type batchOptions struct{ progress func(done, total int) }

// BatchProgress has SubmitMany report how many entries are enqueued so far,
// from one goroutine at a time: as each is enqueued on an engine without a
// batch call, once at the end on one with.
func BatchProgress(f func(done, total int)) BatchOption {
	return func(o *batchOptions) { o.progress = f }
}

// batchConcurrency bounds the submissions in flight for an engine without
// a batch call of its own.
const batchConcurrency = 16

// SubmitMany submits a batch and returns the ids in order. Every entry is
// resolved and checked first: a bad one fails the batch, naming its index
// (a *BatchError), before anything is enqueued. Where the engine allows
// (River: one transaction; Redis: one transaction), the batch is then
// enqueued all or none; elsewhere the entries are submitted with bounded
// concurrency and a failure is a *BatchError listing what was enqueued.
func (c *Client) SubmitMany(ctx context.Context, batch []Submission, opts ...BatchOption) ([]string, error) {
	var bo batchOptions
	for _, f := range opts {
		f(&bo)
	}
	progress := func(int) {}
	if bo.progress != nil {
		var mu sync.Mutex
		done := 0
		progress = func(n int) {
			mu.Lock()
			defer mu.Unlock()
			done += n
			bo.progress(done, len(batch))
		}
	}
	jobs := make([]*driver.Job, len(batch))
	for i, s := range batch {
		var o SubmitOptions
		for _, f := range s.Options {
			f(&o)
		}
		j, err := c.tasks.resolve(s.Task, s.Input, &o)
		if err != nil {
			return nil, &BatchError{Index: i, Err: err}
		}
		jobs[i] = j
	}
	if len(jobs) == 0 {
		return nil, nil
	}
	ctx, span := startSubmit(ctx, c.Engine(), "submit batch of", batch[0].Task)
	for _, j := range jobs {
		inject(ctx, j)
	}
	ids, err := c.submitJobs(ctx, jobs, progress)
	endSpan(span, err)
	return ids, err
}

// submitJobs enqueues resolved jobs: in one call where the driver has one,
// else with bounded concurrency.
func (c *Client) submitJobs(ctx context.Context, jobs []*driver.Job, progress func(int)) ([]string, error) {
	if b, ok := c.drv.(driver.Batcher); ok {
		ids, err := b.EnqueueMany(ctx, jobs)
		if err == nil {
			progress(len(ids))
		}
		return ids, err
	}
	ids := make([]string, len(jobs))
	errs := make([]error, len(jobs))
	sem := make(chan struct{}, batchConcurrency)
	var wg sync.WaitGroup
	for i, j := range jobs {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ids[i], errs[i] = c.drv.Enqueue(ctx, j)
			if errs[i] == nil {
				progress(1)
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, &BatchError{Index: i, Err: fmt.Errorf("%s: %w", c.Engine(), err), IDs: ids}
		}
	}
	return ids, nil
}
