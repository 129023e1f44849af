package driver

import (
	"context"
	"encoding/json"
	"time"

	"taskhost.dev/abi"
)

// TaskSpec is a task as registered with a client: its defaults.
type TaskSpec struct {
	// Name is the task's name.
	Name string `json:"name"`
	// Queue is the default queue; DefaultQueue when empty.
	Queue string `json:"queue,omitempty"`
	// MaxRetries is how many times a failed attempt is retried.
	MaxRetries int `json:"max_retries"`
	// Timeout caps one attempt; DefaultTimeout when zero.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Backoff is the wait between attempts; the default backoff when zero.
	Backoff Backoff `json:"backoff,omitzero"`
}

// DefaultQueue is the queue of a task registered without one.
const DefaultQueue = "default"

// DefaultTimeout caps an attempt of a task registered without a timeout.
const DefaultTimeout = time.Minute

// DefaultMaxRetries are the retries of a task submitted by a client that
// registered no tasks.
const DefaultMaxRetries = 3

// Job is one submission, resolved: every field is final, defaults applied
// and checked by the client. A driver puts it on its engine as it is.
type Job struct {
	// Task names the task.
	Task string
	// Queue is where the job goes; never empty.
	Queue string
	// Input is the task's JSON input; a valid JSON document.
	Input json.RawMessage
	// MaxRetries is how many times a failed attempt is retried (>= 0).
	MaxRetries int
	// Timeout caps each attempt (> 0).
	Timeout time.Duration
	// Backoff is the wait between attempts, defaults applied.
	Backoff Backoff
	// RunAt, when not zero, is the earliest the job may start.
	RunAt time.Time
	// UniqueKey, when set, makes the job a duplicate while another task
	// with the same key is pending or running: Enqueue then returns that
	// task's id and touches neither task. The key is free again once its
	// task is done (succeeded, failed or cancelled).
	UniqueKey string
	// ID, when set, is the id the job must get (the client's workflow
	// runner derives step ids from the workflow): enqueueing a second job
	// with an ID in use enqueues nothing. Only drivers that implement
	// FlowStore receive it.
	ID string
	// Flow, when set, places the job in a workflow run by the client's
	// runner; the driver hands it back on the Task.
	Flow *FlowRef
	// Meta are a few string pairs the driver carries with the job and hands
	// back on every attempt's Task: the W3C trace context of the submission
	// (traceparent, tracestate), so that a worker's spans are its children.
	Meta map[string]string
}

// FlowRef places a job in a workflow: its id, and the step's stage and
// index in that stage.
type FlowRef struct {
	ID    string `json:"id"`
	Stage int    `json:"stage"`
	Index int    `json:"index"`
}

// Task is one attempt of a task, as a worker hands it to a Handler.
type Task struct {
	// ID is the engine's id of the task.
	ID string
	// Name is the task's name.
	Name string
	// Queue is the queue it came from.
	Queue string
	// Input is the task's JSON input.
	Input json.RawMessage
	// Attempt counts from 1.
	Attempt int
	// MaxRetries is the task's retries: the attempt is the last when
	// Attempt > MaxRetries.
	MaxRetries int
	// Heartbeat tells the engine the task is alive; drivers set it, and it
	// is never nil. Safe to call from the handler's goroutine.
	Heartbeat func()
	// Progress stores the task's progress where the engine keeps it, for
	// Result to return; nil on an engine that cannot. The handler calls it
	// at most every few hundred milliseconds.
	Progress func(abi.Progress)
	// Flow is the workflow step the task runs, if any.
	Flow *FlowRef
	// Meta are the job's Meta, as submitted.
	Meta map[string]string
}

// Last reports whether a failed attempt of t would not be retried.
func (t *Task) Last() bool { return t.Attempt > t.MaxRetries }

// Handler runs tasks for a worker. The error it returns may implement
// Classified to say its kind and whether a retry may help.
type Handler interface {
	ProcessTask(ctx context.Context, t *Task) (json.RawMessage, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, t *Task) (json.RawMessage, error)

// ProcessTask calls f.
func (f HandlerFunc) ProcessTask(ctx context.Context, t *Task) (json.RawMessage, error) {
	return f(ctx, t)
}

// Classified is implemented by handler errors that carry a kind and a retry
// verdict; *TaskError and the host's task error do. Other errors are
// retryable failures.
type Classified interface {
	error
	ErrorKind() abi.Kind
	IsRetryable() bool
}

// Status is where a task is in its life.
type Status string

// The statuses of a task or workflow.
const (
	StatusPending   Status = "pending"   // waiting to run (or scheduled for later)
	StatusRunning   Status = "running"   // an attempt is running
	StatusRetrying  Status = "retrying"  // an attempt failed; another will follow
	StatusSucceeded Status = "succeeded" // done, with an output
	StatusFailed    Status = "failed"    // failed for good
	StatusCancelled Status = "cancelled" // cancelled before it succeeded
)

// Done reports whether the status is final.
func (s Status) Done() bool {
	return s == StatusSucceeded || s == StatusFailed || s == StatusCancelled
}

// TaskResult is a task's state and outcome, the same for every engine.
type TaskResult struct {
	ID     string `json:"id"`
	Task   string `json:"task"`
	Queue  string `json:"queue,omitempty"`
	Status Status `json:"status"`
	// Output is the task's JSON output once it succeeded.
	Output json.RawMessage `json:"output,omitempty"`
	// Error is the last attempt's error, if it failed.
	Error *TaskError `json:"error,omitempty"`
	// Attempts counts the attempts started so far.
	Attempts int `json:"attempts"`
	// Progress is the last progress the task reported, where the engine
	// keeps it.
	Progress *abi.Progress `json:"progress,omitempty"`
	// RunAt is when a delayed task may start, while it waits; zero
	// otherwise.
	RunAt time.Time `json:"run_at,omitzero"`
	// EnqueuedAt, StartedAt and FinishedAt are zero when not known yet.
	EnqueuedAt time.Time `json:"enqueued_at,omitzero"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Engine names the engine that ran it.
	Engine string `json:"engine"`
}

// WorkerConfig is a worker's configuration, resolved by the client: every
// field is set and checked.
type WorkerConfig struct {
	// Queues to take tasks from; never empty, no empty names.
	Queues []string
	// Priorities weighs queues (queue -> weight >= 1, higher first); nil
	// when none is given. A driver without queue priorities refuses a
	// non-nil map with an *UnsupportedError.
	Priorities map[string]int
	// StrictPriority empties higher-weighted queues first.
	StrictPriority bool
	// Concurrency is the most tasks the worker runs at once, over all its
	// queues together (> 0).
	Concurrency int
	// Name identifies the worker to the engine; never empty.
	Name string
	// Grace is how long running tasks may take to finish once the worker's
	// context ends (> 0). The worker stops taking tasks on every queue at
	// once when the drain starts; tasks still running after Grace are
	// cancelled and left to the engine's retry.
	Grace time.Duration
}
