package backends

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"taskhost.dev/backends/driver"
)

type (
	// Schedule is a task submitted on a timetable; see driver.Schedule.
	Schedule = driver.Schedule
	// ScheduleInfo is a schedule with its next and last runs.
	ScheduleInfo = driver.ScheduleInfo
)

// SourceManifest is the Source of the schedules a worker syncs from its
// manifest's [[schedule]] entries.
const SourceManifest = "manifest"

var scheduleName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)

// MinEvery is the shortest interval a schedule may tick at.
const MinEvery = time.Second

// checkSchedule validates s and resolves its tick's job.
func (c *Client) checkSchedule(s *Schedule) (*driver.Job, error) {
	bad := func(format string, args ...any) error {
		return invalid("schedule %q: %s", s.Name, fmt.Sprintf(format, args...))
	}
	if !scheduleName.MatchString(s.Name) {
		return nil, bad("a schedule name is 1 to 100 letters, digits and _.:-")
	}
	switch {
	case s.Cron == "" && s.Every == 0:
		return nil, bad("give cron (e.g. \"*/5 * * * *\") or every (e.g. 30s)")
	case s.Cron != "" && s.Every != 0:
		return nil, bad("give cron or every, not both")
	case s.Every != 0 && s.Every < MinEvery:
		return nil, bad("every %s is below the %s minimum", s.Every, MinEvery)
	case s.Every != 0 && s.Timezone != "":
		return nil, bad("timezone applies to cron only")
	}
	if _, err := s.Next(time.Now()); err != nil {
		return nil, invalid("%v", err)
	}
	if len(s.Input) == 0 {
		s.Input = json.RawMessage("{}")
	}
	var opts []SubmitOption
	if s.Queue != "" {
		opts = append(opts, Queue(s.Queue))
	}
	var o SubmitOptions
	for _, f := range opts {
		f(&o)
	}
	j, err := c.tasks.resolve(s.Task, s.Input, &o)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", s.Name, err)
	}
	return j, nil
}

// CreateSchedule creates a schedule, or replaces the one of that name: from
// its next tick on, each tick submits its task once however many workers
// run (on the engine's own scheduler where it has one that fires once per
// deployment, else by the workers' beat over the engine's store). A bad
// cron expression, interval, timezone or task matches ErrInvalid or is an
// *UnknownTaskError.
func (c *Client) CreateSchedule(ctx context.Context, s Schedule) error {
	j, err := c.checkSchedule(&s)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Engine(), err)
	}
	switch d := c.drv.(type) {
	case driver.Scheduler:
		return d.PutSchedule(ctx, s, j)
	case driver.ScheduleStore:
		return d.PutScheduleRecord(ctx, s)
	}
	return c.noSchedules()
}

func (c *Client) noSchedules() error {
	return &UnsupportedError{Engine: c.Engine(), What: "schedules"}
}

// DeleteSchedule removes a schedule: it ticks no more. An unknown name is
// ErrNotFound.
func (c *Client) DeleteSchedule(ctx context.Context, name string) error {
	switch d := c.drv.(type) {
	case driver.Scheduler:
		return d.DeleteSchedule(ctx, name)
	case driver.ScheduleStore:
		return d.DeleteSchedule(ctx, name)
	}
	return c.noSchedules()
}

// Schedules lists the deployment's schedules with their next run and last
// run's task id, sorted by name.
func (c *Client) Schedules(ctx context.Context) ([]ScheduleInfo, error) {
	switch d := c.drv.(type) {
	case driver.Scheduler:
		return d.Schedules(ctx)
	case driver.ScheduleStore:
		return d.Schedules(ctx)
	}
	return nil, c.noSchedules()
}

// SyncSchedules makes the schedules of one source exactly want: each is
// created or replaced, and those of that source that want lacks are
// deleted (a schedule removed from the manifest stops). Every entry is
// checked before any is changed.
func (c *Client) SyncSchedules(ctx context.Context, source string, want []Schedule) error {
	seen := map[string]bool{}
	for i := range want {
		want[i].Source = source
		if seen[want[i].Name] {
			return fmt.Errorf("%s: %w", c.Engine(), invalid("schedule %q is defined twice", want[i].Name))
		}
		seen[want[i].Name] = true
		if _, err := c.checkSchedule(&want[i]); err != nil {
			return fmt.Errorf("%s: %w", c.Engine(), err)
		}
	}
	have, err := c.Schedules(ctx)
	if len(want) == 0 && errors.Is(err, ErrUnsupported) {
		return nil // nothing to sync on an engine without schedules
	}
	if err != nil {
		return err
	}
	for _, s := range want {
		if err := c.CreateSchedule(ctx, s); err != nil {
			return err
		}
	}
	for _, h := range have {
		if h.Source == source && !seen[h.Name] {
			if err := c.DeleteSchedule(ctx, h.Name); err != nil && !isNotFound(err) {
				return err
			}
		}
	}
	return nil
}
