package worker

import (
	"encoding/json"
	"fmt"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/host"
)

// Specs returns the host's tasks as an engine registers them: their
// default queue, retries and timeout.
func Specs(h *host.Host) []backends.TaskSpec {
	tasks := h.Tasks()
	out := make([]backends.TaskSpec, len(tasks))
	for i, t := range tasks {
		out[i] = spec(t)
	}
	return out
}

func spec(t *host.Task) backends.TaskSpec {
	return backends.TaskSpec{Name: t.Name, Queue: t.Queue, MaxRetries: t.MaxRetries, Timeout: t.Timeout,
		Backoff: backends.Backoff{Initial: t.Retry.Delay, Max: t.Retry.MaxDelay, Fixed: t.Retry.Fixed, Jitter: t.Retry.Jitter}}
}

// Workflow turns a manifest workflow ([[workflow]]) into the engines'
// definition.
func Workflow(w host.WorkflowSpec) (backends.Workflow, error) {
	wf := backends.Workflow{Name: w.Name}
	step := func(s host.WorkflowStepSpec) (backends.Step, error) {
		st := backends.Step{Task: s.Task}
		if len(s.Params) > 0 {
			b, err := json.Marshal(s.Params)
			if err != nil {
				return st, fmt.Errorf("workflow %q step %s: params: %w", w.Name, s.Task, err)
			}
			st.Params = b
		}
		return st, nil
	}
	for _, s := range w.Steps {
		var stage backends.Stage
		items := s.Parallel
		if s.Task != "" {
			items = []host.WorkflowStepSpec{s}
		}
		for _, it := range items {
			st, err := step(it)
			if err != nil {
				return wf, err
			}
			stage.Steps = append(stage.Steps, st)
		}
		wf.Stages = append(wf.Stages, stage)
	}
	return wf, wf.Validate()
}

// Workflows returns the host's manifest workflows as the engines' definitions.
func Workflows(h *host.Host) ([]backends.Workflow, error) {
	var out []backends.Workflow
	for _, w := range h.Workflows() {
		wf, err := Workflow(w)
		if err != nil {
			return nil, fmt.Errorf("manifest workflow %q: %w", w.Name, err)
		}
		out = append(out, wf)
	}
	return out, nil
}

// Schedules returns the host's manifest schedules as the client's.
func Schedules(h *host.Host) ([]backends.Schedule, error) {
	var out []backends.Schedule
	for _, s := range h.Schedules() {
		in, err := s.InputJSON()
		if err != nil {
			return nil, fmt.Errorf("manifest schedule %q: input: %w", s.Name, err)
		}
		out = append(out, backends.Schedule{Name: s.Name, Task: s.Task, Input: in, Cron: s.Cron,
			Every: time.Duration(s.Every), Queue: s.Queue, Timezone: s.Timezone})
	}
	return out, nil
}
