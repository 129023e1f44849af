package river

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"taskhost.dev/backends"
)

// DefaultConcurrency is the number of jobs a worker runs at once per queue
// when WorkerOptions.Concurrency is zero.
const DefaultConcurrency = 10

// defaultTimeout applies to a task registered without a timeout, as River's
// own JobTimeout default.
const defaultTimeout = time.Minute

type worker[TTx any] struct {
	river.WorkerDefaults[jobArgs]
	b *backend[TTx]
	h backends.Handler
}

func (w *worker[TTx]) Timeout(job *river.Job[jobArgs]) time.Duration {
	if job.Args.Timeout > 0 {
		return job.Args.Timeout
	}
	if spec, err := w.b.spec(job.Args.Task); err == nil && spec.Timeout > 0 {
		return spec.Timeout
	}
	return defaultTimeout
}

func (w *worker[TTx]) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	t := &backends.Task{
		ID: strconv.FormatInt(job.ID, 10), Name: job.Args.Task, Input: job.Args.Input,
		Attempt: job.Attempt, Heartbeat: func() {},
	}
	out, err := w.h.ProcessTask(ctx, t)
	if err != nil {
		te := backends.ErrorOf(err)
		if job.Args.WF != nil && (!te.Retryable || job.Attempt >= job.MaxAttempts) {
			if ferr := w.b.failWorkflow(context.WithoutCancel(ctx), job.Args.WF, te); ferr != nil {
				w.b.logger.Error("river: marking a workflow failed", "workflow", job.Args.WF.ID, "err", ferr)
			}
		}
		if !te.Retryable {
			return river.JobCancel(taskErr{te})
		}
		return taskErr{te}
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	if err := river.RecordOutput(ctx, out); err != nil {
		return taskErr{&backends.TaskError{Kind: "failed", Message: "recording the output: " + err.Error(), Retryable: false}}
	}
	return w.b.complete(ctx, job, out)
}

// complete completes job in the worker's own transaction, advances its
// workflow (inserting the next stage in the same transaction), and
// announces both to waiters.
func (b *backend[TTx]) complete(ctx context.Context, job *river.Job[jobArgs], out json.RawMessage) error {
	tx, err := b.db.begin(ctx)
	if err != nil {
		return err
	}
	defer b.db.rollback(context.WithoutCancel(ctx), tx)
	if err := b.db.completeJobTx(ctx, tx, job); err != nil {
		return err
	}
	if job.Args.WF != nil {
		if err := b.advance(ctx, tx, job.Args.WF, out); err != nil {
			return fmt.Errorf("advancing workflow %s: %w", job.Args.WF.ID, err)
		}
	}
	if err := b.db.notify(ctx, tx, strconv.FormatInt(job.ID, 10)); err != nil {
		return err
	}
	return b.db.commit(ctx, tx)
}

// Work runs a River worker on opts.Queues until ctx ends, then drains.
func (b *backend[TTx]) Work(ctx context.Context, opts backends.WorkerOptions, h backends.Handler) error {
	if len(opts.Priorities) > 0 || opts.StrictPriority {
		return &backends.UnsupportedError{Engine: Engine, What: "queue priorities", Hint: "River serves its queues alike; run one worker per queue with its own --concurrency instead"}
	}
	queues := opts.Queues
	var maxTimeout time.Duration
	seen := map[string]bool{}
	for _, t := range b.tasks.All() {
		if len(opts.Queues) == 0 && !seen[t.Queue] {
			queues = append(queues, t.Queue)
			seen[t.Queue] = true
		}
		timeout := t.Timeout
		if timeout <= 0 {
			timeout = defaultTimeout
		}
		maxTimeout = max(maxTimeout, timeout)
	}
	if maxTimeout == 0 {
		maxTimeout = defaultTimeout
	}
	if len(queues) == 0 {
		queues = []string{river.QueueDefault}
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	qc := make(map[string]river.QueueConfig, len(queues))
	for _, q := range queues {
		qc[q] = river.QueueConfig{MaxWorkers: conc}
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &worker[TTx]{b: b, h: h}); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	client, err := river.NewClient(b.db.driver(), &river.Config{
		ID:                   opts.Name,
		Queues:               qc,
		Workers:              workers,
		FetchCooldown:        5 * time.Millisecond,
		FetchPollInterval:    b.db.pollInterval(),
		JobTimeout:           maxTimeout,
		RescueStuckJobsAfter: maxTimeout + 10*time.Second,
		Logger:               b.logger,
	})
	if err != nil {
		return fmt.Errorf("river: starting a worker: %w", err)
	}
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("river: starting a worker: %w", err)
	}
	<-ctx.Done()
	grace := opts.Grace
	if grace <= 0 {
		grace = backends.DefaultGrace
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		hard, cancelHard := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancelHard()
		if err := client.StopAndCancel(hard); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("river: stopping the worker: %w", err)
		}
	}
	return nil
}
