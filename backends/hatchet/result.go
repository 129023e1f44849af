package hatchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	v0 "github.com/hatchet-dev/hatchet/pkg/client"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// runID resolves a task id to its workflow run id: a delayed task's to
// the run its schedule became, or "" with the schedule while it waits.
func (b *backend) runID(ctx context.Context, id string) (run string, sched *rest.ScheduledWorkflows, err error) {
	token, delayed := strings.CutPrefix(id, schedPrefix)
	if !delayed {
		if _, err := uuid.Parse(id); err != nil {
			return "", nil, fmt.Errorf("hatchet: task %q: %w (Hatchet ids are UUIDs)", id, driver.ErrNotFound)
		}
		return id, nil, nil
	}
	if _, err := uuid.Parse(token); err != nil {
		return "", nil, fmt.Errorf("hatchet: task %q: %w", id, driver.ErrNotFound)
	}
	filter := []string{delayedMeta + ":" + token}
	limit := int64(1)
	l, err := b.c.Schedules().List(ctx, rest.WorkflowScheduledListParams{Limit: &limit, AdditionalMetadata: &filter})
	if err != nil {
		return "", nil, fmt.Errorf("hatchet: reading delayed task %s: %w", id, err)
	}
	if l.Rows != nil && len(*l.Rows) > 0 {
		sw := (*l.Rows)[0]
		if sw.WorkflowRunId != nil {
			return sw.WorkflowRunId.String(), &sw, nil
		}
		return "", &sw, nil
	}
	// A schedule that has run is gone; its run carries the metadata.
	runs, err := b.c.Runs().List(ctx, rest.V1WorkflowRunListParams{Since: time.Now().Add(-30 * 24 * time.Hour), Limit: &limit, AdditionalMetadata: &filter})
	if err != nil {
		return "", nil, fmt.Errorf("hatchet: reading delayed task %s: %w", id, err)
	}
	if len(runs.Rows) > 0 {
		return runs.Rows[0].WorkflowRunExternalId.String(), nil, nil
	}
	return "", nil, fmt.Errorf("hatchet: task %q: %w", id, driver.ErrNotFound)
}

// Result implements driver.Driver. The run comes over gRPC (current at
// once); a finished task's attempt and times from the worker's record in
// its output or error, a running one's from the REST API. An id this
// process handed out that the engine does not know yet is pending (see
// recent).
func (b *backend) Result(ctx context.Context, id string) (driver.TaskResult, error) {
	r := driver.TaskResult{ID: id, Engine: Engine, Status: driver.StatusPending}
	run, sched, err := b.runID(ctx, id)
	var d *v0.RunDetails
	if err == nil && run != "" {
		d, err = b.details(ctx, run)
	}
	if errors.Is(err, driver.ErrNotFound) {
		if _, ok := b.recent.lookup(id); ok {
			return r, nil // handed out here, not recorded (or listed) yet
		}
	}
	if err != nil {
		return r, err
	}
	if strings.HasPrefix(id, schedPrefix) {
		b.recent.note(id, nil) // a delayed task's run is listed a while after its schedule is gone
	}
	if sched != nil {
		r.Task, r.Queue = taskOf(sched.Input)
		r.EnqueuedAt = sched.Metadata.CreatedAt
	}
	if run == "" {
		return r, nil // a scheduled run, not yet started
	}
	return b.resultOf(ctx, id, run, d, r)
}

// resultOf fills r from the run's details.
func (b *backend) resultOf(ctx context.Context, id, run string, d *v0.RunDetails, r driver.TaskResult) (driver.TaskResult, error) {
	var env envelope
	json.Unmarshal(d.Input, &env)
	r.Task, r.Queue = env.Task, env.Queue
	if r.EnqueuedAt.IsZero() {
		r.EnqueuedAt = env.EnqueuedAt
	}
	var t *v0.TaskRunDetails
	for _, tr := range d.TaskRuns {
		t = tr
	}
	r.Status = statusOf(d.Status, nil)
	if !d.Done && r.Status.Done() {
		r.Status = driver.StatusRunning
	}
	var info attemptInfo
	switch {
	case r.Status == driver.StatusSucceeded:
		var o output
		if t == nil || json.Unmarshal(t.Output, &o) != nil {
			return r, fmt.Errorf("hatchet: task %s succeeded without this package's {\"output\": ...} output", id)
		}
		r.Output, info = driver.CompactJSON(o.Output), o.attemptInfo
	case r.Status.Done():
		if t != nil && t.Error != nil && *t.Error != "" {
			r.Error, info = decodeError(*t.Error)
		} else if r.Status == driver.StatusFailed {
			r.Error = &driver.TaskError{Kind: abi.KindFailed, Message: "the run failed without an error message", Retryable: true}
		} else {
			r.Error = &driver.TaskError{Kind: abi.KindCancelled, Message: "the run was cancelled"}
		}
	}
	if info.Attempt > 0 {
		r.Attempts, r.StartedAt, r.FinishedAt = info.Attempt, info.StartedAt, info.FinishedAt
		return r, nil
	}
	// Not finished (or finished without a worker's record, as when
	// cancelled): the attempts and times are the REST API's, which may
	// lag a moment behind.
	if sum, err := b.c.Runs().Get(ctx, run); err == nil && len(sum.Tasks) > 0 {
		ts := sum.Tasks[0]
		if ts.StartedAt != nil {
			r.StartedAt = *ts.StartedAt
		}
		if ts.FinishedAt != nil && r.Status.Done() {
			r.FinishedAt = *ts.FinishedAt
		}
		if ts.RetryCount != nil {
			r.Attempts = *ts.RetryCount
		}
		if ts.Status != rest.V1TaskStatusQUEUED || r.Attempts > 0 {
			r.Attempts++
		}
		if !r.Status.Done() {
			r.Status = statusOf(sum.Run.Status, &ts)
			if r.Status.Done() { // the run is ahead of the REST view here
				r.Status = driver.StatusRunning
			}
		}
	}
	if r.Status == driver.StatusRunning && t != nil {
		r.Progress = b.progress(ctx, t.ExternalId)
	}
	return r, nil
}

// progressPrefix starts the log line of a task's progress: Hatchet keeps
// a task's log lines, and the last such line is its progress.
const progressPrefix = "taskhost.progress "

// progressLook is how many of a task's last log lines are looked through
// for its progress.
const progressLook = 100

// progress reads a running task's last progress from its log lines.
func (b *backend) progress(ctx context.Context, task uuid.UUID) *abi.Progress {
	limit, desc := int64(progressLook), rest.V1LogLineOrderByDirectionDESC
	l, err := b.c.Logs().List(ctx, task, &rest.V1LogLineListParams{Limit: &limit, OrderByDirection: &desc})
	if err != nil || l.Rows == nil {
		return nil
	}
	for _, line := range *l.Rows {
		if rest, ok := strings.CutPrefix(line.Message, progressPrefix); ok {
			var p abi.Progress
			if json.Unmarshal([]byte(rest), &p) == nil {
				return &p
			}
		}
	}
	return nil
}

// decodeError reads a run's error message (an attemptError), which the
// engine may keep as a JSON string of the text the worker sent.
func decodeError(s string) (*driver.TaskError, attemptInfo) {
	var text string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &text) == nil {
		s = text
	}
	var info attemptInfo
	if i := strings.IndexByte(s, '{'); i >= 0 {
		json.Unmarshal([]byte(s[i:]), &info)
	}
	return driver.DecodeTaskError(s), info
}

// details reads a run over gRPC, which is current at once (the REST API
// lags); an unknown run is driver.ErrNotFound.
func (b *backend) details(ctx context.Context, run string) (*v0.RunDetails, error) {
	u, err := uuid.Parse(run)
	if err != nil {
		return nil, fmt.Errorf("hatchet: run %q: %w", run, driver.ErrNotFound)
	}
	d, err := b.c.Runs().GetDetails(ctx, u)
	if err != nil {
		if status.Code(err) == codes.NotFound || strings.Contains(strings.ToLower(err.Error()), "not found") {
			return nil, fmt.Errorf("hatchet: run %s: %w", run, driver.ErrNotFound)
		}
		return nil, fmt.Errorf("hatchet: reading run %s: %w", run, err)
	}
	return d, nil
}

// taskOf reads the task and queue from a run's input (an envelope).
func taskOf(in *map[string]any) (task, queue string) {
	if in == nil {
		return "", ""
	}
	task, _ = (*in)["task"].(string)
	queue, _ = (*in)["queue"].(string)
	return task, queue
}

// statusOf maps a run's status (and its task's) to ours.
func statusOf(run rest.V1TaskStatus, t *rest.V1TaskSummary) driver.Status {
	switch run {
	case rest.V1TaskStatusCOMPLETED:
		return driver.StatusSucceeded
	case rest.V1TaskStatusFAILED:
		return driver.StatusFailed
	case rest.V1TaskStatusCANCELLED:
		return driver.StatusCancelled
	case rest.V1TaskStatusRUNNING:
		if t != nil && t.Status == rest.V1TaskStatusQUEUED {
			return driver.StatusRetrying
		}
		return driver.StatusRunning
	}
	if t != nil && t.RetryCount != nil && *t.RetryCount > 0 {
		return driver.StatusRetrying
	}
	return driver.StatusPending
}
