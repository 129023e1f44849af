package celery

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
	"taskhost.dev/backends/driver"
	"taskhost.dev/backends/internal/redisflow"
	"taskhost.dev/backends/internal/redisunique"
)

// Engine is the name this backend registers under.
const Engine = "celery"

// DefaultURL is the Redis broker used when neither Config.URL nor
// CELERY_BROKER_URL names one.
const DefaultURL = "redis://127.0.0.1:6379/0"

// DefaultQueue is Celery's default queue, used for tasks registered
// without one.
const DefaultQueue = "celery"

// The options (Config.Options, host worker --backend-opt) and their
// environment variables.
const (
	// OptResultBackend is the Redis URL of Celery's result backend
	// (CELERY_RESULT_BACKEND); the broker's when unset.
	OptResultBackend = "result_backend"
	// OptVisibilityTimeout is kombu's visibility_timeout
	// (CELERY_VISIBILITY_TIMEOUT): an unacknowledged message older than
	// this is put back on its queue. Default 1h, as kombu's.
	OptVisibilityTimeout = "visibility_timeout"
	// OptTrackStarted is Celery's task_track_started
	// (CELERY_TASK_TRACK_STARTED): store the STARTED state when a task
	// starts. Default false, as Celery's.
	OptTrackStarted = "track_started"
	// OptResultExpires is Celery's result_expires (CELERY_RESULT_EXPIRES):
	// how long results are kept. Default 24h.
	OptResultExpires = "result_expires"
)

// Celery's defaults.
const (
	DefaultVisibilityTimeout = time.Hour
	DefaultResultExpires     = 24 * time.Hour
)

// Keys this package adds beside Celery's.
const (
	recordPrefix = "taskhost:celery:task:"  // hash per task: task, queue, enqueued_at, started_at, finished_at, attempt, state
	claimPrefix  = "taskhost:celery:claim:" // hash per held unique key (redisunique)
	flowPrefix   = "taskhost:celery:wf:"    // a workflow of the client's runner (redisflow); its end is published on the hash's name
	deadList     = "taskhost:celery:dead"   // messages no worker can read, kept for a person to look at
)

func init() { backends.Register(Engine, Open) }

var (
	_ driver.FlowStore      = (*backend)(nil)
	_ driver.FlowCanceler   = (*backend)(nil)
	_ driver.Notifier       = (*backend)(nil)
	_ driver.Pinger         = (*backend)(nil)
	_ driver.QueueDefaulter = (*backend)(nil)
	_ driver.Canceler       = (*backend)(nil)
	_ driver.Batcher        = (*backend)(nil)
	_ driver.Lister         = (*backend)(nil)
	_ driver.Retrier        = (*backend)(nil)
	_ driver.Purger         = (*backend)(nil)
	_ driver.QueueStatser   = (*backend)(nil)
	_ driver.WorkerCounter  = (*backend)(nil)
)

// liveStates are the states of this package's task record (recordPrefix)
// of a task that is not done.
var liveStates = []string{string(driver.StatusPending), string(driver.StatusRunning), string(driver.StatusRetrying)}

type backend struct {
	redisflow.Store // the client runs workflows on it (driver.FlowStore); EnqueueStage is in workflow.go

	broker  *redis.Client
	results *redis.Client
	logger  *slog.Logger
	origin  string
	control string // the channel of Celery's control broadcasts (control.go)
	tasks   driver.Registry
	hub     driver.Hub
	unique  redisunique.Keys

	visibility   time.Duration
	trackStarted bool
	expires      time.Duration
}

// Open connects to the broker and the result backend; see the package
// documentation.
func Open(ctx context.Context, cfg driver.Config) (driver.Driver, error) {
	if err := driver.CheckOptions(Engine, cfg.Options, OptResultBackend, OptVisibilityTimeout, OptTrackStarted, OptResultExpires); err != nil {
		return nil, err
	}
	b := &backend{logger: cfg.Logger, tasks: cfg.Tasks,
		unique: redisunique.Keys{Prefix: claimPrefix, StateField: "state", Live: liveStates}}
	var err error
	if b.visibility, err = durationOpt(cfg, OptVisibilityTimeout, "CELERY_VISIBILITY_TIMEOUT", DefaultVisibilityTimeout); err != nil {
		return nil, err
	}
	if b.expires, err = durationOpt(cfg, OptResultExpires, "CELERY_RESULT_EXPIRES", DefaultResultExpires); err != nil {
		return nil, err
	}
	if v, where := setting(cfg, OptTrackStarted, "CELERY_TASK_TRACK_STARTED"); v != "" {
		if b.trackStarted, err = strconv.ParseBool(v); err != nil {
			return nil, fmt.Errorf("celery: %s: %q is not true or false", where, v)
		}
	}
	brokerURL := cfg.URL
	if brokerURL == "" {
		brokerURL = os.Getenv("CELERY_BROKER_URL")
	}
	if brokerURL == "" {
		brokerURL = DefaultURL
	}
	resultURL, _ := setting(cfg, OptResultBackend, "CELERY_RESULT_BACKEND")
	if resultURL == "" {
		resultURL = brokerURL
	}
	if b.broker, err = dial(ctx, brokerURL, "broker (CELERY_BROKER_URL)"); err != nil {
		return nil, err
	}
	b.results = b.broker
	if resultURL != brokerURL {
		if b.results, err = dial(ctx, resultURL, "result backend (CELERY_RESULT_BACKEND)"); err != nil {
			b.broker.Close()
			return nil, err
		}
	}
	b.control = controlChannel(b.broker.Options().DB)
	host, _ := os.Hostname()
	b.origin = fmt.Sprintf("%d@%s", os.Getpid(), host)
	b.Store = redisflow.Store{RC: b.broker, Prefix: flowPrefix, TTL: b.expires + time.Hour, Announce: b.announceFlow}
	b.hub = driver.Hub{Listen: b.listen, Poll: pollInterval}
	return b, nil
}

func dial(ctx context.Context, url, what string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("celery: %s URL %q: %w (want redis://host:port/db)", what, url, err)
	}
	rc := redis.NewClient(opt)
	if err := rc.Ping(ctx).Err(); err != nil {
		rc.Close()
		return nil, fmt.Errorf("celery: connecting to the %s at %s: %w", what, url, err)
	}
	return rc, nil
}

// setting reads an option, then its environment variable, and says where
// the value came from.
func setting(cfg driver.Config, opt, env string) (value, where string) {
	if v := cfg.Options[opt]; v != "" {
		return v, "option " + opt
	}
	return os.Getenv(env), env
}

func durationOpt(cfg driver.Config, opt, env string, def time.Duration) (time.Duration, error) {
	v, where := setting(cfg, opt, env)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		// Celery's settings are seconds.
		if s, ferr := strconv.ParseFloat(v, 64); ferr == nil {
			d, err = time.Duration(s*float64(time.Second)), nil
		}
	}
	if err != nil || d < 100*time.Millisecond {
		return 0, fmt.Errorf("celery: %s: %q is not a duration of at least 100ms (e.g. 30s, 1h, or seconds as Celery writes them: 3600)", where, v)
	}
	return d, nil
}

func (b *backend) Engine() string { return Engine }

// DefaultQueue implements driver.QueueDefaulter: Celery's own, celery.
func (b *backend) DefaultQueue() string { return DefaultQueue }

// Ping implements driver.Pinger: the broker, and the result backend when
// it is another Redis.
func (b *backend) Ping(ctx context.Context) error {
	if err := b.broker.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("celery: broker: %w", err)
	}
	if b.results != b.broker {
		if err := b.results.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("celery: result backend: %w", err)
		}
	}
	return nil
}

func (b *backend) Close() error {
	b.hub.Close() // before the clients, or go-redis logs the broken connection
	if b.results != b.broker {
		b.results.Close()
	}
	return b.broker.Close()
}

func recordKey(id string) string { return recordPrefix + id }

func nowText() string { return time.Now().UTC().Format(time.RFC3339Nano) }
