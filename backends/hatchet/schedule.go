package hatchet

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	"github.com/hatchet-dev/hatchet/sdks/go/features"

	"taskhost.dev/backends/driver"
)

// Schedules on Hatchet are cron triggers (driver.Scheduler): the engine's
// ticker fires each tick once, however many workers run. A schedule is a
// cron trigger of its task's workflow on its queue, named as the
// schedule, whose metadata holds the schedule's name and definition (what
// Schedules returns); Hatchet copies it into each tick's run, beside the
// tick's time, which makes each tick's idempotency key its own. A
// schedule is replaced by deleting its trigger and creating the new one.
//
// Hatchet's cron has a seconds field, so an interval (every) is a cron
// expression when it divides a minute, an hour or a day (15s, 5m, 6h):
// those tick on the interval's multiples since the Unix epoch, as every
// means. Another interval has no cron form, and Hatchet has no interval
// trigger: an *UnsupportedError says so. A timezone is the expression's
// CRON_TZ prefix.

// The metadata keys of a schedule's cron trigger (and of its ticks' runs).
const (
	scheduleMeta    = "taskhost_schedule"
	scheduleDefMeta = "taskhost_schedule_def"
)

// cronOf is the Hatchet cron expression of a schedule.
func cronOf(s driver.Schedule) (string, error) {
	if s.Every == 0 {
		if s.Timezone != "" {
			return "CRON_TZ=" + s.Timezone + " " + s.Cron, nil
		}
		return s.Cron, nil
	}
	d := s.Every
	field := func(unit time.Duration) string {
		if n := d / unit; n > 1 {
			return fmt.Sprintf("*/%d", n)
		}
		return "*"
	}
	switch {
	case d%time.Second != 0:
	case d < time.Minute && time.Minute%d == 0:
		return field(time.Second) + " * * * * *", nil
	case d < time.Hour && d%time.Minute == 0 && time.Hour%d == 0:
		return "0 " + field(time.Minute) + " * * * *", nil
	case d < 24*time.Hour && d%time.Hour == 0 && 24*time.Hour%d == 0:
		return "0 0 " + field(time.Hour) + " * * *", nil
	case d == 24*time.Hour:
		return "0 0 0 * * *", nil
	}
	return "", &driver.UnsupportedError{Engine: Engine, What: fmt.Sprintf("schedule %q: every %s", s.Name, d),
		Hint: "Hatchet fires schedules by cron and has no interval trigger: give an interval that divides a minute, an hour or a day (e.g. 15s, 5m, 6h), or a cron expression"}
}

// PutSchedule implements driver.Scheduler.
func (b *backend) PutSchedule(ctx context.Context, s driver.Schedule, j *driver.Job) error {
	expr, err := cronOf(s)
	if err != nil {
		return err
	}
	if j.UniqueKey != "" || !j.RunAt.IsZero() {
		return fmt.Errorf("hatchet: schedule %q: a tick's job takes no unique key or delay", s.Name)
	}
	name, env, err := b.prepare(j)
	if err != nil {
		return fmt.Errorf("hatchet: schedule %q: %w", s.Name, err)
	}
	env.Key, env.EnqueuedAt = "schedule:"+s.Name, time.Time{}
	in, err := inputMap(env)
	if err != nil {
		return fmt.Errorf("hatchet: schedule %q: %w", s.Name, err)
	}
	def, _ := json.Marshal(s)
	old, err := b.triggers(ctx, s.Name)
	if err != nil {
		return err
	}
	for _, c := range old {
		if err := b.restDelete(ctx, "cron", c.Metadata.Id); err != nil {
			return fmt.Errorf("hatchet: replacing schedule %q (deleting its cron trigger): %w", s.Name, err)
		}
	}
	_, err = b.c.Crons().Create(ctx, name, features.CreateCronTrigger{Name: s.Name, Expression: expr, Input: in,
		AdditionalMetadata: map[string]any{scheduleMeta: s.Name, scheduleDefMeta: string(def)}})
	if err != nil {
		return fmt.Errorf("hatchet: creating schedule %q (cron %q on %s): %w", s.Name, expr, name, err)
	}
	return nil
}

// triggers lists the cron triggers of this driver's schedules: of the one
// named, or of all when name is empty.
func (b *backend) triggers(ctx context.Context, name string) ([]rest.CronWorkflows, error) {
	var out []rest.CronWorkflows
	limit, offset := int64(500), int64(0)
	p := rest.CronWorkflowListParams{Limit: &limit, Offset: &offset}
	if name != "" {
		p.AdditionalMetadata = &[]string{scheduleMeta + ":" + name}
	}
	for {
		l, err := b.c.Crons().List(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("hatchet: listing cron triggers: %w", err)
		}
		if l.Rows == nil {
			return out, nil
		}
		for _, c := range *l.Rows {
			if n, ok := metaString(c.AdditionalMetadata, scheduleMeta); ok && (name == "" || n == name) {
				out = append(out, c)
			}
		}
		if int64(len(*l.Rows)) < limit {
			return out, nil
		}
		offset += limit
	}
}

// DeleteSchedule implements driver.Scheduler.
func (b *backend) DeleteSchedule(ctx context.Context, name string) error {
	list, err := b.triggers(ctx, name)
	if err != nil {
		return err
	}
	if len(list) == 0 {
		return fmt.Errorf("hatchet: schedule %q: %w", name, driver.ErrNotFound)
	}
	for _, c := range list {
		if err := b.restDelete(ctx, "cron", c.Metadata.Id); err != nil {
			return fmt.Errorf("hatchet: deleting schedule %q: %w", name, err)
		}
	}
	return nil
}

// Schedules implements driver.Scheduler: each schedule's next run from
// its cron, and its last run from the runs carrying its name.
func (b *backend) Schedules(ctx context.Context) ([]driver.ScheduleInfo, error) {
	list, err := b.triggers(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]driver.ScheduleInfo, 0, len(list))
	for _, c := range list {
		var si driver.ScheduleInfo
		def, _ := metaString(c.AdditionalMetadata, scheduleDefMeta)
		if err := json.Unmarshal([]byte(def), &si.Schedule); err != nil {
			return nil, fmt.Errorf("hatchet: cron trigger %s: its schedule's definition does not decode: %w", c.Metadata.Id, err)
		}
		si.NextRun, _ = si.Next(time.Now())
		limit := int64(1)
		runs, err := b.c.Runs().List(ctx, rest.V1WorkflowRunListParams{Since: c.Metadata.CreatedAt.Add(-time.Minute), Limit: &limit,
			AdditionalMetadata: &[]string{scheduleMeta + ":" + si.Name}})
		if err != nil {
			return nil, fmt.Errorf("hatchet: reading schedule %q's last run: %w", si.Name, err)
		}
		if len(runs.Rows) > 0 {
			last := runs.Rows[0]
			si.LastID, si.LastRun = last.WorkflowRunExternalId.String(), last.CreatedAt
			if at, ok := metaString(last.AdditionalMetadata, cronTickMeta); ok {
				if t, err := time.Parse(time.RFC3339, at); err == nil {
					si.LastRun = t
				}
			}
		}
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
