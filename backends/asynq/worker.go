package asynq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// Work implements driver.Driver: an asynq server on cfg.Queues (weighted
// by cfg.Priorities, or strictly) until ctx ends (or the driver is
// closed), then a drain of cfg.Grace. asynq's Concurrency is the server's total, as cfg's is.
func (b *backend) Work(ctx context.Context, cfg driver.WorkerConfig, h driver.Handler) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errors.New("asynq: Work on a closed driver")
	}
	b.works.Add(1)
	b.mu.Unlock()
	defer b.works.Done()
	queues := make(map[string]int, len(cfg.Queues))
	for _, q := range cfg.Queues {
		queues[q] = max(cfg.Priorities[q], 1)
	}
	srv := asynq.NewServerFromRedisClient(b.rc, asynq.Config{
		Concurrency:              cfg.Concurrency,
		Queues:                   queues,
		StrictPriority:           cfg.StrictPriority,
		ShutdownTimeout:          cfg.Grace,
		TaskCheckInterval:        b.checkInterval,
		DelayedTaskCheckInterval: 100 * time.Millisecond,
		RetryDelayFunc:           retryDelay,
		// A step whose workflow bookkeeping failed is run again without
		// spending a retry.
		IsFailure: func(err error) bool { return !errors.Is(err, driver.ErrFlowAdvance) },
		Logger:    slogAdapter{b},
		LogLevel:  asynq.WarnLevel,
	})
	if err := srv.Start(asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error { return b.process(ctx, t, h) })); err != nil {
		return fmt.Errorf("asynq: starting a worker: %w", err)
	}
	select {
	case <-ctx.Done():
	case <-b.closing:
	}
	srv.Shutdown() // stops taking tasks from every queue at once, then drains
	return nil
}

// retryDelay is asynq's wait before retry n+1: the task's backoff
// (driver.RetryDelay by default), but
// parkCancelled for an attempt asynq cancelled (CancelProcessing), which
// its worker settles at once (see process).
func retryDelay(n int, err error, t *asynq.Task) time.Duration {
	if errors.Is(err, context.Canceled) {
		return parkCancelled
	}
	var env struct {
		Backoff *driver.Backoff `json:"backoff"`
	}
	d := driver.RetryDelay(n)
	if json.Unmarshal(t.Payload(), &env) == nil && env.Backoff != nil {
		d = env.Backoff.Delay(n) // the task's own (TaskSpec.Backoff)
	}
	// asynq keeps the retry's time in whole seconds, cut down: a second
	// more, so that no retry runs early.
	return d + time.Second
}

// process runs one task: it calls the handler, stores the output or the
// error the way asynq expects, and records the attempt's times and outcome
// and announces the end in one round trip.
func (b *backend) process(ctx context.Context, t *asynq.Task, h driver.Handler) error {
	taskID, _ := asynq.GetTaskID(ctx)
	queue, _ := asynq.GetQueueName(ctx)
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, _ := asynq.GetMaxRetry(ctx)
	id := queue + "/" + taskID
	var env envelope
	if err := json.Unmarshal(t.Payload(), &env); err != nil {
		return fmt.Errorf("%s: %w", taskErr{&driver.TaskError{Kind: abi.KindBadInput, Message: "the payload is not a taskhost envelope: " + err.Error()}}, asynq.SkipRetry)
	}
	if env.Reserve || env.Flow != nil {
		maxRetry-- // the reserve (see envelope.Reserve)
	}
	bg := context.WithoutCancel(ctx)
	if retried > 0 && b.cancelMarked(bg, id) {
		// Cancelled while its last attempt's worker was gone (asynq's
		// recoverer retries a task whose lease lapsed): it runs no more.
		b.record(bg, id, t.Type(), &env, retried, time.Time{}, outcome{final: true, cancelled: true, errText: taskErr{errCancelled}.Error()})
		b.cancelFlowOf(bg, &env)
		return fmt.Errorf("%s: %w", taskErr{errCancelled}, asynq.SkipRetry)
	}
	attempt := ctx // asynq's: CancelProcessing cancels it
	started := time.Now()
	// asynq keeps timeouts in whole seconds; the exact one is in the
	// envelope and applies here.
	if env.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, env.Timeout)
		defer cancel()
	}
	out, err := h.ProcessTask(ctx, &driver.Task{ID: id, Name: t.Type(), Queue: queue, Input: env.Input,
		Attempt: retried + 1, MaxRetries: maxRetry, Heartbeat: func() {}, Flow: env.Flow, Meta: env.Meta,
		Progress: func(p abi.Progress) { b.progress(bg, id, p) }})
	if !errors.Is(attempt.Err(), context.Canceled) {
		// A cancel that comes as the attempt ends on its own may still make
		// asynq park the task in retry, once this returns: archive it then,
		// leaving the outcome recorded here.
		defer func() {
			if errors.Is(attempt.Err(), context.Canceled) {
				go b.settle(bg, queue, taskID, true)
			}
		}()
	} else {
		// asynq cancelled the attempt (CancelProcessing) and has moved on:
		// it parks the task in retry (parkCancelled), and what we return
		// is (almost always) not read. Cancel marked the task before: it
		// ends cancelled and is archived; else (another tool's cancel) it
		// is put back to run, asynq's meaning of its cancel, and this
		// attempt's output, if it has one, is lost with it.
		if b.cancelMarked(bg, id) {
			b.record(bg, id, t.Type(), &env, retried+1, started, outcome{final: true, cancelled: true, errText: taskErr{errCancelled}.Error()})
			b.cancelFlowOf(bg, &env)
			b.settle(bg, queue, taskID, true)
			return fmt.Errorf("%s: %w", taskErr{errCancelled}, asynq.SkipRetry)
		}
		b.settle(bg, queue, taskID, false)
		if err == nil {
			err = attempt.Err()
		}
	}
	if errors.Is(err, driver.ErrFlowAdvance) {
		// Not the task's failure: asynq runs it again after
		// driver.RetryDelay, without counting a retry (IsFailure).
		b.logger.Warn("asynq: a workflow step ran but its workflow could not be advanced; it runs again", "task", id, "err", err)
		b.record(bg, id, t.Type(), &env, retried+1, started, outcome{})
		return err
	}
	if err != nil {
		te := driver.ErrorOf(err)
		final := !te.Retryable || retried >= maxRetry
		b.record(bg, id, t.Type(), &env, retried+1, started, outcome{final: final, errText: taskErr{te}.Error()})
		if final {
			return fmt.Errorf("%s: %w", taskErr{te}, asynq.SkipRetry)
		}
		return taskErr{te}
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	// The run happened: its result is written through a stalled or
	// restarting Redis (within the lease asynq's heartbeat keeps), not
	// turned into a failed attempt (issue 19).
	if err := driver.Persist(ctx, persistBudget, func(context.Context) error {
		_, err := t.ResultWriter().Write(out)
		return err
	}); err != nil {
		return fmt.Errorf("asynq: writing the result: %w", err)
	}
	b.record(bg, id, t.Type(), &env, retried+1, started, outcome{final: true, out: out})
	return nil
}

// persistBudget is how long a worker keeps trying to write a finished
// attempt's result.
const persistBudget = 20 * time.Second

// maxRecordedOutput is the largest output copied into a task's record.
const maxRecordedOutput = 64 << 10

// outcome is how an attempt ended, as record writes it.
type outcome struct {
	final     bool   // the task's last attempt: it is done
	cancelled bool   // it ended cancelled
	errText   string // its error (driver.EncodeTaskError); "" for success
	out       []byte // its output, on success
}

// record writes an attempt's times to the task's hash and, when the
// attempt was the last (final), its number and outcome ("error" empty for
// success), frees its unique key and publishes the id to waiters: one
// round trip. asynq moves the task to completed or archived only after the
// handler returns; until then Result reads the outcome from here. A task
// cancelled before it ran has no start time (started zero).
func (b *backend) record(ctx context.Context, id, task string, env *envelope, attempt int, started time.Time, o outcome) {
	key := timesPrefix + id
	pipe := b.rc.TxPipeline() // one step: a reader sees the whole record or none of it
	if !started.IsZero() {
		pipe.HSet(ctx, key, "started_at", started.UTC().Format(time.RFC3339Nano))
	}
	pipe.HSet(ctx, key, "finished_at", time.Now().UTC().Format(time.RFC3339Nano))
	if o.final {
		// With a small output the record is the whole result, which Result
		// reads in one round trip.
		out := o.out
		if len(out) > maxRecordedOutput {
			out = nil
		}
		status := ""
		if o.cancelled {
			status = string(driver.StatusCancelled)
			queue, _, _ := strings.Cut(id, "/")
			pipe.ZAdd(ctx, cancelledPrefix+queue, redis.Z{Score: float64(time.Now().UnixMilli()), Member: id})
			pipe.Expire(ctx, cancelledPrefix+queue, Retention) // QueueStats trims the older entries
		}
		pipe.HSet(ctx, key, "done", attempt, "error", o.errText, "task", task, "status", status,
			"enqueued_at", env.EnqueuedAt.UTC().Format(time.RFC3339Nano), "output", out, "has_output", out != nil)
		if env.Unique != "" {
			b.unique.Release(ctx, pipe, env.Unique, id)
		}
	}
	pipe.Expire(ctx, key, Retention)
	if o.final {
		pipe.Publish(ctx, doneChannel, id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.logger.Warn("asynq: recording a finished task failed; waiters fall back to polling", "task", id, "err", err)
	}
}

// progress stores a running task's progress in its record (Task.Progress),
// where Result reads it.
func (b *backend) progress(ctx context.Context, id string, p abi.Progress) {
	v, err := json.Marshal(p)
	if err != nil {
		b.logger.Warn("asynq: a task's progress does not encode", "task", id, "err", err)
		return
	}
	pipe := b.rc.TxPipeline()
	pipe.HSet(ctx, timesPrefix+id, "progress", v)
	pipe.Expire(ctx, timesPrefix+id, Retention)
	if _, err := pipe.Exec(ctx); err != nil {
		b.logger.Warn("asynq: storing a task's progress failed", "task", id, "err", err)
	}
}

// slogAdapter sends asynq's log lines to the backend's logger.
type slogAdapter struct{ b *backend }

func (l slogAdapter) Debug(args ...any) { l.b.logger.Debug(fmt.Sprint(args...)) }
func (l slogAdapter) Info(args ...any)  { l.b.logger.Info(fmt.Sprint(args...)) }
func (l slogAdapter) Warn(args ...any)  { l.b.logger.Warn(fmt.Sprint(args...)) }
func (l slogAdapter) Error(args ...any) { l.b.logger.Error(fmt.Sprint(args...)) }
func (l slogAdapter) Fatal(args ...any) { l.b.logger.Error(fmt.Sprint(args...)) }
