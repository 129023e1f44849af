package asynq

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/hibiken/asynq"

	"taskhost.dev/backends"
)

// DefaultConcurrency is the number of tasks a worker runs at once when
// WorkerOptions.Concurrency is zero.
const DefaultConcurrency = 10

// DefaultTaskCheckInterval is how often, on average, an idle worker asks
// Redis for a new task when the option task_check_interval (or
// ASYNQ_TASK_CHECK_INTERVAL) does not say. asynq's own default, 1 s, puts
// a lone task's latency near a second; at 5 ms an idle worker runs about
// 200 small dequeue scripts a second against Redis (see docs/BENCHMARKS.md
// for the latency and the load measured at several settings).
const DefaultTaskCheckInterval = 5 * time.Millisecond

// retryDelay backs off 1 s, 2 s, 4 s ... up to 10 minutes; n counts the
// retries done so far.
func retryDelay(n int, _ error, _ *asynq.Task) time.Duration {
	return time.Duration(math.Min(math.Pow(2, float64(n)), 600)) * time.Second
}

// Work runs an asynq server on opts.Queues until ctx ends, then drains.
func (b *backend) Work(ctx context.Context, opts backends.WorkerOptions, h backends.Handler) error {
	queues := map[string]int{}
	for _, q := range opts.Queues {
		queues[q] = 1
	}
	for q, w := range opts.Priorities {
		if w < 1 {
			return fmt.Errorf("asynq: queue %q: priority %d must be at least 1", q, w)
		}
		queues[q] = w
	}
	if len(queues) == 0 {
		for _, q := range b.tasks.WorkerQueues(opts, "default") {
			queues[q] = 1
		}
	}
	opts = opts.WithDefaults(DefaultConcurrency)
	conc, grace := opts.Concurrency, opts.Grace
	srv := asynq.NewServerFromRedisClient(b.rc, asynq.Config{
		Concurrency:              conc,
		Queues:                   queues,
		StrictPriority:           opts.StrictPriority,
		ShutdownTimeout:          grace,
		TaskCheckInterval:        b.checkInterval,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc:           retryDelay,
		Logger:                   slogAdapter{b},
		LogLevel:                 asynq.WarnLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error { return b.process(ctx, t, h) })); err != nil {
		return fmt.Errorf("asynq: starting a worker: %w", err)
	}
	<-ctx.Done()
	srv.Shutdown()
	return nil
}

// process runs one task: it calls the handler, stores the output or the
// error the way asynq expects, and records the attempt's times and outcome
// and announces the end in one round trip.
func (b *backend) process(ctx context.Context, t *asynq.Task, h backends.Handler) error {
	taskID, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	id := queue + "/" + taskID
	var env envelope
	if err := json.Unmarshal(t.Payload(), &env); err != nil {
		return fmt.Errorf("%s: %w", taskErr{&backends.TaskError{Kind: "bad_input", Message: "the payload is not a taskhost envelope: " + err.Error()}}, asynq.SkipRetry)
	}
	bg := context.WithoutCancel(ctx)
	started := time.Now()
	// asynq keeps timeouts in whole seconds; the exact one is in the
	// envelope and applies here.
	if env.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, env.Timeout)
		defer cancel()
	}
	out, err := h.ProcessTask(ctx, &backends.Task{ID: id, Name: t.Type(), Input: env.Input, Attempt: retried + 1, Heartbeat: func() {}})
	if err != nil {
		te := backends.ErrorOf(err)
		final := !te.Retryable || retried >= maxRetry
		if final && env.WF != nil {
			if ferr := b.failWorkflow(bg, env.WF, te); ferr != nil {
				b.logger.Error("asynq: marking a workflow failed", "workflow", env.WF.ID, "err", ferr)
			}
		}
		b.record(bg, id, t.Type(), &env, retried+1, started, final, taskErr{te}.Error(), nil)
		if !te.Retryable {
			return fmt.Errorf("%s: %w", taskErr{te}, asynq.SkipRetry)
		}
		return taskErr{te}
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	if _, err := t.ResultWriter().Write(out); err != nil {
		return fmt.Errorf("asynq: writing the result: %w", err)
	}
	if env.WF != nil {
		if err := b.advance(bg, env.WF, out); err != nil {
			return fmt.Errorf("asynq: advancing workflow %s: %w", env.WF.ID, err)
		}
	}
	b.record(bg, id, t.Type(), &env, retried+1, started, true, "", out)
	return nil
}

// maxRecordedOutput is the largest output copied into a task's record.
const maxRecordedOutput = 64 << 10

// record writes an attempt's times to the task's hash and, when the
// attempt was the last (final), its number and outcome ("error" empty for success),
// and publishes the id to waiters: one round trip. asynq moves the task to
// completed or archived only after the handler returns; until then
// Result reads the outcome from here.
func (b *backend) record(ctx context.Context, id, task string, env *envelope, attempt int, started time.Time, final bool, errText string, out []byte) {
	key := timesPrefix + id
	pipe := b.rc.TxPipeline() // one step: a reader sees the whole record or none of it
	pipe.HSet(ctx, key, "started_at", started.UTC().Format(time.RFC3339Nano), "finished_at", time.Now().UTC().Format(time.RFC3339Nano))
	if final {
		// With a small output the record is the whole result, which Wait
		// reads in one round trip.
		if len(out) > maxRecordedOutput {
			out = nil
		}
		pipe.HSet(ctx, key, "done", attempt, "error", errText, "task", task,
			"enqueued_at", env.EnqueuedAt.UTC().Format(time.RFC3339Nano), "output", out, "has_output", out != nil)
	}
	pipe.Expire(ctx, key, Retention)
	if final {
		pipe.Publish(ctx, doneChannel, id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.logger.Warn("asynq: recording a finished task failed; waiters fall back to polling", "task", id, "err", err)
	}
}

// slogAdapter sends asynq's log lines to the backend's logger.
type slogAdapter struct{ b *backend }

func (l slogAdapter) Debug(args ...any) { l.b.logger.Debug(fmt.Sprint(args...)) }
func (l slogAdapter) Info(args ...any)  { l.b.logger.Info(fmt.Sprint(args...)) }
func (l slogAdapter) Warn(args ...any)  { l.b.logger.Warn(fmt.Sprint(args...)) }
func (l slogAdapter) Error(args ...any) { l.b.logger.Error(fmt.Sprint(args...)) }
func (l slogAdapter) Fatal(args ...any) { l.b.logger.Error(fmt.Sprint(args...)) }
