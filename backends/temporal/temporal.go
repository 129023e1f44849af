package temporal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"taskhost.dev/backends"
)

// Engine is the name this backend registers under.
const Engine = "temporal"

// DefaultAddress is the Temporal frontend used when neither Config.URL nor
// TEMPORAL_ADDRESS names one; DefaultNamespace likewise.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// The workflow types this backend starts.
const (
	taskWorkflow = "taskhost.task"
	flowWorkflow = "taskhost.workflow"
)

// maxHeartbeatTimeout bounds an activity's heartbeat timeout: a dead
// worker's task is retried after at most this long.
const maxHeartbeatTimeout = 10 * time.Second

func init() { backends.Register(Engine, Open) }

type backend struct {
	c      client.Client
	logger *slog.Logger
	tasks  backends.TaskRegistry
}

// Open connects to the Temporal frontend; see the package documentation.
func Open(ctx context.Context, cfg backends.Config) (backends.Backend, error) {
	if err := cfg.CheckOptions(Engine); err != nil {
		return nil, err
	}
	addr := firstOf(cfg.URL, os.Getenv("TEMPORAL_ADDRESS"), DefaultAddress)
	ns := firstOf(cfg.Namespace, os.Getenv("TEMPORAL_NAMESPACE"), DefaultNamespace)
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: ns, Logger: tlog.NewStructuredLogger(quiet(logger))})
	if err != nil {
		return nil, fmt.Errorf("temporal: connecting to %s (namespace %s): %w (check TEMPORAL_ADDRESS; scripts/temporal-up.sh starts a dev server)", addr, ns, err)
	}
	return &backend{c: c, logger: logger}, nil
}

// quiet drops the SDK's info lines (one per worker start and stop) unless
// the logger is at debug level.
func quiet(l *slog.Logger) *slog.Logger {
	if l.Enabled(context.Background(), slog.LevelDebug) {
		return l
	}
	return slog.New(levelFloor{l.Handler(), slog.LevelWarn})
}

type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}

func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

func (b *backend) Engine() string { return Engine }

func (b *backend) Register(tasks ...backends.TaskSpec) error {
	if err := b.tasks.Register("default", tasks...); err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	return nil
}

func (b *backend) Close() error {
	b.c.Close()
	return nil
}

// taskInput is the taskhost.task workflow's argument.
type taskInput struct {
	Task       string          `json:"task"`
	Input      json.RawMessage `json:"input"`
	Queue      string          `json:"queue"`
	Timeout    time.Duration   `json:"timeout"`
	MaxRetries int             `json:"max_retries"`
}

func newID(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (b *backend) Submit(ctx context.Context, task string, input json.RawMessage, opts ...backends.SubmitOption) (string, error) {
	spec, err := b.tasks.Spec(task, "default")
	if err != nil {
		return "", err
	}
	if !json.Valid(input) {
		return "", fmt.Errorf("temporal: submit %q: the input is not a valid JSON document", task)
	}
	o := backends.ApplySubmitOptions(opts)
	in := taskInput{Task: spec.Name, Input: input, Queue: spec.Queue, Timeout: spec.Timeout, MaxRetries: spec.MaxRetries}
	if o.Queue != "" {
		in.Queue = o.Queue
	}
	if o.MaxRetries != nil {
		in.MaxRetries = *o.MaxRetries
	}
	if o.Timeout > 0 {
		in.Timeout = o.Timeout
	}
	if in.Timeout <= 0 {
		in.Timeout = time.Minute
	}
	so := client.StartWorkflowOptions{
		ID:        newID("task-"),
		TaskQueue: in.Queue,
		Memo:      map[string]any{"task": spec.Name},
	}
	if o.UniqueKey != "" {
		so.ID = "task-u-" + o.UniqueKey
		so.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	}
	if !o.RunAt.IsZero() {
		so.StartDelay = max(time.Until(o.RunAt), time.Millisecond)
	}
	run, err := b.c.ExecuteWorkflow(ctx, so, taskWorkflow, in)
	if err != nil {
		return "", fmt.Errorf("temporal: submit %q: %w", task, err)
	}
	return run.GetID(), nil
}

// notFound maps Temporal's answers for an unknown or malformed id.
func notFound(what, id string, err error) error {
	var nf *serviceerror.NotFound
	var ia *serviceerror.InvalidArgument
	if errors.As(err, &nf) || errors.As(err, &ia) || id == "" {
		return fmt.Errorf("temporal: %s %q: %w", what, id, backends.ErrNotFound)
	}
	return fmt.Errorf("temporal: reading %s %s: %w", what, id, err)
}

// describe returns the execution's description, refusing one of another
// workflow type.
func (b *backend) describe(ctx context.Context, id, wantType string) (*executionInfo, error) {
	what := "task"
	if wantType == flowWorkflow {
		what = "workflow"
	}
	if id == "" {
		return nil, notFound(what, id, nil)
	}
	d, err := b.c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return nil, notFound(what, id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != wantType {
		return nil, fmt.Errorf("temporal: %s %q is a %s execution: %w", what, id, info.GetType().GetName(), backends.ErrNotFound)
	}
	ei := &executionInfo{
		runID:  info.GetExecution().GetRunId(),
		status: info.GetStatus(),
		queue:  info.GetTaskQueue(),
		start:  info.GetStartTime().AsTime(),
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
	if pa := d.GetPendingActivities(); len(pa) > 0 {
		ei.pending = pa
	}
	return ei, nil
}

type pendingActivity = workflowpb.PendingActivityInfo

type executionInfo struct {
	runID        string
	status       enumspb.WorkflowExecutionStatus
	queue        string
	start, close time.Time
	memo         map[string]string
	pending      []*pendingActivity
}

func (b *backend) Result(ctx context.Context, id string) (backends.TaskResult, error) {
	ei, err := b.describe(ctx, id, taskWorkflow)
	if err != nil {
		return backends.TaskResult{}, err
	}
	r := backends.TaskResult{ID: id, Task: ei.memo["task"], Queue: ei.queue, EnqueuedAt: ei.start, Engine: Engine}
	if ei.status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		r.Status = backends.StatusPending
		if len(ei.pending) == 0 {
			// The activity may be done while the workflow waits for a
			// worker to record it (all workers stopped just then): the
			// history says so.
			h, err := b.history(ctx, id, ei.runID)
			if err != nil {
				return r, err
			}
			if h.activityDone {
				r.Attempts, r.StartedAt, r.FinishedAt = h.attempt, h.started, h.finished
				r.Status, r.Output, r.Error = backends.StatusSucceeded, backends.CompactJSON(h.activityOutput), nil
				if h.activityErr != nil {
					r.Status, r.Output, r.Error = backends.StatusFailed, nil, h.activityErr
				}
			}
			return r, nil
		}
		pa := ei.pending[0]
		r.Attempts = int(pa.GetAttempt())
		switch pa.GetState() {
		case enumspb.PENDING_ACTIVITY_STATE_STARTED, enumspb.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED:
			r.Status = backends.StatusRunning
			if t := pa.GetLastStartedTime(); t != nil {
				r.StartedAt = t.AsTime()
			}
		default:
			if pa.GetAttempt() > 1 {
				r.Status = backends.StatusRetrying
				r.Attempts = int(pa.GetAttempt()) - 1
			} else {
				r.Attempts = 0
			}
		}
		if f := pa.GetLastFailure(); f != nil {
			r.Error = taskErrorOf(f)
		}
		return r, nil
	}
	r.FinishedAt = ei.close
	h, err := b.history(ctx, id, ei.runID)
	if err != nil {
		return r, err
	}
	r.Attempts, r.StartedAt = h.attempt, h.started
	if !h.finished.IsZero() {
		r.FinishedAt = h.finished
	}
	switch ei.status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		r.Status = backends.StatusSucceeded
		r.Output = backends.CompactJSON(h.output)
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED, enumspb.WORKFLOW_EXECUTION_STATUS_TERMINATED:
		r.Status = backends.StatusCancelled
		r.Error = &backends.TaskError{Kind: "canceled", Message: "the Temporal workflow was " + strings.ToLower(strings.TrimPrefix(ei.status.String(), "WORKFLOW_EXECUTION_STATUS_"))}
	default:
		r.Status = backends.StatusFailed
		r.Error = h.err
		if r.Error == nil {
			r.Error = &backends.TaskError{Kind: "failed", Message: "the Temporal workflow " + strings.ToLower(ei.status.String())}
		}
	}
	return r, nil
}

// taskHistory is what Result needs from a finished task's history.
type taskHistory struct {
	attempt           int
	started, finished time.Time
	output            json.RawMessage
	err               *backends.TaskError

	// The activity's own end, which comes before the workflow's.
	activityDone   bool
	activityOutput json.RawMessage
	activityErr    *backends.TaskError
}

func (b *backend) history(ctx context.Context, id, runID string) (taskHistory, error) {
	var h taskHistory
	it := b.c.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return h, notFound("task", id, err)
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
		h.err = &backends.TaskError{Kind: "timeout", Message: "the Temporal workflow timed out", Retryable: true}
	}
}

func (h *taskHistory) activityEnd(at time.Time) {
	h.activityDone, h.finished = true, at
	if h.started.IsZero() || h.started.After(at) {
		h.started = at
	}
}

// taskErrorOf reads a task error from a Temporal failure.
func taskErrorOf(f *failurepb.Failure) *backends.TaskError {
	return taskErrorFrom(temporal.GetDefaultFailureConverter().FailureToError(f))
}

// taskErrorFrom reads a task error from an activity's or a workflow's
// error: the innermost application error (its type is the kind, its first
// detail the task error the worker sent), or a timeout.
func taskErrorFrom(err error) *backends.TaskError {
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		var te backends.TaskError
		if ae.HasDetails() && ae.Details(&te) == nil && te.Kind != "" {
			return &te
		}
		kind := ae.Type()
		if kind == "" {
			kind = "failed"
		}
		return &backends.TaskError{Kind: kind, Message: ae.Message(), Retryable: !ae.NonRetryable()}
	}
	var to *temporal.TimeoutError
	if errors.As(err, &to) {
		return &backends.TaskError{Kind: "timeout", Message: fmt.Sprintf("stopped by its %s timeout", strings.ToLower(strings.TrimPrefix(to.TimeoutType().String(), "TIMEOUT_TYPE_"))), Retryable: true}
	}
	var ce *temporal.CanceledError
	if errors.As(err, &ce) {
		return &backends.TaskError{Kind: "canceled", Message: "canceled", Retryable: true}
	}
	return &backends.TaskError{Kind: "failed", Message: err.Error(), Retryable: true}
}

func (b *backend) Wait(ctx context.Context, id string) (backends.TaskResult, error) {
	if _, err := b.describe(ctx, id, taskWorkflow); err != nil {
		return backends.TaskResult{}, err
	}
	// Get long-polls the workflow's close event; its error is the task's,
	// which Result reads with the rest.
	if err := b.c.GetWorkflow(ctx, id, "").Get(ctx, nil); err != nil && ctx.Err() != nil {
		r, _ := b.Result(context.WithoutCancel(ctx), id)
		return r, ctx.Err()
	}
	return b.Result(ctx, id)
}
