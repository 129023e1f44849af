package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"taskhost.dev/abi"
)

// ErrNotFound is returned (wrapped) for an id the engine does not know.
var ErrNotFound = errors.New("not found")

// ErrUnsupported is matched (errors.Is) by every *UnsupportedError.
var ErrUnsupported = errors.New("unsupported")

// UnsupportedError says that an engine cannot honour an option or an
// operation, and what to do instead.
type UnsupportedError struct {
	Engine string // the engine
	What   string // the option or operation
	Hint   string // what to do instead, if anything
}

func (e *UnsupportedError) Error() string {
	s := fmt.Sprintf("%s: %s is not supported by this engine", e.Engine, e.What)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// TaskError is a task's failure as stored by an engine.
type TaskError struct {
	// Kind classifies the failure (abi.KindFailed, abi.KindTimeout, ...).
	Kind      abi.Kind `json:"kind"`
	Message   string   `json:"message"`
	Retryable bool     `json:"retryable"`
}

func (e *TaskError) Error() string { return string(e.Kind) + ": " + e.Message }

// TaskMessage returns the message alone.
func (e *TaskError) TaskMessage() string { return e.Message }

// ErrorKind implements Classified.
func (e *TaskError) ErrorKind() abi.Kind { return e.Kind }

// IsRetryable implements Classified.
func (e *TaskError) IsRetryable() bool { return e.Retryable }

// ErrorOf classifies a handler's error: a Classified error keeps its kind
// and verdict; a context error is a retryable timeout or cancellation;
// anything else is a retryable failure. It returns nil for nil.
func ErrorOf(err error) *TaskError {
	if err == nil {
		return nil
	}
	var te *TaskError
	if errors.As(err, &te) {
		return te
	}
	var c Classified
	if errors.As(err, &c) {
		return &TaskError{Kind: c.ErrorKind(), Message: messageOf(err), Retryable: c.IsRetryable()}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &TaskError{Kind: abi.KindTimeout, Message: err.Error(), Retryable: true}
	case errors.Is(err, context.Canceled):
		return &TaskError{Kind: abi.KindCancelled, Message: err.Error(), Retryable: true}
	}
	return &TaskError{Kind: abi.KindFailed, Message: err.Error(), Retryable: true}
}

// messageOf returns a Classified error's own message when it has one.
func messageOf(err error) string {
	var m interface{ TaskMessage() string }
	if errors.As(err, &m) {
		return m.TaskMessage()
	}
	return err.Error()
}

// EncodeTaskError is how drivers store a task's error in an engine's
// error text: the JSON of the TaskError, so that its kind and verdict
// survive. DecodeTaskError reads it back.
func EncodeTaskError(e *TaskError) string {
	b, _ := json.Marshal(e)
	return string(b)
}

// DecodeTaskError reads an error text stored by EncodeTaskError, possibly
// wrapped by the engine ("JobCancelError: {...}", "{...}: skip retry").
// Any other text, such as the engine's own errors, becomes a retryable
// error whose kind is guessed from its words.
func DecodeTaskError(s string) *TaskError {
	if i := strings.IndexByte(s, '{'); i >= 0 {
		var e TaskError
		if json.NewDecoder(strings.NewReader(s[i:])).Decode(&e) == nil && e.Kind != "" {
			return &e
		}
	}
	kind := abi.KindFailed
	switch {
	case strings.Contains(s, "deadline exceeded"), strings.Contains(s, "timeout"):
		kind = abi.KindTimeout
	case strings.Contains(s, "panic"):
		kind = abi.KindTrap
	}
	return &TaskError{Kind: kind, Message: s, Retryable: true}
}

// UnknownTaskError is returned for a task no one registered.
type UnknownTaskError struct {
	Task  string
	Known []string
}

func (e *UnknownTaskError) Error() string {
	return fmt.Sprintf("unknown task %q (registered: %s)", e.Task, strings.Join(e.Known, ", "))
}
