package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"taskhost.dev/backends/driver"
)

// Schedules on Temporal are Temporal Schedules (driver.Scheduler): the
// server fires each tick once, however many workers run, and keeps the
// schedule's recent runs and next times. A schedule's id is its name; its
// action starts the tick's taskhost.task workflow on the job's queue, with
// the id "task-s-NAME-TIME" Temporal derives per tick, and the memo of
// that workflow holds the schedule's definition (what Schedules returns:
// a Temporal schedule's own memo cannot be changed by an update). Every
// tick starts its task even while the last one runs (overlap "allow all"),
// as a queue's schedule would; ticks missed while the server was down are
// taken when it is back (Temporal's catch-up window, a year by default).

// scheduleMemo is the memo key of the schedule's definition, in the
// action's workflow memo.
const scheduleMemo = "taskhost_schedule"

// scheduledPrefix starts the workflow id of a schedule's ticks.
const scheduledPrefix = "task-s-"

// PutSchedule implements driver.Scheduler: Create, or Update of the
// schedule of that name when it exists.
func (b *backend) PutSchedule(ctx context.Context, s driver.Schedule, j *driver.Job) error {
	def, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("temporal: schedule %q: %w", s.Name, err)
	}
	spec := client.ScheduleSpec{TimeZoneName: s.Timezone}
	if s.Every > 0 {
		spec.Intervals = []client.ScheduleIntervalSpec{{Every: s.Every}}
	} else {
		spec.CronExpressions = []string{s.Cron}
	}
	action := &client.ScheduleWorkflowAction{
		ID:        scheduledPrefix + s.Name,
		Workflow:  taskWorkflow,
		Args:      []any{taskInput{Task: j.Task, Input: j.Input, Queue: j.Queue, Timeout: j.Timeout, MaxRetries: j.MaxRetries, Meta: j.Meta, Backoff: j.Backoff.Custom()}},
		TaskQueue: j.Queue,
		Memo:      map[string]any{"task": j.Task, scheduleMemo: string(def)},
	}
	sc := b.c.ScheduleClient()
	_, err = sc.Create(ctx, client.ScheduleOptions{
		ID:      s.Name,
		Spec:    spec,
		Action:  action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
		Memo:    map[string]any{scheduleMemo: true},
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		h := sc.GetHandle(ctx, s.Name)
		if _, err := b.describeSchedule(ctx, h); err != nil {
			return err
		}
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sched := in.Description.Schedule
			sched.Spec, sched.Action = &spec, action
			return &client.ScheduleUpdate{Schedule: &sched}, nil
		}})
	}
	if err != nil {
		return fmt.Errorf("temporal: putting schedule %q: %w", s.Name, err)
	}
	return nil
}

// describeSchedule describes the schedule h names, refusing one that is
// not this driver's (its action starts no taskhost.task workflow): the
// namespace's other schedules are left alone.
func (b *backend) describeSchedule(ctx context.Context, h client.ScheduleHandle) (*client.ScheduleDescription, error) {
	d, err := h.Describe(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, fmt.Errorf("temporal: schedule %q: %w", h.GetID(), driver.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("temporal: reading schedule %q: %w", h.GetID(), err)
	}
	if _, err := definitionOf(d); err != nil {
		return nil, fmt.Errorf("temporal: schedule %q is not a taskhost schedule (%v): %w", h.GetID(), err, driver.ErrNotFound)
	}
	return d, nil
}

// definitionOf reads a taskhost schedule's definition from its action.
func definitionOf(d *client.ScheduleDescription) (driver.Schedule, error) {
	var s driver.Schedule
	a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction)
	if !ok {
		return s, errors.New("its action starts no workflow")
	}
	if name, _ := a.Workflow.(string); name != taskWorkflow {
		return s, fmt.Errorf("its action starts %v", a.Workflow)
	}
	p, ok := a.Memo[scheduleMemo].(*commonpb.Payload)
	if !ok {
		return s, errors.New("its action has no taskhost definition")
	}
	var def string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &def); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(def), &s); err != nil {
		return s, fmt.Errorf("its definition does not decode: %w", err)
	}
	return s, nil
}

// DeleteSchedule implements driver.Scheduler.
func (b *backend) DeleteSchedule(ctx context.Context, name string) error {
	h := b.c.ScheduleClient().GetHandle(ctx, name)
	if _, err := b.describeSchedule(ctx, h); err != nil {
		return err
	}
	err := h.Delete(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("temporal: schedule %q: %w", name, driver.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("temporal: deleting schedule %q: %w", name, err)
	}
	return nil
}

// Schedules implements driver.Scheduler: Temporal's listing of the
// namespace's schedules (its visibility store, which shows a schedule a
// moment after its creation), each of this driver's described for its
// definition, next run and last run.
func (b *backend) Schedules(ctx context.Context) ([]driver.ScheduleInfo, error) {
	sc := b.c.ScheduleClient()
	it, err := sc.List(ctx, client.ScheduleListOptions{PageSize: 1000})
	if err != nil {
		return nil, fmt.Errorf("temporal: listing schedules: %w", err)
	}
	var out []driver.ScheduleInfo
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("temporal: listing schedules: %w", err)
		}
		if n := e.WorkflowType.Name; n != "" && n != taskWorkflow {
			continue // another's schedule (describeSchedule refuses the rest)
		}
		d, err := b.describeSchedule(ctx, sc.GetHandle(ctx, e.ID))
		if errors.Is(err, driver.ErrNotFound) {
			continue // deleted since it was listed, or not ours
		}
		if err != nil {
			return nil, err
		}
		def, _ := definitionOf(d)
		si := driver.ScheduleInfo{Schedule: def}
		if len(d.Info.NextActionTimes) > 0 {
			si.NextRun = d.Info.NextActionTimes[0]
		}
		if n := len(d.Info.RecentActions); n > 0 {
			last := d.Info.RecentActions[n-1]
			si.LastRun = last.ScheduleTime
			if w := last.StartWorkflowResult; w != nil {
				si.LastID = w.WorkflowID
			}
		}
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
