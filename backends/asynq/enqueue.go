package asynq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/hibiken/asynq"

	"taskhost.dev/backends/driver"
)

// envelope is an asynq task's payload.
type envelope struct {
	Input      json.RawMessage `json:"input"`
	EnqueuedAt time.Time       `json:"enqueued_at"`
	Timeout    time.Duration   `json:"timeout,omitempty"`
	// Unique is the task's unique key, released when it is done.
	Unique string `json:"unique,omitempty"`
	// Flow is the workflow step the task runs.
	Flow *driver.FlowRef `json:"wf,omitempty"`
	// Reserve says that the task's asynq MaxRetry is one above its
	// task's retries (every task enqueued by this version; a workflow step
	// always had it). The reserve lets an attempt that did not run run
	// all the same: one whose lease expired because its worker never
	// learned it had dequeued it (a Redis stall in the middle of the
	// dequeue) or died, or a step whose workflow bookkeeping failed (asynq
	// archives a task whose retries are spent, counted or not). The
	// worker applies the task's own retries.
	Reserve bool `json:"reserve,omitempty"`
	// Meta is the job's driver.Job.Meta (its trace context, for one).
	Meta map[string]string `json:"meta,omitempty"`
	// Backoff is the task's own wait between attempts; nil for the
	// default (driver.RetryDelay).
	Backoff *driver.Backoff `json:"backoff,omitempty"`
}

// taskKey is asynq's hash of a task (its internal base.TaskKey), whose
// field state is the task's state.
func taskKey(queue, id string) string { return "asynq:{" + queue + "}:t:" + id }

// Enqueue implements driver.Driver.
func (b *backend) Enqueue(ctx context.Context, j *driver.Job) (string, error) {
	id, err := b.enqueue(ctx, j)
	if err != nil {
		return "", fmt.Errorf("asynq: submit %q: %w", j.Task, err)
	}
	return id, nil
}

// enqueue puts a job on its queue. A job with an ID gets it as its asynq
// task id, and enqueueing it again enqueues nothing; a job with a unique
// key held by a live task returns that task's id.
func (b *backend) enqueue(ctx context.Context, j *driver.Job) (string, error) {
	payload, err := json.Marshal(envelope{Input: j.Input, EnqueuedAt: time.Now().UTC(), Timeout: j.Timeout, Unique: j.UniqueKey, Flow: j.Flow, Meta: j.Meta, Backoff: j.Backoff.Custom(), Reserve: true})
	if err != nil {
		return "", err
	}
	retries := j.MaxRetries + 1 // the reserve (see envelope.Reserve)
	// asynq counts timeouts and times in whole seconds: its own timeout is
	// rounded up (the exact one applies in the worker), and a delayed task
	// runs at the next whole second, never early.
	opts := []asynq.Option{asynq.Queue(j.Queue), asynq.MaxRetry(retries), asynq.Timeout(j.Timeout.Truncate(time.Second) + time.Second), asynq.Retention(Retention)}
	if !j.RunAt.IsZero() {
		opts = append(opts, asynq.ProcessAt(j.RunAt.Truncate(time.Second).Add(time.Second)))
	}
	taskID := j.ID
	if j.UniqueKey != "" {
		taskID = uuid.NewString()
		holder, err := b.unique.Claim(ctx, b.rc, j.UniqueKey, j.Queue+"/"+taskID, taskKey(j.Queue, taskID), Retention+max(time.Until(j.RunAt), 0))
		if err != nil {
			return "", fmt.Errorf("unique key %q: %w", j.UniqueKey, err)
		}
		if holder != "" {
			return holder, nil
		}
	}
	if taskID != "" {
		opts = append(opts, asynq.TaskID(taskID))
	}
	info, err := b.client.EnqueueContext(ctx, asynq.NewTask(j.Task, payload), opts...)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict) && j.ID != "":
		return j.Queue + "/" + j.ID, nil // a workflow's step enqueued before: nothing new
	case err != nil:
		if j.UniqueKey != "" {
			if rerr := b.unique.Release(context.WithoutCancel(ctx), b.rc, j.UniqueKey, j.Queue+"/"+taskID).Err(); rerr != nil {
				b.logger.Warn("asynq: releasing the unique key of a task not enqueued failed; it is free within a minute", "key", j.UniqueKey, "err", rerr)
			}
		}
		return "", err
	}
	return info.Queue + "/" + info.ID, nil
}
