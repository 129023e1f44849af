package backends

import (
	"encoding/json"
	"errors"
	"time"
)

// Status is where a task is in its life.
type Status string

// The statuses of a task.
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
	// EnqueuedAt, StartedAt and FinishedAt are zero when not known yet.
	EnqueuedAt time.Time `json:"enqueued_at,omitzero"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	// Engine names the engine that ran it.
	Engine string `json:"engine"`
}

// TaskError is a task's failure as stored by an engine.
type TaskError struct {
	// Kind is one of the abi kinds ("failed", "timeout", "oom", ...).
	Kind      string `json:"kind"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

func (e *TaskError) Error() string { return e.Kind + ": " + e.Message }

// TaskMessage returns the message alone.
func (e *TaskError) TaskMessage() string { return e.Message }

// ErrorKind implements Classified.
func (e *TaskError) ErrorKind() string { return e.Kind }

// IsRetryable implements Classified.
func (e *TaskError) IsRetryable() bool { return e.Retryable }

// ErrorOf classifies a handler's error: a Classified error keeps its kind
// and verdict; a context error is a retryable timeout or cancellation;
// anything else is a retryable failure.
func ErrorOf(err error) *TaskError {
	if err == nil {
		return nil
	}
	var c Classified
	if errors.As(err, &c) {
		return &TaskError{Kind: c.ErrorKind(), Message: messageOf(err), Retryable: c.IsRetryable()}
	}
	switch {
	case errors.Is(err, contextDeadline):
		return &TaskError{Kind: "timeout", Message: err.Error(), Retryable: true}
	case errors.Is(err, contextCanceled):
		return &TaskError{Kind: "canceled", Message: err.Error(), Retryable: true}
	}
	return &TaskError{Kind: "failed", Message: err.Error(), Retryable: true}
}

// messageOf returns a Classified error's own message when it has one.
func messageOf(err error) string {
	var m interface{ TaskMessage() string }
	if errors.As(err, &m) {
		return m.TaskMessage()
	}
	return err.Error()
}
