package backends

import (
	"bytes"
	"context"
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

// Validate checks the definition: at least one stage, no empty stage, task
// names present, params JSON objects.
func (w *Workflow) Validate() error {
	if len(w.Stages) == 0 {
		return fmt.Errorf("workflow %q has no steps", w.Name)
	}
	for i, st := range w.Stages {
		if len(st.Steps) == 0 {
			return fmt.Errorf("workflow %q: stage %d has no steps", w.Name, i+1)
		}
		for j, s := range st.Steps {
			if s.Task == "" {
				return fmt.Errorf("workflow %q: stage %d step %d names no task", w.Name, i+1, j+1)
			}
			if len(s.Params) > 0 {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(s.Params, &m); err != nil {
					return fmt.Errorf("workflow %q: stage %d step %d (%s): params must be a JSON object", w.Name, i+1, j+1, s.Task)
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

// Workflows is implemented by backends that run workflows natively.
type Workflows interface {
	// SubmitWorkflow starts wf with input and returns its id at once.
	SubmitWorkflow(ctx context.Context, wf Workflow, input json.RawMessage) (string, error)
	// WorkflowResult returns the workflow's state now.
	WorkflowResult(ctx context.Context, id string) (WorkflowResult, error)
	// WaitWorkflow blocks until the workflow is done or ctx ends.
	WaitWorkflow(ctx context.Context, id string) (WorkflowResult, error)
}

// AsWorkflows returns b's workflow support, or an *UnsupportedError.
func AsWorkflows(b Backend) (Workflows, error) {
	if w, ok := b.(Workflows); ok {
		return w, nil
	}
	return nil, &UnsupportedError{Engine: b.Engine(), What: "workflows"}
}

// WorkflowDeclarer is implemented by backends whose engine must know a
// workflow before a worker starts: Hatchet registers a DAG's steps with
// the workers that run them when they start, and a started worker takes
// no new ones. Declare every workflow to be run before Work (the host's
// worker declares the manifest's); other engines need no declaration.
type WorkflowDeclarer interface {
	DeclareWorkflows(wfs ...Workflow) error
}

// DeclareWorkflows declares wfs to b when its engine needs it (see
// WorkflowDeclarer), and does nothing otherwise.
func DeclareWorkflows(b Backend, wfs ...Workflow) error {
	if d, ok := b.(WorkflowDeclarer); ok && len(wfs) > 0 {
		return d.DeclareWorkflows(wfs...)
	}
	return nil
}

// ErrWorkflowInvalid is matched by errors from invalid workflow definitions.
var ErrWorkflowInvalid = errors.New("invalid workflow")
