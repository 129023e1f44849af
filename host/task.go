package host

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"taskhost.dev/abi"
)

// Task is one task a plugin serves, with its settings resolved: module
// metadata, then the manifest's [[plugin.task]] entry, then [defaults].
type Task struct {
	// Name is the name applications submit.
	Name string
	// Function is the plugin's exported function.
	Function string
	// Description is a one-line summary.
	Description string
	// Queue is the default queue.
	Queue string
	// MaxRetries is the number of retries after a failed attempt.
	MaxRetries int
	// Timeout caps one attempt.
	Timeout time.Duration
	// Retry is the wait between attempts, as the manifest sets it (zero
	// fields: the engine's defaults).
	Retry RetryPolicy
	// Plugin serves the task.
	Plugin *Plugin

	textIn, textOut bool
	// command: Function is a WASI command's _start, which reads the input
	// on stdin too; stdoutOut: its stdout is its output (output = "text")
	// unless it sets an Extism output.
	command, stdoutOut bool
	index              int // into instance.funcs
}

// RetryPolicy is a task's wait between attempts: Delay before the first
// retry, doubling each time unless Fixed, at most MaxDelay, plus up to
// Jitter (a fraction) of each wait at random.
type RetryPolicy struct {
	Delay, MaxDelay time.Duration
	Fixed           bool
	Jitter          float64
}

// Invocation describes one attempt of a task to the plugin and the host.
type Invocation struct {
	// ID is the engine's id of the task; it shows in the plugin's log lines.
	ID string
	// Attempt counts from 1; 0 is taken as 1.
	Attempt int
	// Timeout overrides the task's timeout when positive.
	Timeout time.Duration
	// OnProgress, if set, receives the plugin's progress reports and
	// heartbeats; it runs on the calling goroutine and should return quickly.
	OnProgress func(abi.Progress)
	// Stats, if set, receives the call's figures that only the host knows.
	Stats *CallStats
}

// CallStats are one call's figures that only the host knows.
type CallStats struct {
	// Wait is the time spent waiting for an instance (and making one);
	// Run the time the guest ran.
	Wait, Run time.Duration
	// Memory is the instance's linear memory after the call, in bytes.
	Memory uint64
	// LogLinesDropped counts the plugin's log lines over its budget.
	LogLinesDropped int
}

var nullJSON = []byte("null")

// Run runs one attempt of the task in the sandbox. Its output is a JSON
// document owned by the caller. A failure is a *TaskError.
//
// Run is safe to call from many goroutines; at most Limits.PoolSize calls
// run at once per plugin, the others wait for an instance (or for ctx).
func (t *Task) Run(ctx context.Context, input []byte, inv Invocation) ([]byte, error) {
	p := t.Plugin
	if t.textIn {
		var s string
		if err := json.Unmarshal(input, &s); err != nil {
			return nil, t.badInput("input must be a JSON string for this text task")
		}
		input = []byte(s)
	} else if !json.Valid(input) {
		return nil, t.badInput("input is not a valid JSON document")
	}
	if inv.Attempt == 0 {
		inv.Attempt = 1
	}
	timeout := t.Timeout
	if inv.Timeout > 0 {
		timeout = inv.Timeout
	}
	waitStart := time.Now()
	inst, err := p.acquire(ctx)
	if inv.Stats != nil {
		inv.Stats.Wait = time.Since(waitStart)
	}
	if err != nil {
		if errors.Is(err, errRetired) {
			return nil, t.retiredError()
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, &TaskError{Kind: abi.KindCancelled, Task: t.Name, Plugin: p.Name, Message: "canceled while waiting for a free instance: " + cerr.Error(), Retryable: true, Err: err}
		}
		return nil, &TaskError{Kind: abi.KindTrap, Task: t.Name, Plugin: p.Name, Message: "starting an instance: " + err.Error(), Retryable: true, Err: err}
	}
	inst.task, inst.inv = t, inv
	inst.uses++
	runStart := time.Now()
	out, err := inst.callRaw(ctx, inst.funcs[t.index], t.Function, input, timeout)
	if st := inv.Stats; st != nil {
		st.Run = time.Since(runStart)
		st.LogLinesDropped = inst.logs.dropped
		if inst.mod != nil {
			if mem := inst.mod.Memory(); mem != nil {
				st.Memory = uint64(mem.Size())
			}
		}
	}
	if err == nil {
		out, err = t.finishOutput(out)
	}
	p.release(inst)
	return out, err
}

// finishOutput copies the output out of the instance's memory as JSON.
func (t *Task) finishOutput(out []byte) ([]byte, error) {
	if t.textOut {
		b, err := json.Marshal(string(out))
		return b, err
	}
	if len(out) == 0 {
		return nullJSON, nil
	}
	if !json.Valid(out) {
		return nil, &TaskError{Kind: abi.KindFailed, Task: t.Name, Plugin: t.Plugin.Name,
			Message: fmt.Sprintf("output is not a JSON document (%d bytes starting %q); declare output = \"text\" in the manifest for a plugin that returns text", len(out), truncate(out, 40))}
	}
	return append([]byte(nil), out...), nil
}

func (t *Task) badInput(msg string) error {
	return &TaskError{Kind: abi.KindBadInput, Task: t.Name, Plugin: t.Plugin.Name, Message: msg}
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
