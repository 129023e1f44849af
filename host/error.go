package host

import (
	"errors"
	"fmt"

	"taskhost.dev/abi"
)

// TaskError is the one error type a task's failure comes back as. Engine
// adapters read Kind and Retryable (through errors.As) to pick their
// engine's own signal: retry, give up, time out.
type TaskError struct {
	// Kind classifies the failure.
	Kind abi.Kind
	// Task and Plugin name what failed.
	Task, Plugin string
	// Message says what went wrong, in the plugin's or the host's words.
	Message string
	// Retryable says whether another attempt may succeed.
	Retryable bool
	// ExitCode is the code a plugin passed to WASI's exit when it was not 0
	// (Kind is then abi.KindFailed); 0 otherwise.
	ExitCode int
	// Err is the underlying runtime error, if any.
	Err error
}

func (e *TaskError) Error() string {
	var s string
	switch {
	case e.Task != "" && e.Plugin != "":
		s = fmt.Sprintf("task %q (plugin %q): ", e.Task, e.Plugin)
	case e.Task != "":
		s = fmt.Sprintf("task %q: ", e.Task)
	}
	return s + string(e.Kind) + ": " + e.Message
}

// Unwrap returns the underlying runtime error.
func (e *TaskError) Unwrap() error { return e.Err }

// ErrorKind returns the failure's kind; with IsRetryable it makes the error a
// backends.Classified, so that engines store its kind and retry verdict.
func (e *TaskError) ErrorKind() abi.Kind { return e.Kind }

// IsRetryable reports whether another attempt may succeed.
func (e *TaskError) IsRetryable() bool { return e.Retryable }

// AsTaskError returns err's TaskError, if it has one.
func AsTaskError(err error) (*TaskError, bool) {
	var te *TaskError
	ok := errors.As(err, &te)
	return te, ok
}

// TaskMessage returns the message without the task and plugin prefix;
// engine adapters store it.
func (e *TaskError) TaskMessage() string { return e.Message }
