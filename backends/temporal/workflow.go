package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// flowStep is one step of a taskhost.workflow, with its task's options
// resolved at submission (workflow code must not read the registry).
type flowStep struct {
	Task       string          `json:"task"`
	Params     json.RawMessage `json:"params,omitempty"`
	Queue      string          `json:"queue"`
	Timeout    time.Duration   `json:"timeout"`
	MaxRetries int             `json:"max_retries"`
}

// flowInput is the taskhost.workflow workflow's argument.
type flowInput struct {
	Name   string          `json:"name"`
	Stages [][]flowStep    `json:"stages"`
	Input  json.RawMessage `json:"input"`
}

// flowOutput is what a succeeded taskhost.workflow returns.
type flowOutput struct {
	Output json.RawMessage     `json:"output"`
	Steps  []driver.StepResult `json:"steps"`
}

// stepsQuery names the query a running workflow answers with its steps.
const stepsQuery = "steps"

// runFlow is the taskhost.workflow workflow: it interprets the definition
// it was started with, stage after stage, a stage's steps at once.
func runFlow(ctx workflow.Context, in flowInput) (flowOutput, error) {
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	var steps []driver.StepResult
	for i, st := range in.Stages {
		for j, s := range st {
			steps = append(steps, driver.StepResult{Stage: i, Index: j, Task: s.Task, Status: driver.StatusPending})
		}
	}
	if err := workflow.SetQueryHandler(ctx, stepsQuery, func() ([]driver.StepResult, error) { return steps, nil }); err != nil {
		return flowOutput{}, err
	}
	fail := func(k int, te *driver.TaskError) error {
		if ctx.Err() != nil {
			// Cancelled (CancelWorkflow): the workflow closes cancelled,
			// with its steps; the running ones' activities are asked to
			// stop, and no later stage starts.
			for n := range steps {
				if !steps[n].Status.Done() || steps[n].Error != nil && steps[n].Error.Kind == abi.KindCancelled {
					steps[n].Status = driver.StatusCancelled
					steps[n].Error = &driver.TaskError{Kind: abi.KindCancelled, Message: "its workflow was cancelled"}
				}
			}
			return temporal.NewCanceledError(steps)
		}
		steps[k].Status, steps[k].Error = driver.StatusFailed, te
		for n := range steps {
			if !steps[n].Status.Done() {
				steps[n].Status = driver.StatusCancelled
			}
		}
		s := steps[k]
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("stage %d step %d (%s): %s", s.Stage+1, s.Index+1, s.Task, te.Message), string(te.Kind), nil, steps)
	}
	value, first := in.Input, 0
	for i, st := range in.Stages {
		futures := make([]workflow.Future, len(st))
		for j, s := range st {
			input, err := driver.StepInput(value, s.Params)
			if err != nil {
				return flowOutput{}, fail(first+j, &driver.TaskError{Kind: abi.KindBadInput, Message: err.Error()})
			}
			ao := activityOptions(s.Queue, s.Timeout, s.MaxRetries, nil)
			ao.ActivityID = fmt.Sprintf("%d.%d", i, j)
			steps[first+j].TaskID = id + "/" + ao.ActivityID
			steps[first+j].Status = driver.StatusRunning
			futures[j] = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, ao), s.Task, input)
		}
		outs := make([]json.RawMessage, len(st))
		failed := -1
		for j, f := range futures {
			k := first + j
			if err := f.Get(ctx, &outs[j]); err != nil {
				steps[k].Status, steps[k].Error = driver.StatusFailed, taskErrorFrom(err)
				if failed < 0 {
					failed = k
				}
				continue
			}
			steps[k].Status, steps[k].Output = driver.StatusSucceeded, driver.CompactJSON(outs[j])
		}
		if failed >= 0 {
			return flowOutput{}, fail(failed, steps[failed].Error)
		}
		value = driver.StageOutput(outs)
		first += len(st)
	}
	return flowOutput{Output: driver.CompactJSON(value), Steps: steps}, nil
}

// SubmitWorkflow implements driver.Workflows: it starts the interpreting
// taskhost.workflow with every step's task options resolved from the
// registry (workflow code must not read it).
func (b *backend) SubmitWorkflow(ctx context.Context, wf driver.Workflow, input json.RawMessage) (string, error) {
	in := flowInput{Name: wf.Name, Input: input}
	for _, st := range wf.Stages {
		var stage []flowStep
		for _, s := range st.Steps {
			spec, err := b.tasks.Spec(s.Task)
			if err != nil {
				return "", fmt.Errorf("temporal: submit workflow %q: %w", wf.Name, err)
			}
			stage = append(stage, flowStep{Task: s.Task, Params: s.Params, Queue: spec.Queue, Timeout: spec.Timeout, MaxRetries: spec.MaxRetries})
		}
		in.Stages = append(in.Stages, stage)
	}
	// The workflow runs on its first step's queue: the workers there run it.
	so := client.StartWorkflowOptions{ID: newID("wf-"), TaskQueue: in.Stages[0][0].Queue, Memo: map[string]any{"workflow": wf.Name}}
	run, err := b.c.ExecuteWorkflow(ctx, so, flowWorkflow, in)
	if err != nil {
		return "", fmt.Errorf("temporal: submit workflow %q: %w", wf.Name, err)
	}
	return run.GetID(), nil
}

// WorkflowResult implements driver.Workflows.
func (b *backend) WorkflowResult(ctx context.Context, id string) (driver.WorkflowResult, error) {
	ei, err := b.describe(ctx, id, flowWorkflow)
	if err != nil {
		return driver.WorkflowResult{}, err
	}
	res := driver.WorkflowResult{ID: id, Workflow: ei.memo["workflow"], EnqueuedAt: ei.start, FinishedAt: ei.close, Engine: Engine}
	switch ei.status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING:
		res.Status = driver.StatusRunning
		if v, err := b.c.QueryWorkflow(ctx, id, ei.runID, stepsQuery); err == nil {
			_ = v.Get(&res.Steps)
		}
		return res, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var out flowOutput
		if err := b.c.GetWorkflow(ctx, id, ei.runID).Get(ctx, &out); err != nil {
			return res, fmt.Errorf("temporal: reading workflow %s: %w", id, err)
		}
		res.Status, res.Output, res.Steps = driver.StatusSucceeded, out.Output, out.Steps
		return res, nil
	}
	res.Status = driver.StatusFailed
	if ei.status == enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED || ei.status == enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED {
		res.Status = driver.StatusCancelled
	}
	err = b.c.GetWorkflow(ctx, id, ei.runID).Get(ctx, nil)
	var ae *temporal.ApplicationError
	var ce *temporal.CanceledError
	if errors.As(err, &ce) && ce.HasDetails() {
		_ = ce.Details(&res.Steps)
	} else if errors.As(err, &ae) {
		_ = ae.Details(&res.Steps)
		for _, s := range res.Steps {
			if s.Status == driver.StatusFailed && s.Error != nil {
				res.Error = s.Error
				break
			}
		}
	}
	if res.Error == nil && err != nil {
		res.Error = taskErrorFrom(err)
	}
	return res, nil
}
