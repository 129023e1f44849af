package backends

import "taskhost.dev/backends/driver"

// The types an application shares with the engine drivers, defined once in
// backends/driver.
type (
	// TaskSpec is a task as registered: its default queue, retries and
	// timeout.
	TaskSpec = driver.TaskSpec
	// Backoff is a task's wait between attempts (TaskSpec.Backoff).
	Backoff = driver.Backoff
	// TaskResult is a task's state and outcome, the same for every engine.
	TaskResult = driver.TaskResult
	// TaskError is a task's failure: its kind, message and retry verdict.
	TaskError = driver.TaskError
	// Status is where a task or workflow is in its life.
	Status = driver.Status
	// Task is one attempt of a task, as a worker hands it to a Handler.
	Task = driver.Task
	// Handler runs tasks for a worker.
	Handler = driver.Handler
	// HandlerFunc adapts a function to Handler.
	HandlerFunc = driver.HandlerFunc
	// Classified is implemented by handler errors that carry a kind and a
	// retry verdict.
	Classified = driver.Classified
	// Workflow is a sequence of stages; see driver.Workflow for the input
	// rule.
	Workflow = driver.Workflow
	// Stage is one step, or several steps run in parallel.
	Stage = driver.Stage
	// Step is one task of a workflow.
	Step = driver.Step
	// WorkflowResult is a workflow's state, with every step's.
	WorkflowResult = driver.WorkflowResult
	// StepResult is one step's state in a WorkflowResult.
	StepResult = driver.StepResult
	// UnsupportedError says that an engine cannot honour an option or an
	// operation, and what to do instead.
	UnsupportedError = driver.UnsupportedError
	// UnknownTaskError is returned for a task no one registered.
	UnknownTaskError = driver.UnknownTaskError
)

// The statuses of a task or workflow.
const (
	StatusPending   = driver.StatusPending
	StatusRunning   = driver.StatusRunning
	StatusRetrying  = driver.StatusRetrying
	StatusSucceeded = driver.StatusSucceeded
	StatusFailed    = driver.StatusFailed
	StatusCancelled = driver.StatusCancelled
)

// Sentinel errors, matched with errors.Is.
var (
	// ErrNotFound is returned for an id the engine does not know.
	ErrNotFound = driver.ErrNotFound
	// ErrUnsupported is matched by every *UnsupportedError.
	ErrUnsupported = driver.ErrUnsupported
	// ErrWorkflowInvalid is matched by errors from invalid workflow
	// definitions.
	ErrWorkflowInvalid = driver.ErrWorkflowInvalid
	// ErrInvalid is matched by errors from invalid options or specs (a
	// negative retry count, an empty queue name, ...).
	ErrInvalid = errInvalid
)

// NewWorkflow starts a workflow definition; add stages with Then and
// Parallel.
func NewWorkflow(name string) *Workflow { return driver.NewWorkflow(name) }

// ErrorOf classifies a handler's error as a TaskError (kind, message,
// retry verdict); see driver.ErrorOf.
func ErrorOf(err error) *TaskError { return driver.ErrorOf(err) }
