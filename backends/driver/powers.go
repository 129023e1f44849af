package driver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// ErrFinished is returned (wrapped) by a cancellation of a task or
// workflow that was already done: it is left as it is.
var ErrFinished = errors.New("already finished")

// Canceler is implemented by drivers whose engine can cancel a task, with
// the engine's own mechanism. Cancel makes a pending or scheduled task
// never run; a running task's attempt is stopped (its context cancelled in
// the worker running it, which stops the sandbox call) and the task ends
// cancelled, not retried. A task already done is left as it is and Cancel
// returns ErrFinished; an unknown id is ErrNotFound.
type Canceler interface {
	Cancel(ctx context.Context, id string) error
}

// WorkflowCanceler is implemented by drivers with native workflows that
// can cancel one: its pending steps never run, its running ones are
// stopped, and it ends cancelled. ErrFinished and ErrNotFound as Cancel.
type WorkflowCanceler interface {
	CancelWorkflow(ctx context.Context, id string) error
}

// FlowCanceler is implemented by FlowStores that can mark a running
// workflow cancelled; the client's runner then cancels its steps' tasks
// (Canceler) and enqueues nothing more. It reports false when the
// workflow was no longer running.
type FlowCanceler interface {
	CancelFlow(ctx context.Context, id string) (bool, error)
}

// Batcher is implemented by drivers that enqueue many jobs at once (one
// transaction, one round trip). EnqueueMany returns the ids in the jobs'
// order. A driver whose engine can do it atomically inserts all or none;
// another returns a *BatchError saying which were inserted.
type Batcher interface {
	EnqueueMany(ctx context.Context, jobs []*Job) ([]string, error)
}

// BatchError is a batch submission's failure: the entry that failed (-1
// when the engine refused the batch as a whole) and the ids of the entries
// that were enqueued all the same ("" for those that were not; nil when
// none was).
type BatchError struct {
	Index int
	Err   error
	IDs   []string
}

func (e *BatchError) Error() string {
	n := 0
	for _, id := range e.IDs {
		if id != "" {
			n++
		}
	}
	if e.Index < 0 {
		return fmt.Sprintf("batch: %v (%d of the batch enqueued)", e.Err, n)
	}
	return fmt.Sprintf("batch entry %d: %v (%d of the batch enqueued)", e.Index, e.Err, n)
}

func (e *BatchError) Unwrap() error { return e.Err }

// Schedule is a task submitted on a timetable: by a cron expression or
// every fixed interval.
type Schedule struct {
	// Name identifies the schedule in its deployment.
	Name string `json:"name"`
	// Task and Input are what each tick submits.
	Task  string          `json:"task"`
	Input json.RawMessage `json:"input,omitempty"`
	// Cron is a five-field cron expression ("*/5 * * * *"), or a
	// descriptor such as "@hourly"; exclusive with Every.
	Cron string `json:"cron,omitempty"`
	// Every is a fixed interval, ticks falling on its multiples since the
	// Unix epoch; exclusive with Cron.
	Every time.Duration `json:"every,omitempty"`
	// Queue overrides the task's queue.
	Queue string `json:"queue,omitempty"`
	// Timezone is the IANA zone Cron is read in; UTC when empty.
	Timezone string `json:"timezone,omitempty"`
	// Source says who made the schedule: "manifest" for a manifest's
	// [[schedule]] (a worker removes those the manifest no longer has),
	// empty for one made through the client.
	Source string `json:"source,omitempty"`
}

// Next returns the schedule's first tick after t.
func (s Schedule) Next(t time.Time) (time.Time, error) {
	if s.Every > 0 {
		return t.Truncate(s.Every).Add(s.Every), nil
	}
	loc := time.UTC
	if s.Timezone != "" {
		l, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return time.Time{}, fmt.Errorf("schedule %q: timezone %q: %w", s.Name, s.Timezone, err)
		}
		loc = l
	}
	sched, err := cron.ParseStandard(s.Cron)
	if err != nil {
		return time.Time{}, fmt.Errorf("schedule %q: cron %q: %w", s.Name, s.Cron, err)
	}
	return sched.Next(t.In(loc)), nil
}

// ScheduleInfo is a schedule with what its engine knows of its runs.
type ScheduleInfo struct {
	Schedule
	// NextRun is the next tick; LastRun and LastID the last tick's time and
	// task id, zero when it has not run yet.
	NextRun time.Time `json:"next_run,omitzero"`
	LastRun time.Time `json:"last_run,omitzero"`
	LastID  string    `json:"last_id,omitempty"`
}

// Scheduler is implemented by drivers whose engine fires schedules itself
// (Temporal Schedules, Hatchet cron triggers): each tick runs once however
// many workers run. job is the tick's job template, resolved by the
// client. PutSchedule creates or replaces a schedule by name.
type Scheduler interface {
	PutSchedule(ctx context.Context, s Schedule, job *Job) error
	DeleteSchedule(ctx context.Context, name string) error
	Schedules(ctx context.Context) ([]ScheduleInfo, error)
}

// ScheduleStore is implemented by drivers whose engine has no scheduler
// that fires once per deployment but can keep schedules (River's tables,
// Redis): the client's beat, running in every worker, fires them. FireTick
// is the one atomic step: it enqueues job for the schedule's tick at, once
// per deployment however many workers fire the same tick, and records it
// as the schedule's last run; fired is false (and id the tick's task) when
// another worker fired it first.
type ScheduleStore interface {
	PutScheduleRecord(ctx context.Context, s Schedule) error
	DeleteSchedule(ctx context.Context, name string) error
	Schedules(ctx context.Context) ([]ScheduleInfo, error)
	FireTick(ctx context.Context, name string, at time.Time, job *Job) (id string, fired bool, err error)
}
