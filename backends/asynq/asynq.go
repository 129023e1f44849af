package asynq

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
	"taskhost.dev/backends/driver"
	"taskhost.dev/backends/internal/redisflow"
	"taskhost.dev/backends/internal/redishub"
	"taskhost.dev/backends/internal/redisschedule"
	"taskhost.dev/backends/internal/redisunique"
)

// Engine is the name this backend registers under.
const Engine = "asynq"

// DefaultURL is the Redis server used when neither Config.URL nor
// REDIS_URL names one.
const DefaultURL = "redis://127.0.0.1:6379/0"

// Retention is how long asynq keeps a finished task and its result.
const Retention = 24 * time.Hour

// The keys and channel this package adds beside asynq's.
const (
	doneChannel     = "taskhost:done"       // the ids of finished tasks and workflows
	timesPrefix     = "taskhost:times:"     // hash per task QUEUE/ID: started_at, finished_at of the last attempt, progress, cancel (1 once Cancel asked); once final, done (attempts), status (cancelled or empty), error, task, enqueued_at, output
	claimPrefix     = "taskhost:claim:"     // hash per held unique key (redisunique)
	flowPrefix      = "taskhost:wf:"        // a workflow of the client's runner (redisflow)
	flowTTL         = Retention + time.Hour // a workflow outlives its steps' records
	cancelledPrefix = "taskhost:cancelled:" // sorted set per queue: the ids of its tasks cancelled within Retention, by time (ms)
	schedulePrefix  = "taskhost:schedule:"  // the schedules the client's beat fires (redisschedule)
)

func init() { backends.Register(Engine, Open) }

var (
	_ driver.FlowStore     = (*backend)(nil)
	_ driver.FlowCanceler  = (*backend)(nil)
	_ driver.Notifier      = (*backend)(nil)
	_ driver.Pinger        = (*backend)(nil)
	_ driver.Canceler      = (*backend)(nil)
	_ driver.Batcher       = (*backend)(nil)
	_ driver.ScheduleStore = (*backend)(nil)
	_ driver.Lister        = (*backend)(nil)
	_ driver.Retrier       = (*backend)(nil)
	_ driver.Purger        = (*backend)(nil)
	_ driver.QueueStatser  = (*backend)(nil)
	_ driver.WorkerCounter = (*backend)(nil)
)

// liveStates are asynq's states of a task that is not done.
var liveStates = []string{"pending", "active", "scheduled", "retry", "aggregating"}

type backend struct {
	redisflow.Store // the client runs workflows on it (driver.FlowStore); EnqueueStage is in workflow.go

	rc     redis.UniversalClient
	client *asynq.Client
	insp   *asynq.Inspector
	logger *slog.Logger
	hub    driver.Hub
	unique redisunique.Keys
	sched  redisschedule.Store // the schedules (driver.ScheduleStore, schedule.go)

	checkInterval time.Duration // asynq.Config.TaskCheckInterval

	// Close ends the Work calls still running (closing), and waits for
	// them: an asynq server must stop before its Redis client is closed.
	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	works   sync.WaitGroup
}

// Open connects to Redis; see the package documentation.
func Open(ctx context.Context, cfg driver.Config) (driver.Driver, error) {
	if err := driver.CheckOptions(Engine, cfg.Options, OptTaskCheckInterval); err != nil {
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
	b := &backend{
		rc: rc, client: asynq.NewClientFromRedisClient(rc), insp: asynq.NewInspectorFromRedisClient(rc),
		logger: cfg.Logger, checkInterval: check, closing: make(chan struct{}),
		unique: redisunique.Keys{Prefix: claimPrefix, StateField: "state", Live: liveStates},
	}
	b.Store = redisflow.Store{RC: rc, Prefix: flowPrefix, TTL: flowTTL, Announce: b.publish}
	b.sched = redisschedule.Store{RC: rc, Prefix: schedulePrefix, Enqueue: b.enqueue}
	b.hub = driver.Hub{Listen: b.listen, Poll: 100 * time.Millisecond}
	return b, nil
}

// OptTaskCheckInterval names the option (Config.Options, host worker
// --backend-opt) that sets how often an idle worker polls for tasks, as a
// Go duration ("5ms", "1s"); ASYNQ_TASK_CHECK_INTERVAL is its variable.
const OptTaskCheckInterval = "task_check_interval"

// DefaultTaskCheckInterval is how often, on average, an idle worker asks
// Redis for a new task when the option task_check_interval (or
// ASYNQ_TASK_CHECK_INTERVAL) does not say. asynq's own default, 1 s, puts
// a lone task's latency near a second; at 5 ms an idle worker runs about
// 200 small dequeue scripts a second against Redis (see docs/BENCHMARKS.md
// for the latency and the load measured at several settings).
const DefaultTaskCheckInterval = 5 * time.Millisecond

// checkInterval reads the task check interval from the options, then the
// environment, then DefaultTaskCheckInterval.
func checkInterval(cfg driver.Config) (time.Duration, error) {
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

// Ping implements driver.Pinger.
func (b *backend) Ping(ctx context.Context) error {
	if err := b.rc.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("asynq: Redis: %w", err)
	}
	return nil
}

// Subscribe implements driver.Notifier: the ids published on doneChannel.
func (b *backend) Subscribe(id string) (wait func(context.Context) error, cancel func()) {
	return b.hub.Subscribe(id)
}

// publish announces that the task or workflow id is done.
func (b *backend) publish(ctx context.Context, id string) error {
	return b.rc.Publish(ctx, doneChannel, id).Err()
}

// listen holds the hub's subscription to doneChannel, whose messages are
// the ids of finished tasks and workflows.
func (b *backend) listen(ctx context.Context, ready func()) {
	redishub.Listen(ctx, ready, &b.hub, b.logger, Engine,
		func(ctx context.Context) *redis.PubSub { return b.rc.Subscribe(ctx, doneChannel) },
		func(m *redis.Message) string { return m.Payload })
}

// Close ends the driver's running Work calls (each drains as when its
// context ends), then closes its Redis connections.
func (b *backend) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.closing)
	}
	b.mu.Unlock()
	b.works.Wait()
	b.hub.Close() // before the client, or go-redis logs the broken connection
	b.client.Close()
	return b.rc.Close()
}
