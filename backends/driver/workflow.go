package driver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// A Workflow is a sequence of stages run by the engine, with no caller
// waiting: each stage is one step, or a group of steps run in parallel.
//
// The input rule, the same on every engine:
//
//   - The steps of the first stage receive the workflow's input.
//   - Every later stage receives the previous stage's output: the step's
//     output for a single step, or the JSON array of the group's outputs,
//     in step order, for a parallel group.
//   - A step with Params receives that value with the params added: when
//     the value is a JSON object the params' keys are set on it (replacing
//     keys of the same name); otherwise the step receives
//     {"input": value} with the params' keys added.
//
// The workflow's output is its last stage's output.
type Workflow struct {
	// Name identifies the workflow in listings.
	Name string `json:"name"`
	// Stages run one after another.
	Stages []Stage `json:"stages"`
}

// Stage is one step, or several steps run in parallel.
type Stage struct {
	Steps []Step `json:"steps"`
}

// Step is one task of a workflow.
type Step struct {
	// Task is the task's name.
	Task string `json:"task"`
	// Params is a JSON object merged into the step's input; may be empty.
	Params json.RawMessage `json:"params,omitempty"`
}

// ErrWorkflowInvalid is matched by errors from invalid workflow definitions.
var ErrWorkflowInvalid = errors.New("invalid workflow")

// Validate checks the definition: at least one stage, no empty stage, task
// names present, params JSON objects. Its errors match ErrWorkflowInvalid.
func (w *Workflow) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: workflow %q: %s", ErrWorkflowInvalid, w.Name, fmt.Sprintf(format, args...))
	}
	if len(w.Stages) == 0 {
		return bad("it has no steps")
	}
	for i, st := range w.Stages {
		if len(st.Steps) == 0 {
			return bad("stage %d has no steps", i+1)
		}
		for j, s := range st.Steps {
			if s.Task == "" {
				return bad("stage %d step %d names no task", i+1, j+1)
			}
			if len(s.Params) > 0 {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(s.Params, &m); err != nil || m == nil {
					return bad("stage %d step %d (%s): params must be a JSON object", i+1, j+1, s.Task)
				}
			}
		}
	}
	return nil
}

// StepInput composes a step's input from the value it receives and its
// params, by the rule in the Workflow documentation.
func StepInput(value, params json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(params)) == 0 {
		return value, nil
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, fmt.Errorf("step params must be a JSON object: %w", err)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(value, &obj); err != nil || obj == nil {
		obj = map[string]json.RawMessage{"input": value}
	}
	for k, v := range p {
		obj[k] = v
	}
	return json.Marshal(obj)
}

// StageOutput is the value a stage hands to the next: its single output,
// or the array of its outputs.
func StageOutput(outputs []json.RawMessage) json.RawMessage {
	if len(outputs) == 1 {
		return outputs[0]
	}
	b, _ := json.Marshal(outputs)
	return b
}

// WorkflowResult is a workflow's state, with every step's.
type WorkflowResult struct {
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	// Status is pending, running, succeeded, failed or cancelled.
	Status Status `json:"status"`
	// Output is the last stage's output once the workflow succeeded.
	Output json.RawMessage `json:"output,omitempty"`
	// Error is the error of the step that failed it.
	Error *TaskError `json:"error,omitempty"`
	// Steps lists every step of every stage, in order.
	Steps      []StepResult `json:"steps"`
	EnqueuedAt time.Time    `json:"enqueued_at,omitzero"`
	FinishedAt time.Time    `json:"finished_at,omitzero"`
	Engine     string       `json:"engine"`
}

// StepResult is one step's state in a WorkflowResult.
type StepResult struct {
	Stage int    `json:"stage"`
	Index int    `json:"index"`
	Task  string `json:"task"`
	// TaskID is the engine's id of the step's task, once submitted.
	TaskID string          `json:"task_id,omitempty"`
	Status Status          `json:"status"`
	Output json.RawMessage `json:"output,omitempty"`
	Error  *TaskError      `json:"error,omitempty"`
}

// FailedStep is where a workflow failed, as drivers store it beside the
// error: the step's error with its stage and index.
type FailedStep struct {
	*TaskError
	Stage int `json:"stage"`
	Index int `json:"index"`
}

// StepResults lists a workflow's steps for its result: taskID says which
// steps were submitted and as which task, result reads a task. The step
// named by failed shows as failed even before the engine finishes its
// task; steps never submitted of a finished workflow show as cancelled.
func StepResults(wf Workflow, status Status, failed *FailedStep, taskID func(stage, index int) (string, bool), result func(id string) (TaskResult, error)) ([]StepResult, error) {
	at := [2]int{-1, -1}
	if failed != nil {
		at = [2]int{failed.Stage, failed.Index}
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
			case [2]int{i, j} == at && !step.Status.Done():
				step.Status, step.Error = StatusFailed, failed.TaskError
			case status.Done() && !step.Status.Done() && step.TaskID == "":
				step.Status = StatusCancelled
			}
			steps = append(steps, step)
		}
	}
	return steps, nil
}

// DecodeFailedStep reads a FailedStep stored as JSON; nil for "".
func DecodeFailedStep(s string) *FailedStep {
	if s == "" {
		return nil
	}
	f := &FailedStep{Stage: -1, Index: -1}
	if json.Unmarshal([]byte(s), f) != nil || f.TaskError == nil || f.Kind == "" {
		f.TaskError = DecodeTaskError(s)
	}
	return f
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

// StepTaskID is the task id of a workflow's step, derived from the
// workflow, stage and index, so that enqueueing a stage twice is
// detectable.
func StepTaskID(id string, stage, index int) string {
	return fmt.Sprintf("%s_%d_%d", id, stage, index)
}

// StageJobs resolves the jobs of one stage of wf, run as workflow id: each
// step's input composed from value and its params (StepInput), its task's
// defaults from reg, its Flow set, and its ID derived (StepTaskID).
func StageJobs(reg Registry, wf *Workflow, id string, stage int, value json.RawMessage) ([]*Job, error) {
	steps := wf.Stages[stage].Steps
	jobs := make([]*Job, len(steps))
	for i, step := range steps {
		in, err := StepInput(value, step.Params)
		if err != nil {
			return nil, fmt.Errorf("workflow %q stage %d step %d (%s): %w", wf.Name, stage+1, i+1, step.Task, err)
		}
		j, err := reg.Job(step.Task, in)
		if err != nil {
			return nil, fmt.Errorf("workflow %q stage %d step %d: %w", wf.Name, stage+1, i+1, err)
		}
		j.ID = StepTaskID(id, stage, i)
		j.Flow = &FlowRef{ID: id, Stage: stage, Index: i}
		jobs[i] = j
	}
	return jobs, nil
}

// NewWorkflow starts a workflow definition; add stages with Then and
// Parallel.
func NewWorkflow(name string) *Workflow { return &Workflow{Name: name} }

// Then appends a single-step stage; params, if given, is a JSON object.
func (w *Workflow) Then(task string, params ...string) *Workflow {
	s := Step{Task: task}
	if len(params) > 0 {
		s.Params = json.RawMessage(params[0])
	}
	w.Stages = append(w.Stages, Stage{Steps: []Step{s}})
	return w
}

// Parallel appends a stage whose steps run at once.
func (w *Workflow) Parallel(steps ...Step) *Workflow {
	w.Stages = append(w.Stages, Stage{Steps: steps})
	return w
}
