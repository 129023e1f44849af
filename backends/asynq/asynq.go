package asynq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
)

// Engine is the name this backend registers under.
const Engine = "asynq"

// DefaultURL is the Redis server used when neither Config.URL nor
// REDIS_URL names one.
const DefaultURL = "redis://127.0.0.1:6379/0"

// Retention is how long asynq keeps a finished task and its result.
const Retention = 24 * time.Hour

const (
	doneChannel = "taskhost:done"
	timesPrefix = "taskhost:times:" // hash per task: started_at, finished_at of the last attempt; once final, done (attempts), error, task, enqueued_at, output
)

func init() { backends.Register(Engine, Open) }

type backend struct {
	rc     redis.UniversalClient
	client *asynq.Client
	insp   *asynq.Inspector
	logger *slog.Logger

	checkInterval time.Duration // asynq.Config.TaskCheckInterval

	tasks backends.TaskRegistry

	wmu       sync.Mutex
	waiters   map[string]map[chan struct{}]bool
	listening bool
	stop      context.CancelFunc
	sub       *redis.PubSub
}

// Open connects to Redis; see the package documentation.
func Open(ctx context.Context, cfg backends.Config) (backends.Backend, error) {
	if err := cfg.CheckOptions(Engine, OptTaskCheckInterval); err != nil {
		return nil, err
	}
	check, err := checkInterval(cfg)
	if err != nil {
		return nil, err
	}
	url := cfg.URL
	if url == "" {
		url = os.Getenv("REDIS_URL")
	}
	if url == "" {
		url = DefaultURL
	}
	opt, err := asynq.ParseRedisURI(url)
	if err != nil {
		return nil, fmt.Errorf("asynq: Redis URL %q: %w (want redis://host:port/db)", url, err)
	}
	rc, ok := opt.MakeRedisClient().(redis.UniversalClient)
	if !ok {
		return nil, fmt.Errorf("asynq: Redis URL %q: unsupported connection kind", url)
	}
	if err := rc.Ping(ctx).Err(); err != nil {
		rc.Close()
		return nil, fmt.Errorf("asynq: connecting to Redis at %s: %w (check REDIS_URL)", url, err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return &backend{
		rc: rc, client: asynq.NewClientFromRedisClient(rc), insp: asynq.NewInspectorFromRedisClient(rc),
		logger: logger, waiters: map[string]map[chan struct{}]bool{}, checkInterval: check,
	}, nil
}

// OptTaskCheckInterval names the option (Config.Options, host worker
// --backend-opt) that sets how often an idle worker polls for tasks, as a
// Go duration ("5ms", "1s"); ASYNQ_TASK_CHECK_INTERVAL is its variable.
const OptTaskCheckInterval = "task_check_interval"

// checkInterval reads the task check interval from the options, then the
// environment, then DefaultTaskCheckInterval.
func checkInterval(cfg backends.Config) (time.Duration, error) {
	v, where := cfg.Options[OptTaskCheckInterval], "option "+OptTaskCheckInterval
	if v == "" {
		v, where = os.Getenv("ASYNQ_TASK_CHECK_INTERVAL"), "ASYNQ_TASK_CHECK_INTERVAL"
	}
	if v == "" {
		return DefaultTaskCheckInterval, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Millisecond || d > time.Minute {
		return 0, fmt.Errorf("asynq: %s: %q is not a duration between 1ms and 1m (e.g. 5ms, 200ms, 1s)", where, v)
	}
	return d, nil
}

func (b *backend) Engine() string { return Engine }

func (b *backend) Register(tasks ...backends.TaskSpec) error {
	if err := b.tasks.Register("default", tasks...); err != nil {
		return fmt.Errorf("asynq: %w", err)
	}
	return nil
}

func (b *backend) spec(task string) (backends.TaskSpec, error) { return b.tasks.Spec(task, "default") }

// envelope is an asynq task's payload.
type envelope struct {
	Input      json.RawMessage `json:"input"`
	EnqueuedAt time.Time       `json:"enqueued_at"`
	Timeout    time.Duration   `json:"timeout,omitempty"`
	WF         *wfRef          `json:"wf,omitempty"`
}

// wfRef places a task in a workflow.
type wfRef struct {
	ID    string `json:"id"`
	Stage int    `json:"stage"`
	Index int    `json:"index"`
}

func (b *backend) Submit(ctx context.Context, task string, input json.RawMessage, opts ...backends.SubmitOption) (string, error) {
	spec, err := b.spec(task)
	if err != nil {
		return "", err
	}
	if !json.Valid(input) {
		return "", fmt.Errorf("asynq: submit %q: the input is not a valid JSON document", task)
	}
	o := backends.ApplySubmitOptions(opts)
	taskID := ""
	if o.UniqueKey != "" {
		taskID = "u:" + o.UniqueKey
	}
	return b.enqueue(ctx, spec, input, o, taskID, nil)
}

// enqueue puts one task on its queue; taskID is asynq's id ("" for a new
// random one). A conflicting id returns the existing task's id.
func (b *backend) enqueue(ctx context.Context, spec backends.TaskSpec, input json.RawMessage, o backends.SubmitOptions, taskID string, wf *wfRef) (string, error) {
	queue := spec.Queue
	if o.Queue != "" {
		queue = o.Queue
	}
	retries := spec.MaxRetries
	if o.MaxRetries != nil {
		retries = *o.MaxRetries
	}
	timeout := spec.Timeout
	if o.Timeout > 0 {
		timeout = o.Timeout
	}
	if timeout <= 0 {
		timeout = time.Minute
	}
	payload, _ := json.Marshal(envelope{Input: input, EnqueuedAt: time.Now().UTC(), Timeout: timeout, WF: wf})
	// asynq counts timeouts and times in whole seconds: its own timeout is
	// rounded up (the exact one applies in the worker), and a delayed task
	// runs at the next whole second, never early.
	aopts := []asynq.Option{asynq.Queue(queue), asynq.MaxRetry(retries), asynq.Timeout(timeout.Truncate(time.Second) + time.Second), asynq.Retention(Retention)}
	if !o.RunAt.IsZero() {
		aopts = append(aopts, asynq.ProcessAt(o.RunAt.Truncate(time.Second).Add(time.Second)))
	}
	if taskID != "" {
		aopts = append(aopts, asynq.TaskID(taskID))
	}
	if taskID != "" {
		// A chosen id may have served an earlier task, whose outcome
		// must not be read as the new one's.
		b.rc.Del(ctx, timesPrefix+queue+"/"+taskID)
	}
	info, err := b.client.EnqueueContext(ctx, asynq.NewTask(spec.Name, payload), aopts...)
	if errors.Is(err, asynq.ErrTaskIDConflict) {
		return queue + "/" + taskID, nil
	}
	if err != nil {
		return "", fmt.Errorf("asynq: submit %q: %w", spec.Name, err)
	}

	return info.Queue + "/" + info.ID, nil
}

func splitID(id string) (queue, taskID string, err error) {
	queue, taskID, ok := strings.Cut(id, "/")
	if !ok || queue == "" || taskID == "" {
		return "", "", fmt.Errorf("asynq: task id %q: %w (asynq ids read QUEUE/ID)", id, backends.ErrNotFound)
	}
	return queue, taskID, nil
}

func (b *backend) Result(ctx context.Context, id string) (backends.TaskResult, error) {
	queue, taskID, err := splitID(id)
	if err != nil {
		return backends.TaskResult{}, err
	}
	info, err := b.insp.GetTaskInfo(queue, taskID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return backends.TaskResult{}, fmt.Errorf("asynq: task %s: %w", id, backends.ErrNotFound)
	}
	if err != nil {
		return backends.TaskResult{}, fmt.Errorf("asynq: reading task %s: %w", id, err)
	}
	times, err := b.rc.HGetAll(ctx, timesPrefix+id).Result()
	if err != nil {
		return backends.TaskResult{}, fmt.Errorf("asynq: reading task %s: %w", id, err)
	}
	return b.resultOf(id, info, times), nil
}

func (b *backend) resultOf(id string, info *asynq.TaskInfo, times map[string]string) backends.TaskResult {
	var env envelope
	_ = json.Unmarshal(info.Payload, &env)
	r := backends.TaskResult{ID: id, Task: info.Type, Queue: info.Queue, EnqueuedAt: env.EnqueuedAt, Engine: Engine}
	r.StartedAt, _ = time.Parse(time.RFC3339Nano, times["started_at"])
	r.FinishedAt, _ = time.Parse(time.RFC3339Nano, times["finished_at"])
	// asynq counts an attempt in Retried when it schedules the next one
	// (a lease lost to a killed worker included); the running, last or
	// finished attempt is one more.
	r.Attempts = info.Retried
	if info.LastErr != "" {
		r.Error = backends.DecodeTaskError(info.LastErr)
	}
	switch info.State {
	case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateAggregating:
		r.Status = backends.StatusPending
		if r.Attempts > 0 {
			r.Status = backends.StatusRetrying
		}
	case asynq.TaskStateActive:
		r.Attempts++
		r.Status = backends.StatusRunning
		if times["done"] == strconv.Itoa(r.Attempts) { // the handler has returned; asynq is about to record it
			switch {
			case times["error"] != "":
				r.Status, r.Error = backends.StatusFailed, backends.DecodeTaskError(times["error"])
			case times["has_output"] == "1":
				r.Status, r.Output = backends.StatusSucceeded, backends.CompactJSON([]byte(times["output"]))
			case len(info.Result) > 0:
				r.Status, r.Output = backends.StatusSucceeded, backends.CompactJSON(info.Result)
			}
			// Else the task info was read before the output was written:
			// still running, as far as this read can tell.
		}
	case asynq.TaskStateRetry:
		r.Status = backends.StatusRetrying
	case asynq.TaskStateCompleted:
		r.Attempts++
		r.Status, r.Error = backends.StatusSucceeded, nil
		r.Output = backends.CompactJSON(info.Result)
	case asynq.TaskStateArchived:
		r.Attempts++
		r.Status = backends.StatusFailed
	}
	return r
}

// taskErr is a handler's error as asynq stores it (backends.EncodeTaskError).
type taskErr struct{ e *backends.TaskError }

func (t taskErr) Error() string { return backends.EncodeTaskError(t.e) }

func (b *backend) Wait(ctx context.Context, id string) (backends.TaskResult, error) {
	if _, _, err := splitID(id); err != nil {
		return backends.TaskResult{}, err
	}
	wait, cancel := b.subscribe(id)
	defer cancel()
	return backends.WaitDone(ctx, func(ctx context.Context) (backends.TaskResult, backends.Status, error) {
		// A finished task's record is usually its whole result: one read,
		// where Result needs two and asynq's own is a script.
		if rec, err := b.rc.HGetAll(ctx, timesPrefix+id).Result(); err == nil {
			if r, ok := recordedResult(id, rec); ok {
				return r, r.Status, nil
			}
		}
		r, err := b.Result(ctx, id)
		return r, r.Status, err
	}, wait)
}

// recordedResult builds a finished task's result from its record alone,
// when the record holds all of it.
func recordedResult(id string, rec map[string]string) (backends.TaskResult, bool) {
	if rec["done"] == "" || (rec["error"] == "" && rec["has_output"] != "1") {
		return backends.TaskResult{}, false
	}
	queue, _, _ := strings.Cut(id, "/")
	r := backends.TaskResult{ID: id, Task: rec["task"], Queue: queue, Engine: Engine, Status: backends.StatusSucceeded}
	r.Attempts, _ = strconv.Atoi(rec["done"])
	r.EnqueuedAt, _ = time.Parse(time.RFC3339Nano, rec["enqueued_at"])
	r.StartedAt, _ = time.Parse(time.RFC3339Nano, rec["started_at"])
	r.FinishedAt, _ = time.Parse(time.RFC3339Nano, rec["finished_at"])
	if e := rec["error"]; e != "" {
		r.Status, r.Error = backends.StatusFailed, backends.DecodeTaskError(e)
	} else {
		r.Output = backends.CompactJSON([]byte(rec["output"]))
	}
	return r, true
}

func (b *backend) Close() error {
	b.wmu.Lock()
	if b.stop != nil {
		b.stop()
	}
	if b.sub != nil {
		b.sub.Close() // before the client, or go-redis logs the broken connection
	}
	b.wmu.Unlock()
	b.client.Close()
	return b.rc.Close()
}
