package hatchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	v0 "github.com/hatchet-dev/hatchet/pkg/client"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"
	"github.com/hatchet-dev/hatchet/sdks/go/features"
	"github.com/rs/zerolog"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"taskhost.dev/backends"
)

// Engine is the name this backend registers under.
const Engine = "hatchet"

// DefaultQueue is the queue of tasks registered without one.
const DefaultQueue = "default"

// scheduleTimeout is how long a run may wait for a worker: long, so that
// a task on a queue no worker serves yet waits as it does on other
// engines.
const scheduleTimeout = 24 * time.Hour

func init() { backends.Register(Engine, Open) }

type backend struct {
	c      *hatchet.Client
	logger *slog.Logger

	tasks backends.TaskRegistry

	mu       sync.Mutex
	declared map[string]bool              // task workflows this process put to the engine
	flows    map[string]backends.Workflow // workflows declared with DeclareWorkflows, by name
	workers  map[*worker]bool             // the running Work calls
	recent   map[string]recentRun         // runs submitted here in the last recordLag
}

// recentRun is a run this process submitted: when, and its workflow.
type recentRun struct {
	at time.Time
	wf *backends.Workflow
}

// submitted notes a run id handed out, so that Result reads it as pending
// while the engine has not recorded it yet.
func (b *backend) submitted(run string, wf *backends.Workflow) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if len(b.recent) >= 1024 {
		for id, r := range b.recent {
			if now.Sub(r.at) > recordLag {
				delete(b.recent, id)
			}
		}
	}
	b.recent[run] = recentRun{at: now, wf: wf}
}

// recently reports whether this process submitted run within recordLag.
func (b *backend) recently(run string) (recentRun, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.recent[run]
	return r, ok && time.Since(r.at) < recordLag
}

// recentFlow returns the workflow of a run this process submitted within
// recordLag, or nil.
func (b *backend) recentFlow(run string) *backends.Workflow {
	r, _ := b.recently(run)
	return r.wf
}

// Open connects to the engine with the SDK's own environment
// (HATCHET_CLIENT_TOKEN, HATCHET_CLIENT_HOST_PORT,
// HATCHET_CLIENT_TLS_STRATEGY); Config.URL, when set, is the engine's
// host:port.
func Open(ctx context.Context, cfg backends.Config) (backends.Backend, error) {
	if err := cfg.CheckOptions(Engine); err != nil {
		return nil, err
	}
	if os.Getenv("HATCHET_CLIENT_TOKEN") == "" {
		return nil, errors.New("hatchet: HATCHET_CLIENT_TOKEN is not set (scripts/hatchet-up.sh prints a local engine's environment)")
	}
	quiet := zerolog.New(os.Stderr).Level(zerolog.WarnLevel)
	opts := []v0.ClientOpt{v0.WithLogger(&quiet)}
	if cfg.URL != "" {
		host, port, err := net.SplitHostPort(cfg.URL)
		p, perr := strconv.Atoi(port)
		if err != nil || perr != nil {
			return nil, fmt.Errorf("hatchet: engine address %q: want host:port, e.g. 127.0.0.1:7077", cfg.URL)
		}
		opts = append(opts, v0.WithHostPort(host, p))
	}
	c, err := hatchet.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("hatchet: connecting to the engine: %w (check HATCHET_CLIENT_HOST_PORT and HATCHET_CLIENT_TOKEN)", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return &backend{c: c, logger: logger, declared: map[string]bool{}, flows: map[string]backends.Workflow{}, workers: map[*worker]bool{}, recent: map[string]recentRun{}}, nil
}

func (b *backend) Engine() string { return Engine }

// Register adds tasks; a running worker of this process registers again
// with the engine to serve new or changed ones (Hatchet takes no new
// workflows on a started worker, hatchet-dev/hatchet#1353).
func (b *backend) Register(tasks ...backends.TaskSpec) error {
	// With nothing registered, Spec accepts any name: every task is new.
	changed := len(b.tasks.All()) == 0 && len(tasks) > 0
	for _, t := range tasks {
		old, err := b.tasks.Spec(t.Name, DefaultQueue)
		if t.Queue == "" {
			t.Queue = DefaultQueue
		}
		if err != nil || old != t {
			changed = true
		}
	}
	if err := b.tasks.Register(DefaultQueue, tasks...); err != nil {
		return fmt.Errorf("hatchet: %w", err)
	}
	if changed {
		return b.restartWorkers()
	}
	return nil
}

func (b *backend) spec(task string) (backends.TaskSpec, error) {
	return b.tasks.Spec(task, DefaultQueue)
}

// hatchetName makes a name Hatchet accepts ([a-zA-Z0-9._-]).
func hatchetName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// workflowName is the Hatchet workflow of a task on a queue: Hatchet has
// no queues but routes a run to the workers that registered its
// workflow, so each queue a task is served on is a workflow of its own.
func workflowName(task, queue string) string { return hatchetName(task + "." + queue) }

// envelope is a task run's input in Hatchet.
type envelope struct {
	Input json.RawMessage `json:"input"`
	// Key is the run's idempotency key: the unique key, or a fresh one.
	Key string `json:"key"`
	// Timeout and MaxRetries are a submission's overrides, applied by
	// the worker.
	TimeoutMS  int64     `json:"timeout_ms,omitempty"`
	MaxRetries *int      `json:"max_retries,omitempty"`
	Task       string    `json:"task"`
	Queue      string    `json:"queue"`
	EnqueuedAt time.Time `json:"enqueued_at,omitzero"`
}

// output is a task run's output in Hatchet: Hatchet keeps outputs as
// JSON objects, so the task's output is one field of one.
type output struct {
	Output json.RawMessage `json:"output"`
	attemptInfo
}

// attemptInfo is what the worker records of the attempt beside its output
// or error, so that a finished task's result needs no read of the REST
// API (which the engine updates a moment later).
type attemptInfo struct {
	Attempt    int       `json:"attempt,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// attemptError is a failed attempt's error message: the task error's
// JSON (its kind and verdict survive; backends.DecodeTaskError reads it)
// with the attempt.
type attemptError struct {
	*backends.TaskError
	attemptInfo
}

// taskWorkflow is the Hatchet workflow of a task on a queue, with the
// task's retries and timeout; fn runs it (nil on a client).
func (b *backend) taskWorkflow(spec backends.TaskSpec, queue string, fn func(ctx hatchet.Context, in envelope) (output, error)) *hatchet.StandaloneTask {
	if fn == nil {
		fn = func(hatchet.Context, envelope) (output, error) {
			return output{}, errors.New("a client's declaration ran")
		}
	}
	opts := []hatchet.StandaloneTaskOption{
		hatchet.WithRetries(spec.MaxRetries),
		hatchet.WithRetryBackoff(2, 60),
		hatchet.WithScheduleTimeout(scheduleTimeout),
		hatchet.WithWorkflowIdempotency(hatchet.IdempotencyConfig{Expression: "input.key", TTL: 24 * time.Hour, Method: hatchet.IdempotencyMethodStatus}),
		hatchet.WithWorkflowDescription(fmt.Sprintf("taskhost task %s on queue %s", spec.Name, queue)),
	}
	if spec.Timeout > 0 {
		opts = append(opts, hatchet.WithExecutionTimeout(spec.Timeout))
	}
	return b.c.NewStandaloneTask(workflowName(spec.Name, queue), fn, opts...)
}

// declare puts a task's workflow to the engine from a client, once per
// process, so that a run can be submitted before any worker serves its
// queue: a worker that is not started registers its workflows and
// nothing else.
func (b *backend) declare(spec backends.TaskSpec, queue string) error {
	return b.putOnce(workflowName(spec.Name, queue), workflowName(spec.Name, queue), func() (hatchet.WorkflowBase, error) {
		return b.taskWorkflow(spec, queue, nil), nil
	})
}

// putOnce puts the workflow build makes to the engine, once per process
// and key: a worker that is not started registers its workflows and
// nothing else.
func (b *backend) putOnce(key, name string, build func() (hatchet.WorkflowBase, error)) error {
	b.mu.Lock()
	done := b.declared[key]
	b.mu.Unlock()
	if done {
		return nil
	}
	wf, err := build()
	if err != nil {
		return err
	}
	if _, err := b.c.NewWorker("taskhost-client", hatchet.WithWorkflows(wf)); err != nil {
		return fmt.Errorf("declaring workflow %s: %w", name, err)
	}
	b.mu.Lock()
	b.declared[key] = true
	b.mu.Unlock()
	return nil
}

func (b *backend) Submit(ctx context.Context, task string, input json.RawMessage, opts ...backends.SubmitOption) (string, error) {
	spec, err := b.spec(task)
	if err != nil {
		return "", err
	}
	if !json.Valid(input) {
		return "", fmt.Errorf("hatchet: submit %q: the input is not a valid JSON document", task)
	}
	o := backends.ApplySubmitOptions(opts)
	queue := spec.Queue
	if o.Queue != "" {
		queue = o.Queue
	}
	env := envelope{Input: input, Key: o.UniqueKey, Task: spec.Name, Queue: queue, EnqueuedAt: time.Now().UTC()}
	if env.Key == "" {
		env.Key = uuid.NewString()
	}
	if o.MaxRetries != nil {
		if *o.MaxRetries > spec.MaxRetries {
			return "", &backends.UnsupportedError{Engine: Engine, What: fmt.Sprintf("MaxRetries(%d) above task %s's registered %d", *o.MaxRetries, spec.Name, spec.MaxRetries),
				Hint: "Hatchet fixes a task's retries when its workflow is registered; raise max_retries in the manifest"}
		}
		env.MaxRetries = o.MaxRetries
	}
	if o.Timeout > 0 {
		env.TimeoutMS = o.Timeout.Milliseconds()
	}
	delayed := !o.RunAt.IsZero() && time.Until(o.RunAt) > 0
	if err := b.declare(spec, queue); err != nil {
		return "", fmt.Errorf("hatchet: submit %q: %w", task, err)
	}
	name := workflowName(spec.Name, queue)
	if delayed {
		// A delayed task is a Hatchet scheduled run; its id is a token in
		// the schedule's metadata, which the run inherits. Hatchet checks
		// idempotency keys when a scheduled run starts, so a delayed
		// task's key is in that metadata too, looked up here (two
		// submissions at the same moment can both schedule).
		token := uuid.NewString()
		meta := map[string]any{delayedMeta: token}
		if o.UniqueKey != "" {
			if id, ok, err := b.withKey(ctx, o.UniqueKey); err != nil {
				return "", fmt.Errorf("hatchet: submit %q: looking up unique key %q: %w", task, o.UniqueKey, err)
			} else if ok {
				return id, nil
			}
			meta[uniqueMeta] = o.UniqueKey
		}
		in, err := inputMap(env)
		if err != nil {
			return "", err
		}
		at := o.RunAt
		if soon := time.Now().Add(10 * time.Millisecond); at.Before(soon) {
			at = soon // the time came while declaring
		}
		if _, err := b.c.Schedules().Create(ctx, name, features.CreateScheduledRunTrigger{TriggerAt: at, Input: in, AdditionalMetadata: meta}); err != nil {
			return "", fmt.Errorf("hatchet: scheduling %q: %w", task, err)
		}
		return schedPrefix + token, nil
	}
	if o.UniqueKey != "" {
		// A delayed task with the key counts too.
		if id, ok, err := b.scheduledWithKey(ctx, o.UniqueKey); err != nil {
			return "", fmt.Errorf("hatchet: submit %q: looking up unique key %q: %w", task, o.UniqueKey, err)
		} else if ok {
			return id, nil
		}
	}
	ref, err := b.c.RunNoWait(ctx, name, env)
	if e, ok := hatchet.IsIdempotencyCollisionError(err); ok {
		return e.ExistingRunExternalId, nil
	}
	if err != nil {
		return "", fmt.Errorf("hatchet: submit %q: %w", task, err)
	}
	b.submitted(ref.RunId, nil)
	return ref.RunId, nil
}

// The metadata keys of a delayed task: its id's token and its unique key.
const (
	delayedMeta = "taskhost_delayed"
	uniqueMeta  = "taskhost_unique_key"
)

// withKey finds a task with the unique key that has not finished: a
// delayed one (a schedule with the key in its metadata) or a run holding
// the key as its idempotency key. It returns the task's id and true.
// Hatchet drops a scheduled run whose key an active run holds, so a
// delayed submission must not schedule one then.
func (b *backend) withKey(ctx context.Context, key string) (string, bool, error) {
	limit := int64(1)
	runs, err := b.c.Runs().List(ctx, rest.V1WorkflowRunListParams{Since: time.Now().Add(-7 * 24 * time.Hour), Limit: &limit,
		IdempotencyKeys: &[]string{key}, Statuses: &[]rest.V1TaskStatus{rest.V1TaskStatusQUEUED, rest.V1TaskStatusRUNNING}})
	if err != nil {
		return "", false, err
	}
	if len(runs.Rows) > 0 {
		return runs.Rows[0].WorkflowRunExternalId.String(), true, nil
	}
	return b.scheduledWithKey(ctx, key)
}

// scheduledWithKey finds a delayed task with the unique key that has not
// finished: its id and true.
func (b *backend) scheduledWithKey(ctx context.Context, key string) (string, bool, error) {
	limit := int64(50)
	l, err := b.c.Schedules().List(ctx, rest.WorkflowScheduledListParams{Limit: &limit, AdditionalMetadata: &[]string{uniqueMeta + ":" + key}})
	if err != nil {
		return "", false, err
	}
	if l.Rows == nil {
		return "", false, nil
	}
	for _, sw := range *l.Rows {
		token, _ := metaString(sw.AdditionalMetadata, delayedMeta)
		id := schedPrefix + token
		r, err := b.Result(ctx, id)
		if err == nil && !r.Status.Done() {
			return id, true, nil
		}
	}
	return "", false, nil
}

// schedPrefix marks the id of a delayed task: a Hatchet scheduled run,
// which becomes a workflow run at its time.
const schedPrefix = "sched-"

func inputMap(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.UseNumber()
	return m, d.Decode(&m)
}

func metaString(m *map[string]any, key string) (string, bool) {
	if m == nil {
		return "", false
	}
	v, ok := (*m)[key].(string)
	return v, ok
}

// runID resolves a task id to its workflow run id: a delayed task's to
// the run its schedule became, or "" with the schedule while it waits.
func (b *backend) runID(ctx context.Context, id string) (run string, sched *rest.ScheduledWorkflows, err error) {
	token, delayed := strings.CutPrefix(id, schedPrefix)
	if !delayed {
		if _, err := uuid.Parse(id); err != nil {
			return "", nil, fmt.Errorf("hatchet: task %q: %w (Hatchet ids are UUIDs)", id, backends.ErrNotFound)
		}
		return id, nil, nil
	}
	if _, err := uuid.Parse(token); err != nil {
		return "", nil, fmt.Errorf("hatchet: task %q: %w", id, backends.ErrNotFound)
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
	return "", nil, fmt.Errorf("hatchet: task %q: %w", id, backends.ErrNotFound)
}

func (b *backend) Result(ctx context.Context, id string) (backends.TaskResult, error) {
	r := backends.TaskResult{ID: id, Engine: Engine, Status: backends.StatusPending}
	run, sched, err := b.runID(ctx, id)
	if err != nil {
		return r, err
	}
	if sched != nil {
		r.Task, r.Queue = taskOf(sched.Input)
		r.EnqueuedAt = sched.Metadata.CreatedAt
	}
	if run == "" {
		return r, nil // a scheduled run, not yet started
	}
	d, err := b.details(ctx, run)
	if _, ok := b.recently(run); ok && errors.Is(err, backends.ErrNotFound) {
		return r, nil // submitted here, not recorded yet: pending
	}
	if err != nil {
		return r, fmt.Errorf("hatchet: task %s: %w", id, err)
	}
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
		r.Status = backends.StatusRunning
	}
	var info attemptInfo
	switch {
	case r.Status == backends.StatusSucceeded:
		var o output
		if t == nil || json.Unmarshal(t.Output, &o) != nil {
			return r, fmt.Errorf("hatchet: task %s succeeded without this package's {\"output\": ...} output", id)
		}
		r.Output, info = backends.CompactJSON(o.Output), o.attemptInfo
	case r.Status.Done():
		if t != nil && t.Error != nil && *t.Error != "" {
			r.Error, info = decodeError(*t.Error)
		} else if r.Status == backends.StatusFailed {
			r.Error = &backends.TaskError{Kind: "failed", Message: "the run failed without an error message", Retryable: true}
		} else {
			r.Error = &backends.TaskError{Kind: "canceled", Message: "the run was cancelled"}
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
				r.Status = backends.StatusRunning
			}
		}
	}
	return r, nil
}

// decodeError reads a run's error message (an attemptError), which the
// engine may keep as a JSON string of the text the worker sent.
func decodeError(s string) (*backends.TaskError, attemptInfo) {
	var text string
	if strings.HasPrefix(s, `"`) && json.Unmarshal([]byte(s), &text) == nil {
		s = text
	}
	var info attemptInfo
	if i := strings.IndexByte(s, '{'); i >= 0 {
		json.Unmarshal([]byte(s[i:]), &info)
	}
	return backends.DecodeTaskError(s), info
}

// details reads a run over gRPC, which is current at once (the REST API
// lags); an unknown run is backends.ErrNotFound.
func (b *backend) details(ctx context.Context, run string) (*v0.RunDetails, error) {
	u, err := uuid.Parse(run)
	if err != nil {
		return nil, backends.ErrNotFound
	}
	d, err := b.c.Runs().GetDetails(ctx, u)
	if err != nil {
		if status.Code(err) == codes.NotFound || strings.Contains(strings.ToLower(err.Error()), "not found") {
			return nil, fmt.Errorf("run %s: %w", run, backends.ErrNotFound)
		}
		return nil, err
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
func statusOf(run rest.V1TaskStatus, t *rest.V1TaskSummary) backends.Status {
	switch run {
	case rest.V1TaskStatusCOMPLETED:
		return backends.StatusSucceeded
	case rest.V1TaskStatusFAILED:
		return backends.StatusFailed
	case rest.V1TaskStatusCANCELLED:
		return backends.StatusCancelled
	case rest.V1TaskStatusRUNNING:
		if t != nil && t.Status == rest.V1TaskStatusQUEUED {
			return backends.StatusRetrying
		}
		return backends.StatusRunning
	}
	if t != nil && t.RetryCount != nil && *t.RetryCount > 0 {
		return backends.StatusRetrying
	}
	return backends.StatusPending
}

// Wait polls the run's state over gRPC: Hatchet's SDK tells of a run's
// end only on the handle its run call returned, not by id. A run the
// engine has not recorded yet is waited for (see unrecorded).
func (b *backend) Wait(ctx context.Context, id string) (backends.TaskResult, error) {
	pause := poller()
	seen := time.Now() // the last time the task was found
	missing := func(err error) bool { return unrecorded(err, id, seen) }
	pending := backends.TaskResult{ID: id, Engine: Engine, Status: backends.StatusPending}
	return backends.WaitDone(ctx, func(ctx context.Context) (backends.TaskResult, backends.Status, error) {
		run, _, err := b.runID(ctx, id)
		var d *v0.RunDetails
		if err == nil && run != "" {
			d, err = b.details(ctx, run)
		}
		if err == nil {
			seen = time.Now()
		}
		if missing(err) {
			return pending, backends.StatusPending, nil
		}
		if d != nil && !d.Done {
			return backends.TaskResult{ID: id, Engine: Engine, Status: backends.StatusRunning}, backends.StatusRunning, nil
		}
		if err != nil {
			return backends.TaskResult{ID: id, Engine: Engine}, "", err
		}
		r, err := b.Result(ctx, id)
		if missing(err) { // a delayed task between its schedule and its run
			return pending, backends.StatusPending, nil
		}
		return r, r.Status, err
	}, pause)
}

// recordLag is how long a run id may be unknown to the engine after it
// was handed out: the engine records a run a moment after accepting it
// (seconds when it is busy: a DAG's run took over 5 s in CI with every
// test package running), and the REST API lists a delayed task's run some
// seconds after its schedule is gone.
const recordLag = time.Minute

// unrecorded says whether a not-found error for id, last found (or
// first asked for) at seen, may be the engine's lag rather than an
// unknown id: Wait and WaitWorkflow keep waiting then.
func unrecorded(err error, id string, seen time.Time) bool {
	if !errors.Is(err, backends.ErrNotFound) || time.Since(seen) >= recordLag {
		return false
	}
	_, perr := uuid.Parse(strings.TrimPrefix(id, schedPrefix))
	return perr == nil
}

// poller returns the pause between two reads of a waiter: 5 ms for the
// first quarter second (a lone run takes 30-50 ms), then growing by half
// each time up to 100 ms.
func poller() func(context.Context) error {
	interval := 5 * time.Millisecond
	start := time.Now()
	return func(ctx context.Context) error {
		d := interval
		if time.Since(start) > 250*time.Millisecond {
			interval = min(interval*3/2, 100*time.Millisecond)
		}
		_, err := backends.Pause(ctx, d, nil)
		return err
	}
}

// Ping implements backends.Pinger: it asks the engine its version (a
// Result of an id that is not a UUID never reaches the engine).
func (b *backend) Ping(ctx context.Context) error {
	if _, err := b.c.GetEngineVersion(ctx); err != nil {
		return fmt.Errorf("hatchet: the engine does not answer: %w", err)
	}
	return nil
}

func (b *backend) Close() error { return b.c.Close(context.Background()) }
