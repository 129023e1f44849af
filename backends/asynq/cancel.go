package asynq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// Cancellation on asynq (driver.Canceler). Cancel first marks the task in
// its record (the field cancel of taskhost:times:QUEUE/ID). A task that
// waits (pending, scheduled, retry) is archived with asynq's ArchiveTask,
// so that it never runs and Retry can run it again, and recorded
// cancelled. A running task gets asynq's CancelProcessing: the worker
// running it cancels the attempt's context, which stops the sandbox call.
// asynq then parks the task in retry (retryDelay gives an attempt it
// cancelled parkCancelled) while the handler returns; the worker, finding
// the mark, records the task cancelled and archives it (settle). A cancel
// asynq delivers without the mark (asynqmon's button, say) keeps asynq's
// meaning: the worker puts the task back to run.

// errCancelled is the error a cancelled task ends with.
var errCancelled = &driver.TaskError{Kind: abi.KindCancelled, Message: "the task was cancelled"}

// parkCancelled is how long asynq holds in retry a task whose attempt it
// cancelled, until its worker settles it (archived or put back, within
// milliseconds); it bounds how late a task whose worker died meanwhile
// runs again.
const parkCancelled = time.Hour

// settleWithin bounds how long a worker waits for asynq to take a
// cancelled attempt out of active.
const settleWithin = 10 * time.Second

// Cancel implements driver.Canceler.
func (b *backend) Cancel(ctx context.Context, id string) error {
	queue, taskID, err := splitID(id)
	if err != nil {
		return err
	}
	sent := false
	// A task changes state under us (it starts, or fails into retry):
	// look again, a few times.
	for range 5 {
		// The record first: a task whose handler has returned is done,
		// though asynq may still hold it active for a moment.
		if r, ok := b.recorded(ctx, id); ok {
			if sent && r.Status == driver.StatusCancelled {
				return nil // its worker cancelled it
			}
			return fmt.Errorf("asynq: task %s is %s: %w", id, r.Status, driver.ErrFinished)
		}
		info, err := b.insp.GetTaskInfo(queue, taskID)
		if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
			return fmt.Errorf("asynq: task %s: %w", id, driver.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("asynq: cancel %s: %w", id, err)
		}
		switch info.State {
		case asynq.TaskStateCompleted, asynq.TaskStateArchived:
			if sent && info.State == asynq.TaskStateArchived {
				return nil // archived by its worker, cancelled
			}
			r, err := b.Result(ctx, id)
			if err != nil {
				return err
			}
			return fmt.Errorf("asynq: task %s is %s: %w", id, r.Status, driver.ErrFinished)
		case asynq.TaskStateActive:
			if sent {
				return nil // the worker running it ends it cancelled
			}
			if err := b.markCancel(ctx, id); err != nil {
				return err
			}
			if err := b.insp.CancelProcessing(taskID); err != nil {
				return fmt.Errorf("asynq: cancel %s: sending asynq's cancel: %w", id, err)
			}
			// Look once more: an attempt that failed just before the cancel
			// came is waiting in retry, to be archived here.
			sent = true
		default: // pending, scheduled, retry, aggregating
			if err := b.markCancel(ctx, id); err != nil {
				return err
			}
			if err := b.insp.ArchiveTask(queue, taskID); err != nil {
				continue // it started (or finished) meanwhile
			}
			var env envelope
			_ = json.Unmarshal(info.Payload, &env)
			b.record(context.WithoutCancel(ctx), id, info.Type, &env, info.Retried, time.Time{}, outcome{final: true, cancelled: true, errText: taskErr{errCancelled}.Error()})
			b.cancelFlowOf(ctx, &env)
			return nil
		}
	}
	if sent {
		return nil
	}
	return fmt.Errorf("asynq: cancel %s: the task kept changing state; try again", id)
}

// markCancel marks the task's record: a cancel is asked for.
func (b *backend) markCancel(ctx context.Context, id string) error {
	pipe := b.rc.TxPipeline()
	pipe.HSet(ctx, timesPrefix+id, "cancel", "1")
	pipe.Expire(ctx, timesPrefix+id, Retention)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("asynq: cancel %s: %w", id, err)
	}
	return nil
}

// cancelMarked reports whether Cancel marked the task.
func (b *backend) cancelMarked(ctx context.Context, id string) bool {
	v, err := b.rc.HGet(ctx, timesPrefix+id, "cancel").Result()
	return err == nil && v == "1"
}

// recorded returns a finished task's result from its record alone.
func (b *backend) recorded(ctx context.Context, id string) (driver.TaskResult, bool) {
	rec, err := b.rc.HGetAll(ctx, timesPrefix+id).Result()
	if err != nil {
		return driver.TaskResult{}, false
	}
	return recordedResult(id, rec)
}

// cancelFlowOf ends cancelled the workflow of a step cancelled on its
// own: no later stage would ever be enqueued.
func (b *backend) cancelFlowOf(ctx context.Context, env *envelope) {
	if env.Flow == nil {
		return
	}
	if _, err := b.CancelFlow(context.WithoutCancel(ctx), env.Flow.ID); err != nil {
		b.logger.Warn("asynq: cancelling the workflow of a cancelled step failed", "workflow", env.Flow.ID, "err", err)
	}
}

// settle finishes what asynq's cancel of an attempt began: once asynq has
// parked the task in retry, a task Cancel marked is archived, another one
// is put back to run. It waits for asynq's move, which follows the cancel
// by milliseconds, polling with a growing interval, at most settleWithin.
// Cancel may archive the task first: then there is nothing left to do.
func (b *backend) settle(ctx context.Context, queue, taskID string, cancelled bool) {
	id := queue + "/" + taskID
	deadline := time.Now().Add(settleWithin)
	for wait := 2 * time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		info, err := b.insp.GetTaskInfo(queue, taskID)
		if err != nil {
			b.logger.Warn("asynq: reading a cancelled task failed", "task", id, "err", err)
			return
		}
		switch info.State {
		case asynq.TaskStateActive:
		case asynq.TaskStateRetry:
			if cancelled {
				err = b.insp.ArchiveTask(queue, taskID)
			} else {
				err = b.insp.RunTask(queue, taskID)
			}
			if err == nil {
				return
			}
			// Moved meanwhile: look again.
		default:
			return
		}
		if time.Now().After(deadline) {
			b.logger.Warn("asynq: a cancelled task was not settled; asynq runs it again within the hour", "task", id, "state", info.State, "err", err, "waited", settleWithin)
			return
		}
		if _, err := driver.Pause(ctx, wait, nil); err != nil {
			return
		}
	}
}
