package backends

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// What engine adapters share: their task registry, how they store a task
// error in the engine, how they check and report workflows.

// TaskRegistry holds the tasks registered with an adapter. The zero value
// is ready to use and safe for concurrent use.
type TaskRegistry struct {
	mu    sync.RWMutex
	tasks map[string]TaskSpec
}

// Register adds or replaces tasks; an empty queue becomes defaultQueue.
func (r *TaskRegistry) Register(defaultQueue string, tasks ...TaskSpec) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tasks == nil {
		r.tasks = map[string]TaskSpec{}
	}
	for _, t := range tasks {
		if t.Name == "" {
			return errors.New("Register: a task has no name")
		}
		if t.Queue == "" {
			t.Queue = defaultQueue
		}
		r.tasks[t.Name] = t
	}
	return nil
}

// Spec returns the registered task. With nothing registered any name is
// accepted (defaultQueue, 3 retries), so a client that registers nothing
// can still submit; otherwise an unknown name is an *UnknownTaskError.
func (r *TaskRegistry) Spec(task, defaultQueue string) (TaskSpec, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if t, ok := r.tasks[task]; ok {
		return t, nil
	}
	if len(r.tasks) == 0 {
		return TaskSpec{Name: task, Queue: defaultQueue, MaxRetries: 3}, nil
	}
	known := make([]string, 0, len(r.tasks))
	for n := range r.tasks {
		known = append(known, n)
	}
	sort.Strings(known)
	return TaskSpec{}, &UnknownTaskError{Task: task, Known: known}
}

// All returns every registered task.
func (r *TaskRegistry) All() []TaskSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]TaskSpec, 0, len(r.tasks))
	for _, t := range r.tasks {
		out = append(out, t)
	}
	return out
}

// Queues returns the distinct queues of the registered tasks, sorted.
func (r *TaskRegistry) Queues() []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range r.All() {
		if !seen[t.Queue] {
			seen[t.Queue] = true
			out = append(out, t.Queue)
		}
	}
	sort.Strings(out)
	return out
}

// WorkerQueues returns the queues a worker takes tasks from: opts.Queues,
// else the registered tasks' queues, else def.
func (r *TaskRegistry) WorkerQueues(opts WorkerOptions, def string) []string {
	if len(opts.Queues) > 0 {
		return opts.Queues
	}
	if qs := r.Queues(); len(qs) > 0 {
		return qs
	}
	return []string{def}
}

// EncodeTaskError is how adapters store a task's error in an engine's
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
	kind := "failed"
	switch {
	case strings.Contains(s, "deadline exceeded"), strings.Contains(s, "timeout"):
		kind = "timeout"
	case strings.Contains(s, "panic"):
		kind = "trap"
	}
	return &TaskError{Kind: kind, Message: s, Retryable: true}
}

// CompactJSON returns out without insignificant space (some stores, such
// as PostgreSQL's jsonb, add it), or null when empty.
func CompactJSON(out []byte) json.RawMessage {
	if len(out) == 0 {
		return json.RawMessage("null")
	}
	var b bytes.Buffer
	if json.Compact(&b, out) != nil {
		return out
	}
	return b.Bytes()
}

// CheckWorkflow validates a submission: the definition, every task known
// to spec, the input a JSON document.
func CheckWorkflow(wf Workflow, input json.RawMessage, spec func(task string) error) error {
	if err := wf.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrWorkflowInvalid, err)
	}
	for _, st := range wf.Stages {
		for _, s := range st.Steps {
			if err := spec(s.Task); err != nil {
				return fmt.Errorf("workflow %q: %w", wf.Name, err)
			}
		}
	}
	if !json.Valid(input) {
		return fmt.Errorf("workflow %q: the input is not a valid JSON document", wf.Name)
	}
	return nil
}

// FailedStep is where a workflow failed, as adapters store it beside the
// error: the workflow's error JSON with the step's stage and index.
type FailedStep struct {
	*TaskError
	Stage int `json:"stage"`
	Index int `json:"index"`
}

// StepResults lists a workflow's steps for its result: taskID says which
// steps were submitted and as which task, result reads a task. The step
// named in failedJSON (a FailedStep) shows as failed even before the engine
// finishes its task; steps never submitted of a finished workflow show as
// cancelled.
func StepResults(wf Workflow, status Status, failedJSON string, taskID func(stage, index int) (string, bool), result func(id string) (TaskResult, error)) ([]StepResult, error) {
	failed := [2]int{-1, -1}
	var fe *TaskError
	if failedJSON != "" {
		fe = DecodeTaskError(failedJSON)
		var at struct{ Stage, Index int }
		if json.Unmarshal([]byte(failedJSON), &at) == nil {
			failed = [2]int{at.Stage, at.Index}
		}
	}
	var steps []StepResult
	for i, st := range wf.Stages {
		for j, s := range st.Steps {
			step := StepResult{Stage: i, Index: j, Task: s.Task, Status: StatusPending}
			if id, ok := taskID(i, j); ok {
				step.TaskID = id
				if tr, err := result(id); err == nil {
					step.Status, step.Output, step.Error = tr.Status, tr.Output, tr.Error
				} else if !errors.Is(err, ErrNotFound) {
					return nil, err
				}
			}
			switch {
			case [2]int{i, j} == failed && !step.Status.Done():
				step.Status, step.Error = StatusFailed, fe
			case status.Done() && !step.Status.Done() && step.TaskID == "":
				step.Status = StatusCancelled
			}
			steps = append(steps, step)
		}
	}
	return steps, nil
}

// Pause is the wait between two reads of a waiter: it returns after d, at a
// notice on notice (true; a nil channel never has one), or with ctx's
// error.
func Pause(ctx context.Context, d time.Duration, notice <-chan struct{}) (noticed bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-notice:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// WaitDone is the loop behind every adapter's Wait: read the state, and
// until it is final, block in wait (an engine notice or the next poll).
// The caller subscribes before calling, so no notice is missed between a
// read and the wait.
func WaitDone[R any](ctx context.Context, read func(context.Context) (R, Status, error), wait func(context.Context) error) (R, error) {
	for {
		r, status, err := read(ctx)
		if err != nil || status.Done() {
			return r, err
		}
		if err := wait(ctx); err != nil {
			return r, err
		}
	}
}
