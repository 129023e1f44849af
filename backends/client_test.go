package backends_test

import (
	"context"
	"encoding/json"
	"errors"

	"strings"
	"sync"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/backends/driver"
)

// memDriver is the smallest driver: jobs in memory, for testing what the
// client owns (resolution, checking, waiting), as database/sql's own
// tests use a fake driver. The engines' drivers are tested against their
// real engines by backendtest.
type memDriver struct {
	mu   sync.Mutex
	jobs []*driver.Job
}

func (d *memDriver) Engine() string { return "mem" }
func (d *memDriver) Enqueue(_ context.Context, j *driver.Job) (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.jobs = append(d.jobs, j)
	return string(rune('0' + len(d.jobs))), nil
}
func (d *memDriver) Result(_ context.Context, id string) (driver.TaskResult, error) {
	return driver.TaskResult{}, driver.ErrNotFound
}
func (d *memDriver) Work(ctx context.Context, cfg driver.WorkerConfig, h driver.Handler) error {
	return nil
}
func (d *memDriver) Close() error { return nil }

var mem = &memDriver{}

func init() {
	backends.Register("mem", func(context.Context, driver.Config) (driver.Driver, error) { return mem, nil })
}

func openMem(t *testing.T) *backends.Client {
	t.Helper()
	c, err := backends.Open(context.Background(), "mem", backends.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestOpenUnknown(t *testing.T) {
	_, err := backends.Open(context.Background(), "nosuch", backends.Config{})
	if !errors.Is(err, backends.ErrUnknownEngine) || !strings.Contains(err.Error(), `unknown engine "nosuch" (engines built in: mem, memflow)`) {
		t.Fatalf("got %v", err)
	}
}

func TestSubmitResolves(t *testing.T) {
	c := openMem(t)
	ctx := context.Background()
	if err := c.Register(ctx, backends.TaskSpec{Name: "a", MaxRetries: 2}, backends.TaskSpec{Name: "b", Queue: "q", Timeout: time.Second}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(time.Hour)
	for _, tc := range []struct {
		name string
		task string
		opts []backends.SubmitOption
		want driver.Job
	}{
		{"defaults", "a", nil, driver.Job{Task: "a", Queue: "default", MaxRetries: 2, Timeout: driver.DefaultTimeout}},
		{"registered queue and timeout", "b", nil, driver.Job{Task: "b", Queue: "q", Timeout: time.Second}},
		{"overrides", "a", []backends.SubmitOption{backends.Queue("z"), backends.MaxRetries(0), backends.Timeout(5 * time.Second), backends.At(at), backends.UniqueKey("k")},
			driver.Job{Task: "a", Queue: "z", MaxRetries: 0, Timeout: 5 * time.Second, RunAt: at, UniqueKey: "k"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem.jobs = nil
			if _, err := c.Submit(ctx, tc.task, json.RawMessage(`{}`), tc.opts...); err != nil {
				t.Fatal(err)
			}
			got := *mem.jobs[0]
			got.Input = nil
			if got.Task != tc.want.Task || got.Queue != tc.want.Queue || got.MaxRetries != tc.want.MaxRetries || got.Timeout != tc.want.Timeout ||
				!got.RunAt.Equal(tc.want.RunAt) || got.UniqueKey != tc.want.UniqueKey {
				t.Errorf("job %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestSubmitRefuses(t *testing.T) {
	c := openMem(t)
	ctx := context.Background()
	if err := c.Register(ctx, backends.TaskSpec{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		task  string
		input string
		opts  []backends.SubmitOption
		want  string
	}{
		{"unknown task", "nope", `{}`, nil, `unknown task "nope" (registered: a)`},
		{"empty task", "", `{}`, nil, "a task name is empty"},
		{"bad JSON", "a", `{x`, nil, "is not a JSON document"},
		{"no input", "a", ``, nil, "is not a JSON document"},
		{"negative retries", "a", `{}`, []backends.SubmitOption{backends.MaxRetries(-1)}, "MaxRetries(-1): retries must be 0 or more"},
		{"empty queue", "a", `{}`, []backends.SubmitOption{backends.Queue("")}, `Queue(""): a queue name must be non-empty`},
		{"spaced queue", "a", `{}`, []backends.SubmitOption{backends.Queue(" q")}, `Queue(" q")`},
		{"zero timeout", "a", `{}`, []backends.SubmitOption{backends.Timeout(0)}, "Timeout(0s): a timeout must be positive"},
		{"negative delay", "a", `{}`, []backends.SubmitOption{backends.Delay(-time.Second)}, "Delay(-1s): a delay must not be negative"},
		{"zero time", "a", `{}`, []backends.SubmitOption{backends.At(time.Time{})}, "At(zero time)"},
		{"empty unique key", "a", `{}`, []backends.SubmitOption{backends.UniqueKey("")}, `UniqueKey(""): a unique key must not be empty`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem.jobs = nil
			_, err := c.Submit(ctx, tc.task, json.RawMessage(tc.input), tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Submit: %v, want an error containing %q", err, tc.want)
			}
			var ute *backends.UnknownTaskError
			if !errors.Is(err, backends.ErrInvalid) && !errors.As(err, &ute) {
				t.Errorf("Submit: %v matches neither ErrInvalid nor *UnknownTaskError", err)
			}
			if len(mem.jobs) != 0 {
				t.Errorf("the driver received %d jobs", len(mem.jobs))
			}
		})
	}
}

func TestRegisterRefuses(t *testing.T) {
	c := openMem(t)
	for _, tc := range []struct {
		spec backends.TaskSpec
		want string
	}{
		{backends.TaskSpec{}, "task 1 of 1 has no name"},
		{backends.TaskSpec{Name: "a", MaxRetries: -2}, `task "a": max retries -2 is negative`},
		{backends.TaskSpec{Name: "a", Timeout: -time.Second}, `task "a": timeout -1s is negative`},
		{backends.TaskSpec{Name: "a", Queue: "q "}, `task "a": queue "q " has leading or trailing space`},
	} {
		err := c.Register(context.Background(), tc.spec)
		if !errors.Is(err, backends.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Register(%+v) = %v, want %q", tc.spec, err, tc.want)
		}
	}
	if len(c.Tasks()) != 0 {
		t.Errorf("refused specs were registered: %+v", c.Tasks())
	}
}

func TestWorkerConfig(t *testing.T) {
	c := openMem(t)
	if err := c.Register(context.Background(), backends.TaskSpec{Name: "a", Queue: "q1"}, backends.TaskSpec{Name: "b", Queue: "q2"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		opts   backends.WorkerOptions
		queues string
		conc   int
		err    string
	}{
		{"defaults", backends.WorkerOptions{}, "q1,q2", backends.DefaultConcurrency, ""},
		{"given", backends.WorkerOptions{Queues: []string{"x"}, Concurrency: 3}, "x", 3, ""},
		{"priorities alone", backends.WorkerOptions{Priorities: map[string]int{"hi": 3, "lo": 1}}, "hi,lo", backends.DefaultConcurrency, ""},
		{"negative concurrency", backends.WorkerOptions{Concurrency: -1}, "", 0, "worker concurrency -1 is negative"},
		{"negative grace", backends.WorkerOptions{Grace: -time.Second}, "", 0, "worker grace -1s is negative"},
		{"empty queue", backends.WorkerOptions{Queues: []string{"a", ""}}, "", 0, `worker queue "": a queue name must be non-empty`},
		{"twice", backends.WorkerOptions{Queues: []string{"a", "a"}}, "", 0, `worker queue "a" is listed twice`},
		{"priority elsewhere", backends.WorkerOptions{Queues: []string{"a"}, Priorities: map[string]int{"b": 2}}, "", 0, `queue "b" has a priority but is not among the worker's queues a`},
		{"priority zero", backends.WorkerOptions{Queues: []string{"a"}, Priorities: map[string]int{"a": 0}}, "", 0, `queue "a": priority 0 must be at least 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := c.WorkerConfig(tc.opts)
			if tc.err != "" {
				if !errors.Is(err, backends.ErrInvalid) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("WorkerConfig: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || strings.Join(cfg.Queues, ",") != tc.queues || cfg.Concurrency != tc.conc || cfg.Grace != backends.DefaultGrace || cfg.Name == "" {
				t.Fatalf("WorkerConfig = %+v, %v; want queues %s, concurrency %d, the default grace, a name", cfg, err, tc.queues, tc.conc)
			}
		})
	}
}

func TestWaitUnknown(t *testing.T) {
	c := openMem(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := c.Wait(ctx, "7"); !errors.Is(err, backends.ErrNotFound) {
		t.Fatalf("Wait of an unknown id: %v, want ErrNotFound", err)
	}
}

func TestWorkflowsUnsupported(t *testing.T) {
	c := openMem(t)
	_, err := c.SubmitWorkflow(context.Background(), *backends.NewWorkflow("w").Then("a"), json.RawMessage(`{}`))
	if !errors.Is(err, backends.ErrUnsupported) || !strings.Contains(err.Error(), "mem: workflows is not supported") {
		t.Fatalf("SubmitWorkflow on a driver without workflows: %v", err)
	}
	if _, err := c.SubmitWorkflow(context.Background(), *backends.NewWorkflow("w"), nil); !errors.Is(err, backends.ErrWorkflowInvalid) {
		t.Fatalf("SubmitWorkflow of an empty workflow: %v, want ErrWorkflowInvalid", err)
	}
}

func TestSubmitMany(t *testing.T) {
	c := openMem(t)
	ctx := context.Background()
	if err := c.Register(ctx, backends.TaskSpec{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	mem.jobs = nil
	batch := []backends.Submission{{Task: "a", Input: json.RawMessage(`{"i":0}`)}, {Task: "a", Input: json.RawMessage(`{"i":1}`), Options: []backends.SubmitOption{backends.MaxRetries(-1)}}}
	_, err := c.SubmitMany(ctx, batch)
	var be *backends.BatchError
	if !errors.As(err, &be) || be.Index != 1 || !errors.Is(err, backends.ErrInvalid) || len(mem.jobs) != 0 {
		t.Fatalf("SubmitMany with a bad second entry: %v (%d jobs enqueued); want a BatchError at index 1, nothing enqueued", err, len(mem.jobs))
	}
	batch[1].Options = nil
	ids, err := c.SubmitMany(ctx, append(batch, backends.Submission{Task: "a", Input: json.RawMessage(`{"i":2}`)}))
	if err != nil || len(ids) != 3 || len(mem.jobs) != 3 {
		t.Fatalf("SubmitMany = %v, %v with %d jobs", ids, err, len(mem.jobs))
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if id == "" || seen[id] {
			t.Errorf("entry %d: id %q empty or repeated in %v", i, id, ids)
		}
		seen[id] = true
	}
}
