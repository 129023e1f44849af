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
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"
	"github.com/hatchet-dev/hatchet/sdks/go/features"

	"taskhost.dev/backends/driver"
)

// The metadata keys of a delayed task: its id's token and its unique key.
const (
	delayedMeta = "taskhost_delayed"
	uniqueMeta  = "taskhost_unique_key"
)

// schedPrefix marks the id of a delayed task: a Hatchet scheduled run,
// which becomes a workflow run at its time.
const schedPrefix = "sched-"

// retryOptions are a task's or step's retries and backoff, as far as
// Hatchet's formula allows: Hatchet waits factor^n seconds before retry n
// (from 1), with no initial interval. The default backoff so waits one
// doubling later than driver.RetryDelay's (2 s, 4 s, ... up to
// driver.RetryMaxDelay); a task's own backoff Hatchet can express is an
// exponential one from 2 s (factor 2) or a fixed one of 1 s (factor 1),
// with any maximum; any other is an UnsupportedError.
func retryOptions(spec driver.TaskSpec) ([]hatchet.TaskOption, error) {
	b := spec.Backoff.WithDefaults()
	factor := float32(driver.RetryBackoffFactor)
	switch {
	case spec.Backoff.Custom() == nil:
	case b.Jitter > 0:
		return nil, &driver.UnsupportedError{Engine: Engine, What: fmt.Sprintf("task %s's retry jitter", spec.Name),
			Hint: "Hatchet's backoff has no jitter; leave retry_jitter unset"}
	case b.Fixed && b.Initial == time.Second:
		factor = 1
	case !b.Fixed && b.Initial == 2*time.Second:
	default:
		return nil, &driver.UnsupportedError{Engine: Engine, What: fmt.Sprintf("task %s's backoff (retry_delay %s, fixed %t)", spec.Name, b.Initial, b.Fixed),
			Hint: `Hatchet waits factor^n seconds: it can wait 2 s, 4 s, 8 s... (retry_delay = "2s") or 1 s each time (retry_delay = "1s", retry_backoff = "fixed"), with any retry_max_delay`}
	}
	return []hatchet.TaskOption{
		hatchet.WithRetries(spec.MaxRetries),
		hatchet.WithRetryBackoff(factor, max(1, int(b.Max/time.Second))),
		hatchet.WithScheduleTimeout(scheduleTimeout),
	}, nil
}

// idempotencyKey is the CEL expression of a task run's idempotency key:
// the envelope's key, and for the tick of a cron trigger (see
// PutSchedule) the tick's time, so that each tick of a schedule is a run
// of its own (and a tick fired twice is one).
const idempotencyKey = `input.key + ("` + cronTickMeta + `" in additional_metadata ? "@" + string(additional_metadata["` + cronTickMeta + `"]) : "")`

// cronTickMeta is the metadata key in which Hatchet gives a cron tick's
// run its scheduled time.
const cronTickMeta = "hatchet__cron_scheduled_at"

// taskWorkflow is the Hatchet workflow of a task on a queue, with the
// task's registered retries and timeout; fn runs it (nil on a client).
func (b *backend) taskWorkflow(spec driver.TaskSpec, queue string, fn func(ctx hatchet.Context, in envelope) (output, error)) (*hatchet.StandaloneTask, error) {
	if fn == nil {
		fn = func(hatchet.Context, envelope) (output, error) {
			return output{}, errors.New("a client's declaration ran")
		}
	}
	retry, err := retryOptions(spec)
	if err != nil {
		return nil, err
	}
	var opts []hatchet.StandaloneTaskOption
	for _, o := range retry {
		opts = append(opts, o)
	}
	opts = append(opts,
		hatchet.WithWorkflowIdempotency(hatchet.IdempotencyConfig{Expression: idempotencyKey, TTL: 24 * time.Hour, Method: hatchet.IdempotencyMethodStatus}),
		hatchet.WithWorkflowDescription(fmt.Sprintf("taskhost task %s on queue %s", spec.Name, queue)),
		hatchet.WithExecutionTimeout(spec.Timeout))
	return b.c.NewStandaloneTask(workflowName(spec.Name, queue), fn, opts...), nil
}

// putOnce puts the workflow build makes to the engine, once per process
// and key, so that a run can be submitted before any worker serves it: a
// worker that is not started registers its workflows and nothing else.
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

// Enqueue implements driver.Driver: a run of the task's workflow on the
// job's queue, or, for a job with a later RunAt, a scheduled run.
func (b *backend) Enqueue(ctx context.Context, j *driver.Job) (string, error) {
	name, env, err := b.prepare(j)
	if err != nil {
		return "", err
	}
	if !j.RunAt.IsZero() && time.Until(j.RunAt) > 0 {
		return b.schedule(ctx, name, j, env)
	}
	if j.UniqueKey != "" {
		// A delayed task with the key counts too.
		if id, ok, err := b.scheduledWithKey(ctx, j.UniqueKey); err != nil {
			return "", fmt.Errorf("hatchet: submit %q: looking up unique key %q: %w", j.Task, j.UniqueKey, err)
		} else if ok {
			return id, nil
		}
	}
	ref, err := b.c.RunNoWait(ctx, name, env)
	if id, ok := collision(err); ok {
		return id, nil
	}
	if err != nil {
		return "", fmt.Errorf("hatchet: submit %q: %w", j.Task, err)
	}
	b.recent.note(ref.RunId, nil)
	return ref.RunId, nil
}

// prepare makes a job's run: the name of the task's workflow on the job's
// queue (put to the engine once), and the run's input.
func (b *backend) prepare(j *driver.Job) (string, envelope, error) {
	spec, err := b.tasks.Spec(j.Task)
	if err != nil {
		return "", envelope{}, err
	}
	env := envelope{Input: j.Input, Key: j.UniqueKey, Task: j.Task, Queue: j.Queue, EnqueuedAt: time.Now().UTC(), Meta: j.Meta}
	if env.Key == "" {
		env.Key = uuid.NewString()
	}
	if j.MaxRetries != spec.MaxRetries {
		if j.MaxRetries > spec.MaxRetries {
			return "", env, &driver.UnsupportedError{Engine: Engine, What: fmt.Sprintf("MaxRetries(%d) above task %s's registered %d", j.MaxRetries, spec.Name, spec.MaxRetries),
				Hint: "Hatchet fixes a task's retries when its workflow is registered; raise max_retries in the manifest"}
		}
		env.MaxRetries = &j.MaxRetries
	}
	if j.Timeout != spec.Timeout {
		env.TimeoutMS = j.Timeout.Milliseconds()
	}
	name := workflowName(spec.Name, j.Queue)
	if err := b.putOnce(name, name, func() (hatchet.WorkflowBase, error) { return b.taskWorkflow(spec, j.Queue, nil) }); err != nil {
		return "", env, fmt.Errorf("hatchet: submit %q: %w", j.Task, err)
	}
	return name, env, nil
}

// schedule submits a delayed task as a Hatchet scheduled run; its id is a
// token in the schedule's metadata, which the run inherits. Hatchet checks
// idempotency keys when a scheduled run starts, so a delayed task's key is
// in that metadata too, looked up here first (two submissions at the same
// moment can both schedule).
func (b *backend) schedule(ctx context.Context, name string, j *driver.Job, env envelope) (string, error) {
	token := uuid.NewString()
	meta := map[string]any{delayedMeta: token}
	if j.UniqueKey != "" {
		if id, ok, err := b.withKey(ctx, j.UniqueKey); err != nil {
			return "", fmt.Errorf("hatchet: submit %q: looking up unique key %q: %w", j.Task, j.UniqueKey, err)
		} else if ok {
			return id, nil
		}
		meta[uniqueMeta] = j.UniqueKey
	}
	in, err := inputMap(env)
	if err != nil {
		return "", err
	}
	at := j.RunAt
	if soon := time.Now().Add(10 * time.Millisecond); at.Before(soon) {
		at = soon // the time came while declaring
	}
	if _, err := b.c.Schedules().Create(ctx, name, features.CreateScheduledRunTrigger{TriggerAt: at, Input: in, AdditionalMetadata: meta}); err != nil {
		return "", fmt.Errorf("hatchet: scheduling %q: %w", j.Task, err)
	}
	id := schedPrefix + token
	b.recent.note(id, nil)
	return id, nil
}

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

// collision returns the run holding the key of a refused run: the SDK
// returns its own error type for that on some paths and the client's on
// others (RunNoWait).
func collision(err error) (string, bool) {
	if e, ok := hatchet.IsIdempotencyCollisionError(err); ok {
		return e.ExistingRunExternalId, true
	}
	var v *v0.IdempotencyViolationErr
	if errors.As(err, &v) {
		return v.ExistingRunExternalId, true
	}
	return "", false
}

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
