package temporal

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/converter"

	"taskhost.dev/backends/driver"
)

// Inspection on Temporal reads its visibility store (ListWorkflow,
// CountWorkflow) for the taskhost.task executions, and each open one's
// description for what visibility cannot tell apart (pending, running or
// retrying are all "Running" there). Visibility shows a change a moment
// after it happened; a status read from it is taken for a closed execution
// only, and an open one is described.

// lookConcurrency bounds the descriptions and history reads in flight for
// one listing or count.
const lookConcurrency = 8

// listBatch is the size of a visibility page a listing reads.
const listBatch = 200

// quote is a string literal in Temporal's list filter.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// visibilityStatuses are the execution statuses a task in one of states may
// have in visibility: a closed one's, and Running, which visibility may
// still show for one that has just closed.
func visibilityStatuses(states []driver.Status) []string {
	out := []string{"Running"}
	for _, s := range states {
		switch s {
		case driver.StatusSucceeded:
			out = append(out, "Completed")
		case driver.StatusFailed:
			out = append(out, "Failed", "TimedOut")
		case driver.StatusCancelled:
			out = append(out, "Canceled", "Terminated")
		}
	}
	return out
}

// listQuery is the visibility filter of f's tasks started at or before
// until (when not zero).
func listQuery(f driver.ListFilter, until time.Time) string {
	q := []string{"WorkflowType = " + quote(taskWorkflow)}
	if f.Queue != "" {
		q = append(q, "TaskQueue = "+quote(f.Queue))
	}
	if !f.Since.IsZero() {
		q = append(q, "StartTime >= "+quote(f.Since.UTC().Format(time.RFC3339Nano)))
	}
	if !f.Until.IsZero() && (until.IsZero() || f.Until.Before(until)) {
		until = f.Until
	}
	if !until.IsZero() {
		q = append(q, "StartTime <= "+quote(until.UTC().Format(time.RFC3339Nano)))
	}
	if len(f.States) > 0 {
		var or []string
		for _, s := range visibilityStatuses(f.States) {
			or = append(or, "ExecutionStatus = "+quote(s))
		}
		q = append(q, "("+strings.Join(or, " OR ")+")")
	}
	return strings.Join(q, " AND ")
}

// listed is one execution of a listing.
type listed struct {
	ID    string    `json:"id"`
	Start time.Time `json:"start"`
}

// after reports whether a comes after b in a listing: newest first, ids
// descending among tasks started at the same time.
func (a listed) after(b listed) bool {
	if !a.Start.Equal(b.Start) {
		return a.Start.Before(b.Start)
	}
	return a.ID < b.ID
}

// taskIDOf is the task id of a listed execution (see Enqueue).
func taskIDOf(e *workflowpb.WorkflowExecutionInfo) string {
	wid := e.GetExecution().GetWorkflowId()
	if strings.HasPrefix(wid, uniquePrefix) {
		return wid + "/" + e.GetExecution().GetRunId()
	}
	return wid
}

// memoString reads a memo field written as a string.
func memoString(m *commonpb.Memo, key string) string {
	var s string
	if p := m.GetFields()[key]; p != nil {
		_ = converter.GetDefaultDataConverter().FromPayload(p, &s)
	}
	return s
}

// List implements driver.Lister. Temporal's visibility lists open
// executions first, then closed ones by close time, newest first, and
// cannot order by start: the listing reads that order and keeps the Limit
// newest by start (the time the task was submitted), which it may stop
// reading for once an execution closed before the oldest it keeps
// started. The cursor is the last task's start and id.
func (b *backend) List(ctx context.Context, f driver.ListFilter) (driver.ListPage, error) {
	var cur *listed
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		cur = &listed{}
		if err != nil || json.Unmarshal(raw, cur) != nil || cur.ID == "" {
			return driver.ListPage{}, fmt.Errorf("temporal: list cursor %q is not one a listing gave (pass a page's next as it was)", f.Cursor)
		}
	}
	var until time.Time
	if cur != nil {
		until = cur.Start
	}
	req := &workflowservice.ListWorkflowExecutionsRequest{Query: listQuery(f, until), PageSize: listBatch}
	var keep []listed                         // the newest kept so far, in listing order; at most Limit+1
	results := map[string]driver.TaskResult{} // the open ones' results, read to know their status
	seen := map[string]bool{}                 // ids seen: an id's latest run comes first
	var open []*workflowpb.WorkflowExecutionInfo
	full := func() bool { return len(keep) > f.Limit }
	scan := func(e *workflowpb.WorkflowExecutionInfo, status driver.Status) {
		l := listed{ID: taskIDOf(e), Start: e.GetStartTime().AsTime()}
		if seen[l.ID] {
			return
		}
		seen[l.ID] = true
		if f.Task != "" && memoString(e.GetMemo(), "task") != f.Task || cur != nil && !l.after(*cur) {
			return
		}
		if len(f.States) > 0 && !slices.Contains(f.States, status) {
			return
		}
		i := sort.Search(len(keep), func(i int) bool { return keep[i].after(l) })
		keep = slices.Insert(keep, i, l)
		if full() {
			keep = keep[:f.Limit+1]
		}
	}
	for done := false; !done; {
		res, err := b.c.ListWorkflow(ctx, req)
		if err != nil {
			return driver.ListPage{}, fmt.Errorf("temporal: listing tasks (%s): %w", req.Query, err)
		}
		for _, e := range res.GetExecutions() {
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				open = append(open, e)
				continue
			}
			if len(open) > 0 {
				// The open ones come first: their status is read at once.
				if err := b.scanOpen(ctx, open, results, scan); err != nil {
					return driver.ListPage{}, err
				}
				open = nil
			}
			if full() && e.GetCloseTime().AsTime().Before(keep[f.Limit].Start) {
				done = true // closed before the oldest kept one started
				break
			}
			scan(e, closedStatus(e.GetStatus()))
		}
		req.NextPageToken = res.GetNextPageToken()
		done = done || len(req.NextPageToken) == 0
	}
	if err := b.scanOpen(ctx, open, results, scan); err != nil {
		return driver.ListPage{}, err
	}
	var page driver.ListPage
	if full() {
		keep = keep[:f.Limit]
		next, _ := json.Marshal(keep[f.Limit-1])
		page.Next = base64.RawURLEncoding.EncodeToString(next)
	}
	ids := make([]string, len(keep))
	for i, l := range keep {
		ids[i] = l.ID
	}
	tasks, err := b.results(ctx, ids, results)
	for _, r := range tasks {
		if r.ID != "" {
			page.Tasks = append(page.Tasks, r)
		}
	}
	return page, err
}

// scanOpen reads the results of open executions, then scans them with the
// status each result says.
func (b *backend) scanOpen(ctx context.Context, open []*workflowpb.WorkflowExecutionInfo, results map[string]driver.TaskResult, scan func(*workflowpb.WorkflowExecutionInfo, driver.Status)) error {
	ids := make([]string, len(open))
	for i, e := range open {
		ids[i] = taskIDOf(e)
	}
	rs, err := b.results(ctx, ids, results)
	if err != nil {
		return err
	}
	for i, e := range open {
		if rs[i].ID != "" {
			results[ids[i]] = rs[i]
			scan(e, rs[i].Status)
		}
	}
	return nil
}

// results reads the tasks' results, lookConcurrency at a time, taking
// those in known as they are. A task deleted since it was listed is a
// zero result (its ID empty).
func (b *backend) results(ctx context.Context, ids []string, known map[string]driver.TaskResult) ([]driver.TaskResult, error) {
	out := make([]driver.TaskResult, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, lookConcurrency)
	var wg sync.WaitGroup
	for i, id := range ids {
		if r, ok := known[id]; ok {
			out[i] = r
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i], errs[i] = b.Result(ctx, id)
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case errors.Is(err, driver.ErrNotFound):
			out[i] = driver.TaskResult{}
		case err != nil:
			return nil, err
		}
	}
	return out, nil
}

// Retry implements driver.Retrier with Temporal's reset: the failed or
// cancelled task's execution is reset to its first workflow task, which
// makes a new run of the same workflow, with the same input and queue,
// that runs the activity again from its first attempt. The task's id
// names that run: Result reads a task's latest run, or, for a keyed
// task's id that names its run, follows the reset (Temporal records the
// new run on the old one). A keyed task whose key a newer task holds, and
// a task cancelled before its first workflow task ran (a reset would
// replay the cancellation), are refused: submit those again.
func (b *backend) Retry(ctx context.Context, id string) error {
	if flow, _, ok := stepID(id); ok {
		return &driver.UnsupportedError{Engine: Engine, What: "retrying one step of a workflow",
			Hint: fmt.Sprintf("Temporal retries a step within its workflow %s; submit the workflow again", flow)}
	}
	r, err := b.Result(ctx, id)
	if err != nil {
		return err
	}
	if r.Status != driver.StatusFailed && r.Status != driver.StatusCancelled {
		return fmt.Errorf("temporal: task %s is %s: only a failed or cancelled task is retried", id, r.Status)
	}
	ei, err := b.describe(ctx, id, taskWorkflow)
	if err != nil {
		return err
	}
	if _, rid := execution(id); rid != "" {
		latest, err := b.c.DescribeWorkflowExecution(ctx, ei.workflowID, "")
		if err != nil {
			return notFound("task", id, err)
		}
		if run := latest.GetWorkflowExecutionInfo().GetExecution().GetRunId(); run != ei.runID {
			return fmt.Errorf("temporal: task %s: its unique key is held by a newer task (run %s); submit it again", id, run)
		}
	}
	point, err := b.resetPoint(ctx, ei)
	if err != nil {
		return fmt.Errorf("temporal: retrying task %s: %w", id, err)
	}
	_, err = b.c.ResetWorkflowExecution(ctx, &workflowservice.ResetWorkflowExecutionRequest{
		Namespace:                 b.ns,
		WorkflowExecution:         &commonpb.WorkflowExecution{WorkflowId: ei.workflowID, RunId: ei.runID},
		Reason:                    "taskhost: retry of a " + string(r.Status) + " task",
		WorkflowTaskFinishEventId: point,
	})
	if err != nil {
		return fmt.Errorf("temporal: retrying task %s (reset): %w", id, err)
	}
	return nil
}

// resetPoint is the event a retry resets the execution to: its first
// completed workflow task.
func (b *backend) resetPoint(ctx context.Context, ei *executionInfo) (int64, error) {
	it := b.c.GetWorkflowHistory(ctx, ei.workflowID, ei.runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return 0, err
		}
		switch ev.GetAttributes().(type) {
		case *historypb.HistoryEvent_WorkflowExecutionCancelRequestedEventAttributes:
			return 0, errors.New("it was cancelled before it started, and a reset would replay the cancellation: submit it again")
		case *historypb.HistoryEvent_WorkflowTaskCompletedEventAttributes:
			return ev.GetEventId(), nil
		}
	}
	return 0, errors.New("it never started (no workflow task completed): submit it again")
}

// Purge implements driver.Purger: the queue's open tasks that wait to run
// (pending, delayed, or waiting for a retry) are deleted with Temporal's
// DeleteWorkflowExecution (which terminates an open execution, then
// deletes it). A task whose activity starts between the look and the
// deletion is deleted too: Temporal cannot delete on a condition.
func (b *backend) Purge(ctx context.Context, queue string) (int, error) {
	f := driver.ListFilter{Queue: queue, States: []driver.Status{driver.StatusPending, driver.StatusRetrying}}
	req := &workflowservice.ListWorkflowExecutionsRequest{Query: listQuery(f, time.Time{}), PageSize: listBatch}
	var ids []string
	for {
		res, err := b.c.ListWorkflow(ctx, req)
		if err != nil {
			return 0, fmt.Errorf("temporal: purging queue %s: listing: %w", queue, err)
		}
		for _, e := range res.GetExecutions() {
			if e.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				ids = append(ids, taskIDOf(e))
			}
		}
		if req.NextPageToken = res.GetNextPageToken(); len(req.NextPageToken) == 0 {
			break
		}
	}
	rs, err := b.results(ctx, ids, nil)
	if err != nil {
		return 0, fmt.Errorf("temporal: purging queue %s: %w", queue, err)
	}
	n := 0
	for _, r := range rs {
		if r.ID == "" || r.Status != driver.StatusPending && r.Status != driver.StatusRetrying {
			continue
		}
		wid, rid := execution(r.ID)
		_, err := b.c.WorkflowService().DeleteWorkflowExecution(ctx, &workflowservice.DeleteWorkflowExecutionRequest{
			Namespace: b.ns, WorkflowExecution: &commonpb.WorkflowExecution{WorkflowId: wid, RunId: rid},
		})
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			continue
		}
		if err != nil {
			return n, fmt.Errorf("temporal: purging queue %s: deleting task %s: %w", queue, r.ID, err)
		}
		n++
	}
	return n, nil
}

// QueueStats implements driver.QueueStatser for the queues of the
// registered tasks (Temporal cannot list a namespace's task queues): the
// finished tasks counted by visibility (CountWorkflow grouped by status),
// the open ones by their descriptions, and the workers by the queue's
// pollers (Workers).
func (b *backend) QueueStats(ctx context.Context) ([]driver.QueueStats, error) {
	var queues []string
	for _, s := range b.tasks.Specs() {
		if !slices.Contains(queues, s.Queue) {
			queues = append(queues, s.Queue)
		}
	}
	sort.Strings(queues)
	out := make([]driver.QueueStats, 0, len(queues))
	for _, q := range queues {
		s, err := b.queueStats(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (b *backend) queueStats(ctx context.Context, queue string) (driver.QueueStats, error) {
	s := driver.QueueStats{Queue: queue, Workers: -1}
	query := listQuery(driver.ListFilter{Queue: queue}, time.Time{})
	res, err := b.c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query + " GROUP BY ExecutionStatus"})
	if err != nil {
		return s, fmt.Errorf("temporal: counting the tasks of queue %s: %w", queue, err)
	}
	for _, g := range res.GetGroups() {
		var status string
		if len(g.GetGroupValues()) > 0 {
			_ = converter.GetDefaultDataConverter().FromPayload(g.GetGroupValues()[0], &status)
		}
		switch status {
		case "Completed":
			s.Succeeded += g.GetCount()
		case "Failed", "TimedOut":
			s.Failed += g.GetCount()
		case "Canceled", "Terminated":
			s.Cancelled += g.GetCount()
		}
	}
	page, err := b.List(ctx, driver.ListFilter{Queue: queue, States: []driver.Status{driver.StatusPending, driver.StatusRunning, driver.StatusRetrying}, Limit: 1 << 30})
	if err != nil {
		return s, err
	}
	for _, r := range page.Tasks {
		switch r.Status {
		case driver.StatusPending:
			s.Pending++
		case driver.StatusRunning:
			s.Running++
		case driver.StatusRetrying:
			s.Retrying++
		}
	}
	if n, err := b.Workers(ctx, queue); err == nil {
		s.Workers = n
	}
	return s, nil
}

// pollerFresh is how recently a poller must have polled to count as a
// worker: a Temporal long poll lasts up to a minute, and the server keeps
// a poller it has not heard from for minutes.
const pollerFresh = 75 * time.Second

// Workers implements driver.WorkerCounter: the workers (by identity,
// the worker's name) polling the queue for activities lately, as
// DescribeTaskQueue reports them.
func (b *backend) Workers(ctx context.Context, queue string) (int, error) {
	res, err := b.c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
	if err != nil {
		return 0, fmt.Errorf("temporal: describing task queue %s: %w", queue, err)
	}
	names := map[string]bool{}
	for _, p := range res.GetPollers() {
		if time.Since(p.GetLastAccessTime().AsTime()) < pollerFresh {
			names[p.GetIdentity()] = true
		}
	}
	return len(names), nil
}
