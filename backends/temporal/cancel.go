package temporal

import (
	"context"
	"errors"
	"fmt"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// Cancellation on Temporal is workflow cancellation: Cancel requests the
// cancellation of the task's taskhost.task workflow (CancelWorkflow of
// that execution). The workflow's next task sees it: an activity not yet
// started is never started, a running one is asked to stop, and the
// workflow closes cancelled at once (the activity's cancellation is not
// waited for). The running activity learns of it in the answer to its
// next heartbeat (every heartbeatEvery), which cancels the attempt's
// context; its late failure is not recorded, so the task is not retried.

// Cancel implements driver.Canceler.
func (b *backend) Cancel(ctx context.Context, id string) error {
	if flow, _, ok := stepID(id); ok {
		return &driver.UnsupportedError{Engine: Engine, What: "cancelling one step of a workflow",
			Hint: fmt.Sprintf("a step is an activity of its workflow, which Temporal cancels as a whole: cancel workflow %s", flow)}
	}
	ei, err := b.describe(ctx, id, taskWorkflow)
	if err != nil {
		return err
	}
	return b.cancel(ctx, "task", id, ei)
}

// CancelWorkflow implements driver.WorkflowCanceler: the cancellation of
// the taskhost.workflow execution, whose running steps' activities are
// cancelled as a task's are, and whose later stages never start.
func (b *backend) CancelWorkflow(ctx context.Context, id string) error {
	ei, err := b.describe(ctx, id, flowWorkflow)
	if err != nil {
		return err
	}
	return b.cancel(ctx, "workflow", id, ei)
}

// cancel requests the cancellation of the execution ei describes.
func (b *backend) cancel(ctx context.Context, what, id string, ei *executionInfo) error {
	if ei.status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return fmt.Errorf("temporal: %s %s is %s: %w", what, id, closedStatus(ei.status), driver.ErrFinished)
	}
	err := b.c.CancelWorkflow(ctx, ei.workflowID, ei.runID)
	var nf *serviceerror.NotFound
	var cr *serviceerror.CancellationAlreadyRequested
	switch {
	case err == nil, errors.As(err, &cr):
		return nil
	case errors.As(err, &nf):
		// Closed since it was described (Temporal's answer for a run that
		// is no longer open).
		return fmt.Errorf("temporal: %s %s finished before it could be cancelled: %w", what, id, driver.ErrFinished)
	}
	return fmt.Errorf("temporal: cancelling %s %s: %w", what, id, err)
}

// closedStatus names a closed execution's status as a task's.
func closedStatus(s enumspb.WorkflowExecutionStatus) driver.Status {
	switch s {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		return driver.StatusSucceeded
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		return driver.StatusCancelled
	}
	return driver.StatusFailed
}

// stepID splits a workflow step's task id, WORKFLOW_ID/STAGE.INDEX, into
// its workflow's id and its activity id.
func stepID(id string) (flow, step string, ok bool) {
	flow, step, ok = strings.Cut(id, "/")
	if !ok || !strings.HasPrefix(flow, "wf-") {
		return "", "", false
	}
	var i, j int
	if n, err := fmt.Sscanf(step, "%d.%d", &i, &j); err != nil || n != 2 || fmt.Sprintf("%d.%d", i, j) != step {
		return "", "", false
	}
	return flow, step, true
}

// stepResult is Result for a workflow step: the step as its workflow
// reports it, with its activity's attempt, start and progress while the
// workflow runs it.
func (b *backend) stepResult(ctx context.Context, id, flow, step string) (driver.TaskResult, error) {
	ei, err := b.describe(ctx, flow, flowWorkflow)
	if err != nil {
		return driver.TaskResult{}, fmt.Errorf("temporal: step %s: %w", id, err)
	}
	wr, err := b.WorkflowResult(ctx, flow)
	if err != nil {
		return driver.TaskResult{}, err
	}
	r := driver.TaskResult{ID: id, Status: driver.StatusPending, EnqueuedAt: ei.start, Engine: Engine}
	found := false
	for _, s := range wr.Steps {
		if s.TaskID == id || fmt.Sprintf("%d.%d", s.Stage, s.Index) == step {
			found = true
			r.Task, r.Status, r.Output, r.Error = s.Task, s.Status, s.Output, s.Error
		}
	}
	if !found {
		return r, fmt.Errorf("temporal: workflow %s has no step %s: %w", flow, step, driver.ErrNotFound)
	}
	if r.Status.Done() {
		r.FinishedAt = wr.FinishedAt
		if r.Status == driver.StatusCancelled && r.Error == nil {
			r.Error = &driver.TaskError{Kind: abi.KindCancelled, Message: "its workflow was cancelled"}
		}
	}
	for _, pa := range ei.pending {
		if pa.GetActivityId() != step {
			continue
		}
		r.Attempts, r.Progress = int(pa.GetAttempt()), progressOf(pa)
		if t := pa.GetLastStartedTime(); t != nil {
			r.StartedAt = t.AsTime()
		}
		if pa.GetState() == enumspb.PENDING_ACTIVITY_STATE_SCHEDULED {
			r.Status = driver.StatusPending
			if pa.GetAttempt() > 1 {
				r.Status = driver.StatusRetrying
			}
		}
	}
	return r, nil
}
