package backends

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"taskhost.dev/backends/driver"
)

// checkWorkflow validates a submission: the definition, every task known,
// the input a JSON document.
func (c *Client) checkWorkflow(wf Workflow, input json.RawMessage) error {
	if err := wf.Validate(); err != nil {
		return err
	}
	for _, st := range wf.Stages {
		for _, s := range st.Steps {
			if _, err := c.tasks.Spec(s.Task); err != nil {
				return fmt.Errorf("%w: workflow %q: %w", ErrWorkflowInvalid, wf.Name, err)
			}
		}
	}
	if input != nil && !json.Valid(input) {
		return invalid("workflow %q: the input %q is not a JSON document", wf.Name, clip(input))
	}
	return nil
}

// SubmitWorkflow starts wf with input and returns its id at once; see
// Workflow for how each step's input is made. An invalid definition, or
// one naming an unknown task, matches ErrWorkflowInvalid.
func (c *Client) SubmitWorkflow(ctx context.Context, wf Workflow, input json.RawMessage) (string, error) {
	if err := c.checkWorkflow(wf, input); err != nil {
		return "", fmt.Errorf("%s: %w", c.Engine(), err)
	}
	switch d := c.drv.(type) {
	case driver.Workflows:
		return d.SubmitWorkflow(ctx, wf, input)
	case driver.FlowStore:
		id := newFlowID()
		if err := d.CreateFlow(ctx, id, wf); err != nil {
			return "", fmt.Errorf("%s: submit workflow %q: %w", c.Engine(), wf.Name, err)
		}
		jobs, err := driver.StageJobs(&c.tasks, &wf, id, 0, input)
		if err == nil {
			driver.InjectTrace(ctx, jobs...)
			err = d.EnqueueStage(ctx, id, 0, jobs)
		}
		if err != nil {
			return "", fmt.Errorf("%s: submit workflow %q: %w", c.Engine(), wf.Name, err)
		}
		return id, nil
	}
	return "", c.noWorkflows()
}

func (c *Client) noWorkflows() error {
	return &UnsupportedError{Engine: c.Engine(), What: "workflows", Hint: "its driver has neither a workflow construct nor a store for the client's runner"}
}

// newFlowID returns a new workflow id, "wf_" and 24 hex digits.
func newFlowID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "wf_" + hex.EncodeToString(b)
}

// WorkflowResult returns the workflow's state now. An unknown id is
// ErrNotFound.
func (c *Client) WorkflowResult(ctx context.Context, id string) (WorkflowResult, error) {
	switch d := c.drv.(type) {
	case driver.Workflows:
		return d.WorkflowResult(ctx, id)
	case driver.FlowStore:
		rec, err := d.ReadFlow(ctx, id)
		if err != nil {
			return WorkflowResult{ID: id, Engine: c.Engine()}, err
		}
		res := WorkflowResult{ID: id, Workflow: rec.Workflow.Name, Status: rec.Status, Output: rec.Output,
			EnqueuedAt: rec.CreatedAt, FinishedAt: rec.FinishedAt, Engine: c.Engine()}
		if rec.Failed != nil {
			res.Error = rec.Failed.TaskError
		}
		res.Steps, err = driver.StepResults(rec.Workflow, rec.Status, rec.Failed,
			func(stage, index int) (string, bool) {
				tid, ok := rec.TaskIDs[[2]int{stage, index}]
				return tid, ok
			},
			func(tid string) (TaskResult, error) { return c.drv.Result(ctx, tid) })
		for i := range res.Steps {
			// The runner counted the step, and advanced, before the driver
			// recorded its task's end: the step succeeded.
			if s := &res.Steps[i]; !s.Status.Done() {
				if out, ok := rec.Outputs[[2]int{s.Stage, s.Index}]; ok {
					s.Status, s.Output, s.Error = StatusSucceeded, out, nil
				}
			}
		}
		return res, err
	}
	return WorkflowResult{}, c.noWorkflows()
}

// WaitWorkflow blocks until the workflow is done or ctx ends.
func (c *Client) WaitWorkflow(ctx context.Context, id string) (WorkflowResult, error) {
	return waitFor(ctx, c, id, c.WorkflowResult, func(r WorkflowResult) Status { return r.Status })
}

// DeclareWorkflows tells the engine of the workflows a worker will run, for
// engines that must know them before a worker starts (Hatchet registers a
// DAG with its workers); call it before Work. Other engines need no
// declaration; the definitions are checked all the same.
func (c *Client) DeclareWorkflows(ctx context.Context, wfs ...Workflow) error {
	for _, wf := range wfs {
		if err := c.checkWorkflow(wf, nil); err != nil {
			return fmt.Errorf("%s: declare: %w", c.Engine(), err)
		}
	}
	if d, ok := c.drv.(driver.WorkflowDeclarer); ok && len(wfs) > 0 {
		return d.DeclareWorkflows(ctx, wfs...)
	}
	return nil
}

// flowRunner runs workflows on a driver.FlowStore: it wraps the worker's
// handler, and after a step's handler succeeds records the step and, when
// it ends its stage, enqueues the next stage or ends the workflow; a
// step's last failure fails the workflow. The driver acknowledges the step
// only after, so a crash in between runs the step again (StepDone counts a
// step once, EnqueueStage sends a stage once).
type flowRunner struct {
	c     *Client
	store driver.FlowStore
	h     Handler
}

func (r *flowRunner) ProcessTask(ctx context.Context, t *Task) (json.RawMessage, error) {
	out, err := r.h.ProcessTask(ctx, t)
	if t.Flow == nil {
		return out, err
	}
	bg := context.WithoutCancel(ctx)
	if err != nil {
		if te := driver.ErrorOf(err); !te.Retryable || t.Last() {
			if ferr := r.store.EndFlow(bg, t.Flow.ID, nil, &driver.FailedStep{TaskError: te, Stage: t.Flow.Stage, Index: t.Flow.Index}); ferr != nil {
				r.c.logger.Error("marking a workflow failed", "engine", r.c.Engine(), "workflow", t.Flow.ID, "err", ferr)
			}
		}
		return out, err
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	if err := r.advance(bg, t.Flow, out); err != nil {
		return nil, fmt.Errorf("advancing workflow %s past stage %d step %d: %w: %w (the step runs again)", t.Flow.ID, t.Flow.Stage+1, t.Flow.Index+1, driver.ErrFlowAdvance, err)
	}
	return out, nil
}

func (r *flowRunner) advance(ctx context.Context, ref *driver.FlowRef, out json.RawMessage) error {
	done, err := r.store.StepDone(ctx, *ref, out)
	if err != nil || done == nil {
		return err
	}
	value := driver.StageOutput(done.Outputs)
	next := ref.Stage + 1
	if next == len(done.Workflow.Stages) {
		return r.store.EndFlow(ctx, ref.ID, value, nil)
	}
	jobs, err := driver.StageJobs(&r.c.tasks, &done.Workflow, ref.ID, next, value)
	if err != nil {
		return err
	}
	driver.InjectTrace(ctx, jobs...)
	return r.store.EnqueueStage(ctx, ref.ID, next, jobs)
}
