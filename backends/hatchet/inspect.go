package hatchet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// Inspection on Hatchet reads the runs API (the engine's OLAP view, which
// lags a moment behind): runs of the task workflows, newest first, a run
// the view still shows queued or running read again over gRPC (current at
// once). Delayed tasks waiting for their time are Hatchet scheduled runs,
// not runs: a listing shows them once they run; a purge deletes their
// schedules.

// listWindow is how far back a listing, count or purge looks when not
// told: the runs API needs a start.
const listWindow = 30 * 24 * time.Hour

// listBatch is the page size a listing reads the runs API in.
const listBatch = 100

// queueWorkflows returns the ids of the task workflows of a queue and a
// task (either may be empty: any), by their names, TASK.QUEUE; nil when
// there is none.
func (b *backend) queueWorkflows(ctx context.Context, queue, task string) ([]uuid.UUID, error) {
	var out []uuid.UUID
	limit, offset := 500, 0
	for {
		l, err := b.c.Workflows().List(ctx, &rest.WorkflowListParams{Limit: &limit, Offset: &offset})
		if err != nil {
			return nil, fmt.Errorf("hatchet: listing workflows: %w", err)
		}
		if l.Rows == nil {
			return out, nil
		}
		for _, w := range *l.Rows {
			n := w.Name
			if strings.HasPrefix(n, "taskhost.") ||
				queue != "" && !strings.HasSuffix(n, "."+hatchetName(queue)) ||
				task != "" && !strings.HasPrefix(n, hatchetName(task)+".") {
				continue
			}
			if u, err := uuid.Parse(w.Metadata.Id); err == nil {
				out = append(out, u)
			}
		}
		if len(*l.Rows) < limit {
			return out, nil
		}
		offset += limit
	}
}

// hatchetStatuses are the run statuses a task in one of states may have
// in the runs API: its own, and queued or running, which the API may
// still show for a task that has just moved on.
func hatchetStatuses(states []driver.Status) []rest.V1TaskStatus {
	out := []rest.V1TaskStatus{rest.V1TaskStatusQUEUED, rest.V1TaskStatusRUNNING}
	for _, s := range states {
		switch s {
		case driver.StatusSucceeded:
			out = append(out, rest.V1TaskStatusCOMPLETED)
		case driver.StatusFailed:
			out = append(out, rest.V1TaskStatusFAILED)
		case driver.StatusCancelled:
			out = append(out, rest.V1TaskStatusCANCELLED)
		}
	}
	return out
}

// listCursor is where a listing's next page starts: after the task of
// that id, whose run the engine created at that time.
type listCursor struct {
	At time.Time `json:"at"`
	ID string    `json:"id"`
}

// summaryResult is a task's result from its row in the runs API; false
// for a run that is not a task's (a workflow's DAG).
func summaryResult(row rest.V1TaskSummary) (driver.TaskResult, bool) {
	// The row's input is the engine's wrapping of the run's: {"input":
	// ENVELOPE, "parents": ..., ...}.
	var wrapped struct {
		Input envelope `json:"input"`
	}
	raw, _ := json.Marshal(row.Input)
	if json.Unmarshal(raw, &wrapped) != nil || wrapped.Input.Task == "" {
		return driver.TaskResult{}, false
	}
	env := wrapped.Input
	r := driver.TaskResult{ID: row.WorkflowRunExternalId.String(), Task: env.Task, Queue: env.Queue, Engine: Engine,
		Status: statusOf(row.Status, &row), EnqueuedAt: env.EnqueuedAt}
	if r.EnqueuedAt.IsZero() {
		r.EnqueuedAt = row.CreatedAt
	}
	if token, ok := metaString(row.AdditionalMetadata, delayedMeta); ok {
		r.ID = schedPrefix + token
	}
	if row.StartedAt != nil {
		r.StartedAt = *row.StartedAt
	}
	if row.FinishedAt != nil && r.Status.Done() {
		r.FinishedAt = *row.FinishedAt
	}
	if row.RetryCount != nil {
		r.Attempts = *row.RetryCount
	}
	if row.Status != rest.V1TaskStatusQUEUED || r.Attempts > 0 {
		r.Attempts++
	}
	var info attemptInfo // the worker's record, as Result reads it
	switch r.Status {
	case driver.StatusSucceeded:
		var o output
		raw, _ := json.Marshal(row.Output)
		if json.Unmarshal(raw, &o) == nil {
			r.Output, info = driver.CompactJSON(o.Output), o.attemptInfo
		}
	case driver.StatusFailed, driver.StatusCancelled:
		if row.ErrorMessage != nil && *row.ErrorMessage != "" {
			r.Error, info = decodeError(*row.ErrorMessage)
		} else if r.Status == driver.StatusFailed {
			r.Error = &driver.TaskError{Kind: abi.KindFailed, Message: "the run failed without an error message", Retryable: true}
		} else {
			r.Error = &driver.TaskError{Kind: abi.KindCancelled, Message: "the run was cancelled"}
		}
	}
	if info.Attempt > 0 {
		r.Attempts, r.StartedAt, r.FinishedAt = info.Attempt, info.StartedAt, info.FinishedAt
	}
	return r, true
}

// List implements driver.Lister, newest run first. The cursor is the last
// task's run's creation time and the task's id.
func (b *backend) List(ctx context.Context, f driver.ListFilter) (driver.ListPage, error) {
	var cur *listCursor
	if f.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(f.Cursor)
		cur = &listCursor{}
		if err != nil || json.Unmarshal(raw, cur) != nil || cur.ID == "" {
			return driver.ListPage{}, fmt.Errorf("hatchet: list cursor %q is not one a listing gave (pass a page's next as it was)", f.Cursor)
		}
	}
	yes := true
	p := rest.V1WorkflowRunListParams{Since: f.Since, OnlyTasks: true, IncludePayloads: &yes}
	if p.Since.IsZero() {
		p.Since = time.Now().Add(-listWindow)
	}
	until := f.Until
	if cur != nil && (until.IsZero() || cur.At.Before(until)) {
		until = cur.At.Add(time.Microsecond) // the API's bound may be exclusive
	}
	if !until.IsZero() {
		p.Until = &until
	}
	if len(f.States) > 0 {
		st := hatchetStatuses(f.States)
		p.Statuses = &st
	}
	if f.Queue != "" || f.Task != "" {
		wfs, err := b.queueWorkflows(ctx, f.Queue, f.Task)
		if err != nil || len(wfs) == 0 {
			return driver.ListPage{}, err
		}
		p.WorkflowIds = &wfs
	}
	var page driver.ListPage
	var last listCursor // the last task's, for the next page
	limit, offset := int64(listBatch), int64(0)
	p.Limit, p.Offset = &limit, &offset
	for {
		l, err := b.c.Runs().List(ctx, p)
		if err != nil {
			return page, fmt.Errorf("hatchet: listing tasks: %w", err)
		}
		for _, row := range l.Rows {
			r, ok := summaryResult(row)
			if !ok || f.Task != "" && r.Task != f.Task || f.Queue != "" && r.Queue != f.Queue {
				continue
			}
			at := row.CreatedAt
			if cur != nil && !(at.Before(cur.At) || at.Equal(cur.At) && r.ID < cur.ID) {
				continue
			}
			if !r.Status.Done() {
				// The view may lag: the task's own state, current at once.
				now, err := b.Result(ctx, r.ID)
				if errors.Is(err, driver.ErrNotFound) {
					continue
				}
				if err != nil {
					return page, err
				}
				r = now
			}
			if len(f.States) > 0 && !slices.Contains(f.States, r.Status) {
				continue
			}
			if len(page.Tasks) == f.Limit {
				next, _ := json.Marshal(last)
				page.Next = base64.RawURLEncoding.EncodeToString(next)
				return page, nil
			}
			page.Tasks = append(page.Tasks, r)
			last = listCursor{At: at, ID: r.ID}
		}
		if int64(len(l.Rows)) < limit {
			return page, nil
		}
		offset += limit
	}
}

// Retry implements driver.Retrier with the runs API's Replay: the failed
// or cancelled run runs again under its id. A delayed task cancelled
// before its time never had a run (its tombstone is not one to replay):
// submit it again.
func (b *backend) Retry(ctx context.Context, id string) error {
	r, err := b.Result(ctx, id)
	if err != nil {
		return err
	}
	if r.Status != driver.StatusFailed && r.Status != driver.StatusCancelled {
		return fmt.Errorf("hatchet: task %s is %s: only a failed or cancelled task is retried", id, r.Status)
	}
	if token, ok := strings.CutPrefix(id, schedPrefix); ok {
		if dead, err := b.tombstoned(ctx, token); err != nil || dead {
			return fmt.Errorf("hatchet: task %s was cancelled before its time and never ran; submit it again", id)
		}
	}
	run, _, err := b.runID(ctx, id)
	if err != nil {
		return err
	}
	u, _ := uuid.Parse(run)
	if _, err := b.c.Runs().Replay(ctx, rest.V1ReplayTaskRequest{ExternalIds: &[]uuid.UUID{u}}); err != nil {
		return fmt.Errorf("hatchet: retrying task %s (replay): %w", id, err)
	}
	return nil
}

// Purge implements driver.Purger: Hatchet deletes no runs, so the queue's
// queued runs (those waiting to run or for a retry) are cancelled in one
// call (the runs API's Cancel by filter: they never run, and end
// cancelled), and its delayed tasks' schedules are deleted.
func (b *backend) Purge(ctx context.Context, queue string) (int, error) {
	wfs, err := b.queueWorkflows(ctx, queue, "")
	if err != nil || len(wfs) == 0 {
		return 0, err
	}
	queued := []rest.V1TaskStatus{rest.V1TaskStatusQUEUED}
	res, err := b.c.Runs().Cancel(ctx, rest.V1CancelTaskRequest{Filter: &rest.V1TaskFilter{Since: time.Now().Add(-listWindow), Statuses: &queued, WorkflowIds: &wfs}})
	if err != nil {
		return 0, fmt.Errorf("hatchet: purging queue %s: %w", queue, err)
	}
	n := 0
	if res.Ids != nil {
		n = len(*res.Ids)
		b.settle(ctx, *res.Ids)
	}
	for _, wf := range wfs {
		limit := int64(1000)
		l, err := b.c.Schedules().List(ctx, rest.WorkflowScheduledListParams{Limit: &limit, WorkflowId: &wf})
		if err != nil {
			return n, fmt.Errorf("hatchet: purging queue %s: listing its delayed tasks: %w", queue, err)
		}
		if l.Rows == nil {
			continue
		}
		for _, sw := range *l.Rows {
			if sw.WorkflowRunId != nil {
				continue // it ran
			}
			if err := b.restDelete(ctx, "schedule", sw.Metadata.Id); err != nil {
				return n, fmt.Errorf("hatchet: purging queue %s: deleting a delayed task: %w", queue, err)
			}
			n++
		}
	}
	return n, nil
}

// settleWithin bounds the wait for the engine to carry out a bulk
// cancellation, which it does a moment after accepting it.
const settleWithin = 10 * time.Second

// settle waits, up to settleWithin, until the runs are done (a purge
// returns once its runs read as cancelled).
func (b *backend) settle(ctx context.Context, runs []uuid.UUID) {
	ctx, cancel := context.WithTimeout(ctx, settleWithin)
	defer cancel()
	for _, u := range runs {
		for {
			d, err := b.details(ctx, u.String())
			if err != nil || d.Done {
				break
			}
			if _, err := driver.Pause(ctx, 20*time.Millisecond, nil); err != nil {
				b.logger.Warn("hatchet: a purge's cancellations are still being carried out", "within", settleWithin)
				return
			}
		}
	}
}

// QueueStats implements driver.QueueStatser for the queues of the
// registered tasks (Hatchet has no queues: a queue is the task workflows
// named for it), counting the runs of the last listWindow by status (the
// runs API's status metrics, which count a task waiting for a retry as
// queued or running), with the workers serving each queue.
func (b *backend) QueueStats(ctx context.Context) ([]driver.QueueStats, error) {
	var queues []string
	for _, s := range b.tasks.Specs() {
		if !slices.Contains(queues, s.Queue) {
			queues = append(queues, s.Queue)
		}
	}
	sort.Strings(queues)
	legacy, err := b.legacy()
	if err != nil {
		return nil, err
	}
	tenant, err := uuid.Parse(legacy.TenantId())
	if err != nil {
		return nil, fmt.Errorf("hatchet: the client's tenant %q: %w", legacy.TenantId(), err)
	}
	api := legacy.API()
	out := make([]driver.QueueStats, 0, len(queues))
	for _, q := range queues {
		s := driver.QueueStats{Queue: q, Workers: -1}
		wfs, err := b.queueWorkflows(ctx, q, "")
		if err != nil {
			return nil, err
		}
		if len(wfs) > 0 {
			res, err := api.V1TaskListStatusMetricsWithResponse(ctx, tenant, &rest.V1TaskListStatusMetricsParams{Since: time.Now().Add(-listWindow), WorkflowIds: &wfs})
			if err == nil && res.JSON200 == nil {
				err = fmt.Errorf("status %s: %s", res.Status(), res.Body)
			}
			if err != nil {
				return nil, fmt.Errorf("hatchet: counting the tasks of queue %s: %w", q, err)
			}
			for _, m := range *res.JSON200 {
				n := int64(m.Count)
				switch m.Status {
				case rest.V1TaskStatusQUEUED:
					s.Pending += n
				case rest.V1TaskStatusRUNNING:
					s.Running += n
				case rest.V1TaskStatusCOMPLETED:
					s.Succeeded += n
				case rest.V1TaskStatusFAILED:
					s.Failed += n
				case rest.V1TaskStatusCANCELLED:
					s.Cancelled += n
				}
			}
		}
		if n, err := b.Workers(ctx, q); err == nil {
			s.Workers = n
		}
		out = append(out, s)
	}
	return out, nil
}

// Workers implements driver.WorkerCounter: the engine's active workers
// that registered a task workflow of the queue.
func (b *backend) Workers(ctx context.Context, queue string) (int, error) {
	l, err := b.c.Workers().List(ctx)
	if err != nil {
		return 0, fmt.Errorf("hatchet: listing workers: %w", err)
	}
	if l.Rows == nil {
		return 0, nil
	}
	suffix := strings.ToLower("." + hatchetName(queue))
	n := 0
	for _, w := range *l.Rows {
		if w.Status == nil || *w.Status != rest.ACTIVE {
			continue
		}
		actions := w.Actions
		if actions == nil {
			full, err := b.c.Workers().Get(ctx, w.Metadata.Id)
			if err != nil {
				continue // gone since it was listed
			}
			actions = full.Actions
		}
		if actions == nil {
			continue
		}
		for _, a := range *actions {
			wf, _, _ := strings.Cut(strings.ToLower(a), ":")
			if strings.HasSuffix(wf, suffix) {
				n++
				break
			}
		}
	}
	return n, nil
}
