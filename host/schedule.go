package host

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"taskhost.dev/abi"
)

// validateSchedules checks the manifest's [[schedule]] entries on their
// own: a name, a task, one timetable that parses, a zone that exists.
// Whether a plugin serves the task is checked when the plugins are loaded.
func (m *Manifest) validateSchedules() []error {
	var errs []error
	add := func(i int, key, format string, args ...any) {
		line := m.Line("schedule", i, key)
		if line == 0 {
			line = m.Line("schedule", i, "name")
		}
		errs = append(errs, &ManifestError{File: m.File, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	names := map[string]bool{}
	for i, s := range m.Schedules {
		label := fmt.Sprintf("schedule %q", s.Name)
		switch {
		case !abi.ValidName(s.Name):
			add(i, "name", "schedule %d: name %q is missing or not valid (letters, digits, _.:- only)", i+1, s.Name)
			label = fmt.Sprintf("schedule %d", i+1)
		case names[s.Name]:
			add(i, "name", "schedule %q is defined twice; rename one", s.Name)
		}
		names[s.Name] = true
		if !abi.ValidName(s.Task) {
			add(i, "task", "%s: task %q is missing or not a task name", label, s.Task)
		}
		switch {
		case s.Cron != "" && s.Every != 0:
			add(i, "every", "%s: set cron or every, not both", label)
		case s.Cron == "" && s.Every == 0:
			add(i, "name", "%s: set cron = \"*/5 * * * *\" or every = \"30s\"", label)
		case s.Cron != "":
			if _, err := cron.ParseStandard(s.Cron); err != nil {
				add(i, "cron", "%s: cron %q: %v (five fields: minute hour day-of-month month day-of-week, or @hourly, @daily, ...)", label, s.Cron, err)
			}
		case time.Duration(s.Every) < time.Second:
			add(i, "every", "%s: every %s is under a second; use 1s or more", label, s.Every)
		}
		if s.Timezone != "" {
			if s.Cron == "" {
				add(i, "timezone", "%s: timezone applies to cron only", label)
			} else if _, err := time.LoadLocation(s.Timezone); err != nil {
				add(i, "timezone", "%s: timezone %q is not an IANA zone such as \"Europe/Paris\": %v", label, s.Timezone, err)
			}
		}
		if s.Queue != "" && !abi.ValidName(s.Queue) {
			add(i, "queue", "%s: queue %q is not a valid name", label, s.Queue)
		}
		if _, err := s.InputJSON(); err != nil {
			add(i, "input", "%s: input cannot be JSON: %v", label, err)
		}
	}
	return errs
}

// checkScheduleTasks returns an error for each schedule whose task no
// loaded plugin serves.
func (h *Host) checkScheduleTasks(mf *Manifest) []error {
	var errs []error
	for i, s := range mf.Schedules {
		if _, ok := h.tasks[s.Task]; !ok {
			msg := fmt.Sprintf("schedule %q: no loaded plugin serves task %q", s.Name, s.Task)
			if len(h.problems) > 0 {
				msg += fmt.Sprintf(" (%d plugins from the plugins folder did not load, see the warnings)", len(h.problems))
			}
			errs = append(errs, &ManifestError{File: mf.File, Line: mf.Line("schedule", i, "task"), Msg: msg})
		}
	}
	return errs
}

// Schedules returns the [[schedule]] entries of the host's manifests.
func (h *Host) Schedules() []ScheduleSpec { return append([]ScheduleSpec(nil), h.schedules...) }
