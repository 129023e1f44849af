package backends

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// Backend is one task engine seen through the four operations every engine
// offers: register tasks, submit a task, read its result, run a worker.
// Implementations are safe for concurrent use.
type Backend interface {
	// Engine returns the engine's name, as registered ("river", "asynq").
	Engine() string
	// Register declares the tasks this process knows, with their default
	// queue, retries and timeout. A worker serves only registered tasks;
	// Submit refuses a task that is not registered, when any are.
	Register(tasks ...TaskSpec) error
	// Submit enqueues the named task with a JSON input and returns its id.
	// An option the engine cannot honour is an *UnsupportedError.
	Submit(ctx context.Context, task string, input json.RawMessage, opts ...SubmitOption) (string, error)
	// Result returns the task's state now, without waiting. An unknown id
	// is ErrNotFound.
	Result(ctx context.Context, id string) (TaskResult, error)
	// Wait blocks until the task succeeded, failed or was cancelled, or ctx
	// ends, using the engine's own notification where it has one.
	Wait(ctx context.Context, id string) (TaskResult, error)
	// Work runs a worker on opts.Queues until ctx ends, then stops taking
	// tasks and lets the running ones finish within opts.Grace.
	Work(ctx context.Context, opts WorkerOptions, h Handler) error
	// Close releases the backend's connections.
	Close() error
}

// TaskSpec is a task as registered with an engine.
type TaskSpec struct {
	// Name is the task's name.
	Name string
	// Queue is the default queue; "default" when empty.
	Queue string
	// MaxRetries is how many times a failed attempt is retried.
	MaxRetries int
	// Timeout caps one attempt; the engine's default when zero.
	Timeout time.Duration
}

// SubmitOption changes one submission.
type SubmitOption func(*SubmitOptions)

// SubmitOptions are the options of one submission; zero values mean the
// task's registered defaults.
type SubmitOptions struct {
	// Queue overrides the task's queue.
	Queue string
	// MaxRetries overrides the task's retries when not nil.
	MaxRetries *int
	// Timeout overrides the task's per-attempt timeout.
	Timeout time.Duration
	// RunAt delays the task until then.
	RunAt time.Time
	// UniqueKey makes the submission a no-op while a task with the same key
	// is pending or running; Submit then returns that task's id.
	UniqueKey string
}

// Queue submits to the named queue.
func Queue(name string) SubmitOption { return func(o *SubmitOptions) { o.Queue = name } }

// MaxRetries sets how many times a failed attempt is retried.
func MaxRetries(n int) SubmitOption { return func(o *SubmitOptions) { o.MaxRetries = &n } }

// Timeout caps each attempt.
func Timeout(d time.Duration) SubmitOption { return func(o *SubmitOptions) { o.Timeout = d } }

// Delay runs the task no earlier than d from now.
func Delay(d time.Duration) SubmitOption {
	return func(o *SubmitOptions) { o.RunAt = time.Now().Add(d) }
}

// At runs the task no earlier than t (an ETA).
func At(t time.Time) SubmitOption { return func(o *SubmitOptions) { o.RunAt = t } }

// UniqueKey deduplicates submissions with the same key.
func UniqueKey(key string) SubmitOption { return func(o *SubmitOptions) { o.UniqueKey = key } }

// ApplySubmitOptions folds opts into one SubmitOptions.
func ApplySubmitOptions(opts []SubmitOption) SubmitOptions {
	var o SubmitOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WorkerOptions configure Backend.Work.
type WorkerOptions struct {
	// Queues to take tasks from; the queues of the registered tasks when
	// empty.
	Queues []string
	// Priorities weighs queues (queue -> weight, higher first); engines
	// without queue priorities refuse it with an *UnsupportedError. Queues
	// missing here weigh 1.
	Priorities map[string]int
	// StrictPriority empties higher-weighted queues first, instead of
	// sharing by weight.
	StrictPriority bool
	// Concurrency is the most tasks run at once; the adapter's default
	// when zero.
	Concurrency int
	// Name identifies the worker to the engine.
	Name string
	// Grace is how long running tasks may take to finish after ctx ends;
	// 30s when zero. Tasks still running then are cancelled and left to the
	// engine's retry.
	Grace time.Duration
}

// DefaultGrace is the drain period of WorkerOptions.Grace when zero.
const DefaultGrace = 30 * time.Second

// WithDefaults returns the options with a zero Concurrency set to the
// adapter's concurrency and a zero Grace to DefaultGrace.
func (o WorkerOptions) WithDefaults(concurrency int) WorkerOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = concurrency
	}
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	return o
}

// Task is one attempt of a task, as a worker hands it to a Handler.
type Task struct {
	// ID is the engine's id of the task.
	ID string
	// Name is the task's name.
	Name string
	// Input is the task's JSON input.
	Input json.RawMessage
	// Attempt counts from 1.
	Attempt int
	// Heartbeat tells the engine the task is alive; adapters set it, and
	// it is never nil. Safe to call from the handler's goroutine.
	Heartbeat func()
}

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
// verdict; host.TaskError does. Other errors are retryable failures.
type Classified interface {
	error
	ErrorKind() string
	IsRetryable() bool
}

// Pinger is implemented by backends that check that their engine answers
// with a call of its own; health probes use it where a Result of an
// unknown id would not reach the engine.
type Pinger interface {
	Ping(ctx context.Context) error
}

// WebUI is implemented by backends whose engine has a web UI that the
// worker can serve beside its health endpoints (host worker --ui).
type WebUI interface {
	// WebUI returns the UI's handler, serving under prefix, running until
	// ctx ends.
	WebUI(ctx context.Context, prefix string) (http.Handler, error)
}
