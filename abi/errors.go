package abi

import (
	"bytes"
	"encoding/json"
)

// Kind classifies a task failure so that engine adapters can map it onto
// their engine's own retry and error signals.
type Kind string

// The kinds of task failure.
const (
	// KindFailed: the plugin reported an error.
	KindFailed Kind = "failed"
	// KindTimeout: the task ran past its timeout and was stopped.
	KindTimeout Kind = "timeout"
	// KindCancelled: the task was cancelled while it ran (its caller gave up,
	// or it was cancelled through its engine). The status of a task that
	// ended so is "cancelled" too: one spelling.
	KindCancelled Kind = "cancelled"
	// KindOOM: the plugin ran out of its memory limit.
	KindOOM Kind = "oom"
	// KindTrap: the plugin crashed (a WebAssembly trap, a guest panic, a
	// stack overflow, an unexpected exit).
	KindTrap Kind = "trap"
	// KindSandbox: the plugin tried something its capabilities do not allow
	// (a file outside allowed_paths, a host outside allowed_hosts, an output
	// over its limit).
	KindSandbox Kind = "sandbox_violation"
	// KindBadInput: the task's input was refused before or by the plugin.
	KindBadInput Kind = "bad_input"
	// KindUnknownTask: no loaded plugin serves the task.
	KindUnknownTask Kind = "unknown_task"
)

// Retryable reports whether a failure of this kind is worth another attempt
// by default. A plugin's own error (KindFailed, KindBadInput) may override it.
func (k Kind) Retryable() bool {
	switch k {
	case KindFailed, KindTimeout, KindCancelled:
		return true
	}
	return false
}

// Valid reports whether k is one of the kinds above.
func (k Kind) Valid() bool {
	switch k {
	case KindFailed, KindTimeout, KindCancelled, KindOOM, KindTrap, KindSandbox, KindBadInput, KindUnknownTask:
		return true
	}
	return false
}

// Error is the structured form of a plugin's error. A plugin passes it to
// the Extism error call as JSON of the form
//
//	{"taskhost_error": {"message": "...", "kind": "bad_input", "retryable": false}}
//
// Any other error text is a retryable KindFailed error with that text as its
// message, so plain Extism plugins need no change.
type Error struct {
	// Message says what went wrong.
	Message string `json:"message"`
	// Kind is KindFailed or KindBadInput; KindFailed when empty.
	Kind Kind `json:"kind,omitempty"`
	// Retryable says whether another attempt may succeed; when nil the
	// kind's default applies.
	Retryable *bool `json:"retryable,omitempty"`
}

type errorEnvelope struct {
	Error *Error `json:"taskhost_error"`
}

// EncodeError returns the JSON envelope for e.
func EncodeError(e Error) []byte {
	b, _ := json.Marshal(errorEnvelope{Error: &e}) // cannot fail: plain strings and bools
	return b
}

var envelopePrefix = []byte(`{"taskhost_error"`)

// DecodeError parses a plugin's error text. Text that is not an envelope, or
// an envelope whose kind a plugin may not claim, becomes a KindFailed error
// carrying the whole text. The result's Kind is never empty and its
// Retryable is never nil.
func DecodeError(text []byte) Error {
	e := Error{Message: string(text), Kind: KindFailed}
	if trimmed := bytes.TrimSpace(text); bytes.HasPrefix(trimmed, envelopePrefix) {
		var env errorEnvelope
		if json.Unmarshal(trimmed, &env) == nil && env.Error != nil {
			e = *env.Error
			if e.Kind != KindBadInput {
				e.Kind = KindFailed
			}
		}
	}
	if e.Retryable == nil {
		r := e.Kind.Retryable()
		e.Retryable = &r
	}
	return e
}
