package backends

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"taskhost.dev/backends/driver"
)

// errInvalid is ErrInvalid: bad options and specs wrap it.
var errInvalid = errors.New("invalid")

// invalid returns an error matching ErrInvalid.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// registry holds a client's tasks; it is the driver.Registry the client
// gives its driver. Safe for concurrent use.
type registry struct {
	defaultQueue string

	mu    sync.RWMutex
	tasks map[string]TaskSpec
}

// add checks and stores specs, defaults applied; all or none.
func (r *registry) add(specs []TaskSpec) error {
	checked := make([]TaskSpec, len(specs))
	for i, s := range specs {
		switch {
		case s.Name == "":
			return invalid("task %d of %d has no name", i+1, len(specs))
		case s.MaxRetries < 0:
			return invalid("task %q: max retries %d is negative; use 0 for no retries", s.Name, s.MaxRetries)
		case s.Timeout < 0:
			return invalid("task %q: timeout %s is negative; use 0 for the default (%s)", s.Name, s.Timeout, driver.DefaultTimeout)
		case s.Queue != "" && strings.TrimSpace(s.Queue) != s.Queue:
			return invalid("task %q: queue %q has leading or trailing space", s.Name, s.Queue)
		case s.Backoff.Initial < 0 || s.Backoff.Max < 0:
			return invalid("task %q: a retry delay is negative", s.Name)
		case s.Backoff.Initial > 0 && s.Backoff.Max > 0 && s.Backoff.Max < s.Backoff.Initial:
			return invalid("task %q: retry_max_delay %s is below retry_delay %s", s.Name, s.Backoff.Max, s.Backoff.Initial)
		case s.Backoff.Jitter < 0 || s.Backoff.Jitter > 1:
			return invalid("task %q: retry jitter %g is outside 0 to 1", s.Name, s.Backoff.Jitter)
		}
		checked[i] = r.withDefaults(s)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tasks == nil {
		r.tasks = map[string]TaskSpec{}
	}
	for _, s := range checked {
		r.tasks[s.Name] = s
	}
	return nil
}

func (r *registry) withDefaults(s TaskSpec) TaskSpec {
	if s.Queue == "" {
		s.Queue = r.defaultQueue
	}
	if s.Timeout == 0 {
		s.Timeout = driver.DefaultTimeout
	}
	s.Backoff = s.Backoff.WithDefaults()
	return s
}

// Spec implements driver.Registry. With nothing registered any name is
// accepted, on the default queue with driver.DefaultMaxRetries, so that a
// client that registers nothing (one submitting to workers it does not
// know, Python's among them) can still submit.
func (r *registry) Spec(task string) (TaskSpec, error) {
	if task == "" {
		return TaskSpec{}, invalid("a task name is empty")
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	if s, ok := r.tasks[task]; ok {
		return s, nil
	}
	if len(r.tasks) == 0 {
		return r.withDefaults(TaskSpec{Name: task, MaxRetries: driver.DefaultMaxRetries}), nil
	}
	known := make([]string, 0, len(r.tasks))
	for n := range r.tasks {
		known = append(known, n)
	}
	sort.Strings(known)
	return TaskSpec{}, &UnknownTaskError{Task: task, Known: known}
}

// Specs implements driver.Registry: the tasks sorted by name.
func (r *registry) Specs() []TaskSpec {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]TaskSpec, 0, len(r.tasks))
	for _, s := range r.tasks {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Job implements driver.Registry.
func (r *registry) Job(task string, input json.RawMessage) (*driver.Job, error) {
	return r.resolve(task, input, &SubmitOptions{})
}

// queues returns the distinct queues of the registered tasks, sorted.
func (r *registry) queues() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range r.Specs() {
		if !seen[s.Queue] {
			seen[s.Queue] = true
			out = append(out, s.Queue)
		}
	}
	sort.Strings(out)
	return out
}
