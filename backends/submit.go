package backends

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"taskhost.dev/backends/driver"
)

// SubmitOption changes one submission.
type SubmitOption func(*SubmitOptions)

// SubmitOptions are the options of one submission; zero values mean the
// task's registered defaults. The option functions check their values: a
// bad one makes Submit fail with an error matching ErrInvalid.
type SubmitOptions struct {
	// Queue overrides the task's queue.
	Queue string
	// MaxRetries overrides the task's retries when not nil.
	MaxRetries *int
	// Timeout overrides the task's per-attempt timeout.
	Timeout time.Duration
	// RunAt delays the task until then.
	RunAt time.Time
	// UniqueKey makes the submission a duplicate while a task with the
	// same key is pending or running: Submit then returns that task's id
	// and changes neither task. Once that task is done, the key is free.
	UniqueKey string

	err error // the first bad option
}

func (o *SubmitOptions) fail(format string, args ...any) {
	if o.err == nil {
		o.err = invalid(format, args...)
	}
}

// Queue submits to the named queue.
func Queue(name string) SubmitOption {
	return func(o *SubmitOptions) {
		if name == "" || strings.TrimSpace(name) != name {
			o.fail("Queue(%q): a queue name must be non-empty, without leading or trailing space", name)
		}
		o.Queue = name
	}
}

// MaxRetries sets how many times a failed attempt is retried (0 for none).
func MaxRetries(n int) SubmitOption {
	return func(o *SubmitOptions) {
		if n < 0 {
			o.fail("MaxRetries(%d): retries must be 0 or more", n)
		}
		o.MaxRetries = &n
	}
}

// Timeout caps each attempt.
func Timeout(d time.Duration) SubmitOption {
	return func(o *SubmitOptions) {
		if d <= 0 {
			o.fail("Timeout(%s): a timeout must be positive; omit it for the task's own", d)
		}
		o.Timeout = d
	}
}

// Delay runs the task no earlier than d from now.
func Delay(d time.Duration) SubmitOption {
	return func(o *SubmitOptions) {
		if d < 0 {
			o.fail("Delay(%s): a delay must not be negative", d)
		}
		o.RunAt = time.Now().Add(d)
	}
}

// At runs the task no earlier than t (an ETA).
func At(t time.Time) SubmitOption {
	return func(o *SubmitOptions) {
		if t.IsZero() {
			o.fail("At(zero time): give a time, or omit the option to run at once")
		}
		o.RunAt = t
	}
}

// UniqueKey deduplicates submissions with the same key; see
// SubmitOptions.UniqueKey.
func UniqueKey(key string) SubmitOption {
	return func(o *SubmitOptions) {
		if key == "" {
			o.fail("UniqueKey(\"\"): a unique key must not be empty")
		}
		o.UniqueKey = key
	}
}

// resolve turns a submission into the job a driver enqueues: the task's
// defaults, the options over them, all checked.
func (r *registry) resolve(task string, input json.RawMessage, o *SubmitOptions) (*driver.Job, error) {
	if o.err != nil {
		return nil, fmt.Errorf("submit %q: %w", task, o.err)
	}
	spec, err := r.Spec(task)
	if err != nil {
		return nil, err
	}
	if !json.Valid(input) {
		return nil, invalid("submit %q: the input %q is not a JSON document", task, clip(input))
	}
	j := &driver.Job{Task: spec.Name, Queue: spec.Queue, Input: input, MaxRetries: spec.MaxRetries, Timeout: spec.Timeout,
		Backoff: spec.Backoff, RunAt: o.RunAt, UniqueKey: o.UniqueKey}
	if o.Queue != "" {
		j.Queue = o.Queue
	}
	if o.MaxRetries != nil {
		j.MaxRetries = *o.MaxRetries
	}
	if o.Timeout > 0 {
		j.Timeout = o.Timeout
	}
	return j, nil
}

func clip(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 60 {
		return string(b[:60]) + "..."
	}
	return string(b)
}

// Submit enqueues the named task with a JSON input and returns its id. An
// unknown task is an *UnknownTaskError (when the client registered any); a
// bad option or input matches ErrInvalid; an option the engine cannot
// honour is an *UnsupportedError.
func (c *Client) Submit(ctx context.Context, task string, input json.RawMessage, opts ...SubmitOption) (string, error) {
	var o SubmitOptions
	for _, f := range opts {
		f(&o)
	}
	j, err := c.tasks.resolve(task, input, &o)
	if err != nil {
		return "", err
	}
	ctx, span := startSubmit(ctx, c.Engine(), "submit", task)
	inject(ctx, j)
	id, err := c.drv.Enqueue(ctx, j)
	span.SetAttributes(attributeID(id))
	endSpan(span, err)
	return id, err
}
