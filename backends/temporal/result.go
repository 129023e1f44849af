package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// notFound maps Temporal's answers for an unknown or malformed id.
func notFound(what, id string, err error) error {
	var nf *serviceerror.NotFound
	var ia *serviceerror.InvalidArgument
	if errors.As(err, &nf) || errors.As(err, &ia) || id == "" {
		return fmt.Errorf("temporal: %s %q: %w", what, id, driver.ErrNotFound)
	}
	return fmt.Errorf("temporal: reading %s %s: %w", what, id, err)
}

type pendingActivity = workflowpb.PendingActivityInfo

// maxResets bounds the chain of reset runs describe follows.
const maxResets = 100

// executionInfo is what Result needs of an execution's description.
type executionInfo struct {
	workflowID, runID string
	status            enumspb.WorkflowExecutionStatus
	queue             string
	start, close      time.Time
	memo              map[string]string
	pending           []*pendingActivity
}

// describe returns the description of the execution id names (see
// execution), refusing one of another workflow type.
func (b *backend) describe(ctx context.Context, id, wantType string) (*executionInfo, error) {
	what := "task"
	if wantType == flowWorkflow {
		what = "workflow"
	}
	if id == "" {
		return nil, notFound(what, id, nil)
	}
	wid, rid := execution(id)
	d, err := b.c.DescribeWorkflowExecution(ctx, wid, rid)
	if err != nil {
		return nil, notFound(what, id, err)
	}
	// A run reset by Retry names its new run: a task whose id names its
	// run (a keyed task's) follows it.
	for n := 0; rid != "" && n < maxResets; n++ {
		next := d.GetWorkflowExtendedInfo().GetResetRunId()
		if next == "" || next == rid {
			break
		}
		nd, err := b.c.DescribeWorkflowExecution(ctx, wid, next)
		if err != nil {
			break
		}
		d, rid = nd, next
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != wantType {
		return nil, fmt.Errorf("temporal: %s %q is a %s execution: %w", what, id, info.GetType().GetName(), driver.ErrNotFound)
	}
	ei := &executionInfo{
		workflowID: wid,
		runID:      info.GetExecution().GetRunId(),
		status:     info.GetStatus(),
		queue:      info.GetTaskQueue(),
		start:      info.GetStartTime().AsTime(),
		pending:    d.GetPendingActivities(),
	}
	if info.GetCloseTime() != nil {
		ei.close = info.GetCloseTime().AsTime()
	}
	for k, p := range info.GetMemo().GetFields() {
		var s string
		if converter.GetDefaultDataConverter().FromPayload(p, &s) == nil {
			if ei.memo == nil {
				ei.memo = map[string]string{}
			}
			ei.memo[k] = s
		}
	}
	return ei, nil
}

// Result implements driver.Driver: Temporal's own records, the pending
// activity of a running task and the history of a finished one.
func (b *backend) Result(ctx context.Context, id string) (driver.TaskResult, error) {
	if flow, step, ok := stepID(id); ok {
		return b.stepResult(ctx, id, flow, step)
	}
	ei, err := b.describe(ctx, id, taskWorkflow)
	if err != nil {
		return driver.TaskResult{}, err
	}
	r := driver.TaskResult{ID: id, Task: ei.memo["task"], Queue: ei.queue, EnqueuedAt: ei.start, Engine: Engine}
	if ei.status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return b.running(ctx, ei, r)
	}
	r.FinishedAt = ei.close
	h, err := b.history(ctx, ei)
	if err != nil {
		return r, err
	}
	r.Attempts, r.StartedAt = h.attempt, h.started
	if !h.finished.IsZero() {
		r.FinishedAt = h.finished
	}
	switch ei.status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		r.Status = driver.StatusSucceeded
		r.Output = driver.CompactJSON(h.output)
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		r.Status = driver.StatusCancelled
		r.Error = &driver.TaskError{Kind: abi.KindCancelled, Message: "the Temporal workflow was " + strings.ToLower(strings.TrimPrefix(ei.status.String(), "WORKFLOW_EXECUTION_STATUS_"))}
	default:
		r.Status = driver.StatusFailed
		r.Error = h.err
		if r.Error == nil {
			r.Error = &driver.TaskError{Kind: abi.KindFailed, Message: "the Temporal workflow " + strings.ToLower(ei.status.String())}
		}
	}
	return r, nil
}

// running fills r for a running taskhost.task workflow.
func (b *backend) running(ctx context.Context, ei *executionInfo, r driver.TaskResult) (driver.TaskResult, error) {
	r.Status = driver.StatusPending
	if len(ei.pending) == 0 {
		// The activity may be done while the workflow waits for a worker
		// to record it (all workers stopped just then): the history says
		// so.
		h, err := b.history(ctx, ei)
		if err != nil {
			return r, err
		}
		if h.activityDone {
			r.Attempts, r.StartedAt, r.FinishedAt = h.attempt, h.started, h.finished
			r.Status, r.Output, r.Error = driver.StatusSucceeded, driver.CompactJSON(h.activityOutput), nil
			if h.activityErr != nil {
				r.Status, r.Output, r.Error = driver.StatusFailed, nil, h.activityErr
			}
		}
		return r, nil
	}
	pa := ei.pending[0]
	r.Attempts = int(pa.GetAttempt())
	switch pa.GetState() {
	case enumspb.PENDING_ACTIVITY_STATE_STARTED, enumspb.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
		r.Status = driver.StatusRunning
		if t := pa.GetLastStartedTime(); t != nil {
			r.StartedAt = t.AsTime()
		}
	default:
		if pa.GetAttempt() > 1 {
			r.Status = driver.StatusRetrying
			r.Attempts = int(pa.GetAttempt()) - 1
		} else {
			r.Attempts = 0
		}
	}
	if f := pa.GetLastFailure(); f != nil {
		r.Error = taskErrorOf(f)
	}
	r.Progress = progressOf(pa)
	return r, nil
}

// progressOf reads the progress a running activity last reported: its
// last heartbeat's details (see runActivity).
func progressOf(pa *pendingActivity) *abi.Progress {
	d := pa.GetHeartbeatDetails()
	if len(d.GetPayloads()) == 0 {
		return nil
	}
	var p abi.Progress
	if converter.GetDefaultDataConverter().FromPayloads(d, &p) != nil {
		return nil
	}
	return &p
}

// Subscribe implements driver.Notifier with Temporal's own long poll of a
// workflow's close (the SDK's GetWorkflow(...).Get): the first wait
// returns when the execution closes (or is unknown); later ones, which
// only a reader that still sees it open makes, poll from 2 ms doubling to
// 100 ms.
func (b *backend) Subscribe(id string) (wait func(ctx context.Context) error, cancel func()) {
	wid, rid := execution(id)
	_, _, step := stepID(id)
	closed := step // a step ends before its workflow closes: poll it
	interval := 2 * time.Millisecond
	return func(ctx context.Context) error {
		if !closed {
			closed = true
			err := b.c.GetWorkflow(ctx, wid, rid).Get(ctx, nil)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			_ = err // the execution's own outcome, which the next read reports
			return nil
		}
		d := interval
		interval = min(2*interval, 100*time.Millisecond)
		_, err := driver.Pause(ctx, d, nil)
		return err
	}, func() {}
}

// taskHistory is what Result needs from a task's history.
type taskHistory struct {
	attempt           int
	started, finished time.Time
	output            json.RawMessage
	err               *driver.TaskError

	// The activity's own end, which comes before the workflow's.
	activityDone   bool
	activityOutput json.RawMessage
	activityErr    *driver.TaskError
}

func (b *backend) history(ctx context.Context, ei *executionInfo) (taskHistory, error) {
	var h taskHistory
	it := b.c.GetWorkflowHistory(ctx, ei.workflowID, ei.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return h, notFound("task", ei.workflowID, err)
		}
		h.add(ev)
	}
	return h, nil
}

func (h *taskHistory) add(ev *historypb.HistoryEvent) {
	at := ev.GetEventTime().AsTime()
	switch a := ev.GetAttributes().(type) {
	case *historypb.HistoryEvent_ActivityTaskStartedEventAttributes:
		h.attempt = int(a.ActivityTaskStartedEventAttributes.GetAttempt())
		h.started = at
	case *historypb.HistoryEvent_ActivityTaskCompletedEventAttributes:
		h.activityEnd(at)
		var out json.RawMessage
		if converter.GetDefaultDataConverter().FromPayloads(a.ActivityTaskCompletedEventAttributes.GetResult(), &out) == nil {
			h.activityOutput = out
		}
	case *historypb.HistoryEvent_ActivityTaskFailedEventAttributes:
		h.activityEnd(at)
		h.activityErr = taskErrorOf(a.ActivityTaskFailedEventAttributes.GetFailure())
	case *historypb.HistoryEvent_ActivityTaskTimedOutEventAttributes:
		h.activityEnd(at)
		h.activityErr = taskErrorOf(a.ActivityTaskTimedOutEventAttributes.GetFailure())
	case *historypb.HistoryEvent_WorkflowExecutionCompletedEventAttributes:
		if ps := a.WorkflowExecutionCompletedEventAttributes.GetResult(); ps != nil {
			var out json.RawMessage
			if converter.GetDefaultDataConverter().FromPayloads(ps, &out) == nil {
				h.output = out
			}
		}
	case *historypb.HistoryEvent_WorkflowExecutionFailedEventAttributes:
		h.err = taskErrorOf(a.WorkflowExecutionFailedEventAttributes.GetFailure())
	case *historypb.HistoryEvent_WorkflowExecutionTimedOutEventAttributes:
		h.err = &driver.TaskError{Kind: abi.KindTimeout, Message: "the Temporal workflow timed out", Retryable: true}
	}
}

func (h *taskHistory) activityEnd(at time.Time) {
	h.activityDone, h.finished = true, at
	if h.started.IsZero() || h.started.After(at) {
		h.started = at
	}
}

// taskErrorOf reads a task error from a Temporal failure.
func taskErrorOf(f *failurepb.Failure) *driver.TaskError {
	return taskErrorFrom(temporal.GetDefaultFailureConverter().FailureToError(f))
}

// taskErrorFrom reads a task error from an activity's or a workflow's
// error: the innermost application error (its type is the kind, its first
// detail the task error the worker sent), or a timeout.
func taskErrorFrom(err error) *driver.TaskError {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		var te driver.TaskError
		if ae.HasDetails() && ae.Details(&te) == nil && te.Kind != "" {
			return &te
		}
		kind := abi.Kind(ae.Type())
		if kind == "" {
			kind = abi.KindFailed
		}
		return &driver.TaskError{Kind: kind, Message: ae.Message(), Retryable: !ae.NonRetryable()}
	}
	var to *temporal.TimeoutError
	if errors.As(err, &to) {
		return &driver.TaskError{Kind: abi.KindTimeout, Message: fmt.Sprintf("stopped by its %s timeout", strings.ToLower(strings.TrimPrefix(to.TimeoutType().String(), "TIMEOUT_TYPE_"))), Retryable: true}
	}
	var ce *temporal.CanceledError
	if errors.As(err, &ce) {
		return &driver.TaskError{Kind: abi.KindCancelled, Message: "cancelled", Retryable: true}
	}
	return &driver.TaskError{Kind: abi.KindFailed, Message: err.Error(), Retryable: true}
}
