package driver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"
)

// Config is what the client passes to a driver's Open.
type Config struct {
	// URL locates the engine: a database URL for River, a Redis URL for
	// asynq and Celery, a host:port for Temporal and Hatchet; empty for the
	// driver's default (its engine's environment variable, documented by
	// each driver).
	URL string
	// Namespace scopes the engine's objects where it has such a notion
	// (Temporal namespace).
	Namespace string
	// Options holds engine-specific settings by name; each driver
	// documents the names it reads and refuses others (CheckOptions).
	Options map[string]string
	// Logger receives the engine's log lines; never nil.
	Logger *slog.Logger
	// Tasks is the client's task registry, read-only: what a worker needs
	// to know of the tasks it serves, and how a driver with native
	// workflows resolves a step's job.
	Tasks Registry
}

// Registry is the client's view of its registered tasks, safe for
// concurrent use. A task registered while a worker runs (a plugin dropped
// in) is visible at once.
type Registry interface {
	// Spec returns the task's spec, defaults applied (a queue, a timeout);
	// an unknown task is an *UnknownTaskError.
	Spec(task string) (TaskSpec, error)
	// Specs returns every registered task, defaults applied.
	Specs() []TaskSpec
	// Job resolves a job of the task with its defaults and input, as Submit
	// would without options: for the steps of a native workflow.
	Job(task string, input json.RawMessage) (*Job, error)
}

// Open opens a driver. It runs once per client.
type Open func(ctx context.Context, cfg Config) (Driver, error)

// Driver is the small interface every engine implements. Implementations
// are safe for concurrent use.
type Driver interface {
	// Engine returns the engine's name, as registered ("river", "asynq").
	Engine() string
	// Enqueue puts a resolved job on the engine and returns its id. A job
	// whose UniqueKey is held (see Job.UniqueKey) returns the holder's id.
	Enqueue(ctx context.Context, j *Job) (string, error)
	// Result returns the task's state now, without waiting. An id the
	// engine does not know, or that is not of the engine's form, is
	// ErrNotFound (wrapped), at once.
	Result(ctx context.Context, id string) (TaskResult, error)
	// Work runs a worker until ctx ends, then drains (see WorkerConfig).
	Work(ctx context.Context, cfg WorkerConfig, h Handler) error
	// Close releases the driver's connections.
	Close() error
}

// Notifier is implemented by drivers whose engine announces a task's or a
// workflow's end (Redis pub/sub, PostgreSQL LISTEN): Subscribe starts
// watching id; wait blocks until the id may have changed (a notice, or a
// poll interval of the driver's choosing) or ctx ends; cancel stops. The
// client subscribes before its first read, so no notice is missed.
// Without a Notifier the client polls.
type Notifier interface {
	Subscribe(id string) (wait func(ctx context.Context) error, cancel func())
}

// Workflows is implemented by drivers that run workflows natively (a
// transaction per step, an engine's own DAG or workflow). The client has
// already checked the definition, its tasks and the input.
type Workflows interface {
	// SubmitWorkflow starts wf with input and returns its id at once.
	SubmitWorkflow(ctx context.Context, wf Workflow, input json.RawMessage) (string, error)
	// WorkflowResult returns the workflow's state now; an unknown id is
	// ErrNotFound.
	WorkflowResult(ctx context.Context, id string) (WorkflowResult, error)
}

// WorkflowDeclarer is implemented by drivers whose engine must know a
// workflow before a worker starts: Hatchet registers a DAG's steps with
// the workers that run them when they start. The client declares every
// workflow a worker will run before Work.
type WorkflowDeclarer interface {
	DeclareWorkflows(ctx context.Context, wfs ...Workflow) error
}

// TaskRegistrar is implemented by drivers whose engine must learn of a
// task registered while a worker runs (Hatchet registers a workflow per
// task with the worker). The client calls it after every Register.
type TaskRegistrar interface {
	TasksChanged(ctx context.Context) error
}

// Pinger is implemented by drivers that check that their engine answers
// with a call of its own; health probes use it.
type Pinger interface {
	Ping(ctx context.Context) error
}

// WebUI is implemented by drivers whose engine has a web UI that a worker
// can serve beside its health endpoints.
type WebUI interface {
	// WebUI returns the UI's handler, serving under prefix, running until
	// ctx ends.
	WebUI(ctx context.Context, prefix string) (http.Handler, error)
}

// QueueDefaulter is implemented by drivers whose engine has a default
// queue of its own (Celery's "celery"): a task registered without a queue
// goes there instead of DefaultQueue.
type QueueDefaulter interface {
	DefaultQueue() string
}

// Lagger is implemented by drivers whose engine may not know an id for a
// moment after handing it out (Hatchet records a run a moment after
// accepting it): the client's Wait reads an id it does not find again for
// up to RecordLag (at most a second) before it returns ErrNotFound.
type Lagger interface {
	RecordLag() time.Duration
}
