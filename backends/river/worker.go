package river

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

type worker[TTx any] struct {
	river.WorkerDefaults[jobArgs]
	b         *backend[TTx]
	h         driver.Handler
	running   *runningJobs
	completer *completer[TTx]
}

// Timeout is the job's own (every job carries its task's timeout).
func (w *worker[TTx]) Timeout(job *river.Job[jobArgs]) time.Duration {
	if job.Args.Timeout > 0 {
		return time.Duration(job.Args.Timeout)
	}
	return driver.DefaultTimeout
}

// NextRetry is the task's backoff, the one formula every driver applies.
func (w *worker[TTx]) NextRetry(job *river.Job[jobArgs]) time.Time {
	var b driver.Backoff
	if job.Args.Backoff != nil {
		b = *job.Args.Backoff
	}
	return time.Now().Add(b.Delay(job.Attempt - 1))
}

func (w *worker[TTx]) Work(ctx context.Context, job *river.Job[jobArgs]) error {
	t := &driver.Task{
		ID: strconv.FormatInt(job.ID, 10), Name: job.Args.Task, Queue: job.Queue, Input: job.Args.Input,
		Attempt: job.Attempt, MaxRetries: job.MaxAttempts - 1, Heartbeat: func() {}, Meta: jobMeta(job.Metadata),
	}
	t.Progress = func(p abi.Progress) { w.b.setProgress(ctx, job.ID, p) }
	ctx, done := w.running.add(ctx, job.ID)
	defer done()
	out, err := w.h.ProcessTask(ctx, t)
	if err != nil && cancelled(ctx) {
		// Cancelled through the client: the task ends cancelled, not
		// retried, and its workflow is left to CancelWorkflow.
		return river.JobCancel(taskErr{&driver.TaskError{Kind: abi.KindCancelled, Message: "cancelled while running"}})
	}
	if err != nil {
		te := driver.ErrorOf(err)
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
		return taskErr{&driver.TaskError{Kind: abi.KindFailed, Message: "recording the output: " + err.Error(), Retryable: false}}
	}
	// The run happened: its outcome is written through transient faults of
	// the database (within the time River gives a stuck job before it
	// rescues it), not turned into a failed attempt.
	tried := false
	return driver.Persist(ctx, persistBudget, func(ctx context.Context) error {
		if tried {
			// A commit whose answer was lost may have completed the job;
			// a job no longer running (cancelled, or rescued as stuck)
			// keeps the state the engine gave it.
			if row, err := w.b.client.JobGet(ctx, job.ID); err == nil && row.State != rivertype.JobStateRunning {
				return nil
			}
		}
		tried = true
		if job.Args.WF == nil {
			return w.completer.complete(ctx, job, out)
		}
		return w.b.complete(ctx, job, out)
	})
}

// persistBudget is how long a worker keeps trying to write a finished
// attempt's outcome.
const persistBudget = 30 * time.Second

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

// Work implements driver.Driver: one River client serving cfg.Queues.
// River bounds the jobs it runs per queue, so the worker's total
// concurrency is shared out among its queues (the first ones get the
// remainder); a worker with more queues than its concurrency is refused.
func (b *backend[TTx]) Work(ctx context.Context, cfg driver.WorkerConfig, h driver.Handler) error {
	if cfg.Priorities != nil || cfg.StrictPriority {
		return &driver.UnsupportedError{Engine: Engine, What: "queue priorities", Hint: "River serves its queues alike; run one worker per queue with its own --concurrency instead"}
	}
	if cfg.Concurrency < len(cfg.Queues) {
		return fmt.Errorf("river: worker concurrency %d is below its %d queues: River runs at least one job per queue at a time; raise --concurrency or serve fewer queues", cfg.Concurrency, len(cfg.Queues))
	}
	maxTimeout := driver.DefaultTimeout
	for _, t := range b.tasks.Specs() {
		maxTimeout = max(maxTimeout, t.Timeout)
	}
	qc := make(map[string]river.QueueConfig, len(cfg.Queues))
	for i, q := range cfg.Queues {
		n := cfg.Concurrency / len(cfg.Queues)
		if i < cfg.Concurrency%len(cfg.Queues) {
			n++
		}
		qc[q] = river.QueueConfig{MaxWorkers: n}
	}
	workers := river.NewWorkers()
	running := &runningJobs{cancels: map[int64]context.CancelCauseFunc{}}
	completer := b.startCompleter()
	defer completer.stop() // after River stopped: no job hands it more
	if err := river.AddWorkerSafely(workers, &worker[TTx]{b: b, h: h, running: running, completer: completer}); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	if every := b.db.cancelPoll(); every > 0 {
		wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		watched := make(chan struct{})
		go func() { defer close(watched); b.watchCancels(wctx, running, every) }()
		defer func() { stop(); <-watched }()
	}
	client, err := river.NewClient(b.db.driver(), &river.Config{
		ID:                   cfg.Name,
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
	beating := make(chan struct{})
	go func() { defer close(beating); b.beat(ctx, cfg) }()
	defer func() { <-beating }()
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), cfg.Grace)
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
