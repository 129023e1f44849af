package celery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
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
	recordPrefix = "taskhost:celery:task:"   // hash per task: task, queue, enqueued_at, started_at, finished_at, attempt, state
	uniquePrefix = "taskhost:celery:unique:" // string per unique key: the task id
	deadList     = "taskhost:celery:dead"    // messages no worker can read, kept for a person to look at
)

func init() { backends.Register(Engine, Open) }

type backend struct {
	broker  *redis.Client
	results *redis.Client
	logger  *slog.Logger
	origin  string

	visibility   time.Duration
	trackStarted bool
	expires      time.Duration

	tasks backends.TaskRegistry
	notes notifier
}

// Open connects to the broker and the result backend; see the package
// documentation.
func Open(ctx context.Context, cfg backends.Config) (backends.Backend, error) {
	if err := cfg.CheckOptions(Engine, OptResultBackend, OptVisibilityTimeout, OptTrackStarted, OptResultExpires); err != nil {
		return nil, err
	}
	b := &backend{logger: cfg.Logger}
	if b.logger == nil {
		b.logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
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
	host, _ := os.Hostname()
	b.origin = fmt.Sprintf("%d@%s", os.Getpid(), host)
	b.notes.rc = b.results
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
func setting(cfg backends.Config, opt, env string) (value, where string) {
	if v := cfg.Options[opt]; v != "" {
		return v, "option " + opt
	}
	return os.Getenv(env), env
}

func durationOpt(cfg backends.Config, opt, env string, def time.Duration) (time.Duration, error) {
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

func (b *backend) Register(tasks ...backends.TaskSpec) error {
	if err := b.tasks.Register(DefaultQueue, tasks...); err != nil {
		return fmt.Errorf("celery: %w", err)
	}
	return nil
}

func (b *backend) spec(task string) (backends.TaskSpec, error) {
	return b.tasks.Spec(task, DefaultQueue)
}

func recordKey(id string) string { return recordPrefix + id }

func nowText() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// outgoing is a message ready to push.
type outgoing struct {
	id, task, queue string
	list            string
	raw             []byte
}

// newMessage builds the protocol v2 message of one call of task on queue.
// h carries the id, retries and any other header already known.
func (b *backend) newMessage(h headers, queue string, priority int, bd body) (outgoing, error) {
	if h.ID == "" {
		h.ID = uuid.NewString()
	}
	if h.RootID == "" {
		h.RootID = h.ID
	}
	if h.Lang == "" {
		h.Lang = "go"
	}
	h.Origin = b.origin
	h.ArgsRepr = repr(bd.Args)
	h.KwargsRepr = repr(bd.Kwargs)
	raw, err := json.Marshal(bd)
	if err != nil {
		return outgoing{}, err
	}
	env := envelope{
		Body:            base64.StdEncoding.EncodeToString(raw),
		ContentEncoding: "utf-8",
		ContentType:     "application/json",
		Headers:         h,
		Properties: properties{
			CorrelationID: h.ID,
			DeliveryMode:  2,
			DeliveryInfo:  deliveryInfo{RoutingKey: queue},
			Priority:      priority,
			BodyEncoding:  "base64",
			DeliveryTag:   uuid.NewString(),
		},
	}
	out, err := json.Marshal(env)
	return outgoing{id: h.ID, task: h.Task, queue: queue, list: priorityList(queue, priority), raw: out}, err
}

// repr is argsrepr/kwargsrepr: the JSON text, cut at 1 KiB.
func repr(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 1024 {
		return string(b[:1021]) + "..."
	}
	return string(b)
}

// push queues messages in p, with kombu's binding of each queue.
func push(ctx context.Context, p redis.Pipeliner, msgs ...outgoing) {
	for _, m := range msgs {
		p.SAdd(ctx, bindingKey(m.queue), bindingMember(m.queue))
		p.LPush(ctx, m.list, m.raw)
	}
}

// submission is one task to submit: its spec, input and options.
func (b *backend) submission(spec backends.TaskSpec, input json.RawMessage, o backends.SubmitOptions, id string, wf *wfRef) (outgoing, error) {
	queue := spec.Queue
	if o.Queue != "" {
		queue = o.Queue
	}
	h := headers{Task: spec.Name, ID: id, EnqueuedAt: nowText(), Workflow: wf}
	if o.MaxRetries != nil {
		h.MaxRetries = o.MaxRetries
	}
	timeout := spec.Timeout
	if o.Timeout > 0 {
		timeout = o.Timeout
	}
	if timeout > 0 {
		s := timeout.Seconds()
		h.TimeLimit[0] = &s
	}
	if !o.RunAt.IsZero() && o.RunAt.After(time.Now()) {
		eta := o.RunAt.UTC().Format(isoTime)
		h.ETA = &eta
	}
	args, kwargs := ArgsOf(input)
	return b.newMessage(h, queue, 0, body{Args: args, Kwargs: kwargs})
}

func (b *backend) Submit(ctx context.Context, task string, input json.RawMessage, opts ...backends.SubmitOption) (string, error) {
	spec, err := b.spec(task)
	if err != nil {
		return "", err
	}
	if !json.Valid(input) {
		return "", fmt.Errorf("celery: submit %q: the input is not a valid JSON document", task)
	}
	o := backends.ApplySubmitOptions(opts)
	m, err := b.submission(spec, input, o, "", nil)
	if err != nil {
		return "", fmt.Errorf("celery: submit %q: %w", task, err)
	}
	if o.UniqueKey != "" {
		if existing, ok, err := b.claimUnique(ctx, o.UniqueKey, m.id); err != nil {
			return "", fmt.Errorf("celery: submit %q: unique key %q: %w", task, o.UniqueKey, err)
		} else if !ok {
			return existing, nil
		}
	}
	if err := b.enqueue(ctx, m); err != nil {
		return "", fmt.Errorf("celery: submit %q: %w", task, err)
	}
	return m.id, nil
}

// enqueue records and pushes messages built by submission, in one
// transaction.
func (b *backend) enqueue(ctx context.Context, msgs ...outgoing) error {
	rec := b.broker.TxPipeline()
	for _, m := range msgs {
		rec.HSet(ctx, recordKey(m.id), "task", m.task, "queue", m.queue, "enqueued_at", nowText(), "state", string(backends.StatusPending))
		rec.Expire(ctx, recordKey(m.id), b.expires)
	}
	push(ctx, rec, msgs...)
	_, err := rec.Exec(ctx)
	return err
}

// claimUnique takes the unique key for id, unless a task that is not done
// holds it; then it returns that task's id and false.
func (b *backend) claimUnique(ctx context.Context, key, id string) (string, bool, error) {
	k := uniquePrefix + key
	for range 3 {
		ok, err := b.broker.SetNX(ctx, k, id, b.expires).Result()
		if err != nil || ok {
			return "", ok, err
		}
		holder, err := b.broker.Get(ctx, k).Result()
		if errors.Is(err, redis.Nil) {
			continue // expired meanwhile
		}
		if err != nil {
			return "", false, err
		}
		r, err := b.Result(ctx, holder)
		if err == nil && !r.Status.Done() {
			return holder, false, nil
		}
		// The holder is done or gone: take the key over, unless another
		// submission just did.
		if swapped, err := swapUnique.Run(ctx, b.broker, []string{k}, holder, id, b.expires.Milliseconds()).Int(); err != nil || swapped == 1 {
			return "", swapped == 1, err
		}
	}
	return "", false, errors.New("the key changed hands three times while submitting; try again")
}

var swapUnique = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	return 1
end
return 0
`)

func (b *backend) Result(ctx context.Context, id string) (backends.TaskResult, error) {
	if id == "" {
		return backends.TaskResult{}, fmt.Errorf("celery: an empty task id: %w", backends.ErrNotFound)
	}
	var metaCmd *redis.StringCmd
	var rec map[string]string
	if b.results == b.broker {
		p := b.broker.Pipeline()
		metaCmd = p.Get(ctx, metaKey(id))
		recCmd := p.HGetAll(ctx, recordKey(id))
		p.Exec(ctx)
		rec, _ = recCmd.Result()
		if err := recCmd.Err(); err != nil {
			return backends.TaskResult{}, fmt.Errorf("celery: reading task %s: %w", id, err)
		}
	} else {
		metaCmd = b.results.Get(ctx, metaKey(id))
		var err error
		if rec, err = b.broker.HGetAll(ctx, recordKey(id)).Result(); err != nil {
			return backends.TaskResult{}, fmt.Errorf("celery: reading task %s: %w", id, err)
		}
	}
	raw, err := metaCmd.Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return backends.TaskResult{}, fmt.Errorf("celery: reading the result of task %s: %w", id, err)
	}
	if len(raw) == 0 && len(rec) == 0 {
		return backends.TaskResult{}, fmt.Errorf("celery: task %s: %w", id, backends.ErrNotFound)
	}
	return resultOf(id, raw, rec)
}

// resultOf builds a task's result from its Celery meta (raw, may be
// empty) and this package's record of it (may be empty: a task submitted
// by Python and run by a Python worker).
func resultOf(id string, raw []byte, rec map[string]string) (backends.TaskResult, error) {
	r := backends.TaskResult{ID: id, Task: rec["task"], Queue: rec["queue"], Engine: Engine, Status: backends.Status(rec["state"])}
	if r.Status == "" {
		r.Status = backends.StatusPending
	}
	r.Attempts, _ = strconv.Atoi(rec["attempt"])
	r.EnqueuedAt, _ = time.Parse(time.RFC3339Nano, rec["enqueued_at"])
	r.StartedAt, _ = time.Parse(time.RFC3339Nano, rec["started_at"])
	r.FinishedAt, _ = time.Parse(time.RFC3339Nano, rec["finished_at"])
	if len(raw) == 0 {
		return r, nil
	}
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return r, fmt.Errorf("celery: the result of task %s is not Celery's JSON result format: %v", id, err)
	}
	if r.Task == "" {
		r.Task = m.Name
	}
	if r.Queue == "" {
		r.Queue = m.Queue
	}
	if r.Attempts == 0 && m.Status != statePending {
		r.Attempts = m.Retries + 1
	}
	if r.FinishedAt.IsZero() && m.DateDone != nil {
		r.FinishedAt, _ = parseISO(*m.DateDone)
	}
	switch m.Status {
	case stateStarted:
		r.Status = backends.StatusRunning
	case stateRetry:
		if r.Status != backends.StatusRunning {
			r.Status = backends.StatusRetrying
		}
		r.Error = taskErrorOf(m.Result)
	case stateSuccess:
		r.Status = backends.StatusSucceeded
		r.Output = backends.CompactJSON(m.Result)
	case stateFailure:
		r.Status, r.Error = backends.StatusFailed, taskErrorOf(m.Result)
	case stateRevoked:
		r.Status, r.Error = backends.StatusCancelled, taskErrorOf(m.Result)
	}
	return r, nil
}

func (b *backend) Wait(ctx context.Context, id string) (backends.TaskResult, error) {
	if id == "" {
		return backends.TaskResult{}, fmt.Errorf("celery: an empty task id: %w", backends.ErrNotFound)
	}
	wait, cancel := b.notes.subscribe(ctx, metaKey(id))
	defer cancel()
	return backends.WaitDone(ctx, func(ctx context.Context) (backends.TaskResult, backends.Status, error) {
		r, err := b.Result(ctx, id)
		return r, r.Status, err
	}, wait)
}

func (b *backend) Close() error {
	b.notes.close()
	if b.results != b.broker {
		b.results.Close()
	}
	return b.broker.Close()
}

// notifier shares one Redis subscription among waiters: a waiter
// subscribes to its channel (celery-task-meta-ID, on which Celery's
// result backend publishes every state it stores) and is woken by any
// message on it.
type notifier struct {
	rc *redis.Client

	mu    sync.Mutex
	ps    *redis.PubSub
	chans map[string]*channelWaiters
}

type channelWaiters struct {
	ready   chan struct{} // closed once the server confirmed the subscription
	waiters map[chan struct{}]bool
}

// pollInterval is how often a waiter reads the state without a notice.
const pollInterval = 500 * time.Millisecond

func (n *notifier) subscribe(ctx context.Context, channel string) (wait func(context.Context) error, cancel func()) {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.ps == nil {
		n.ps = n.rc.Subscribe(context.Background())
		n.chans = map[string]*channelWaiters{}
		go n.listen(n.ps)
	}
	cw := n.chans[channel]
	if cw == nil {
		cw = &channelWaiters{ready: make(chan struct{}), waiters: map[chan struct{}]bool{}}
		n.chans[channel] = cw
		if err := n.ps.Subscribe(ctx, channel); err != nil {
			close(cw.ready) // poll only
		}
	}
	cw.waiters[ch] = true
	n.mu.Unlock()
	// The state is read after the subscription holds, so that no notice
	// falls between the read and the wait.
	select {
	case <-cw.ready:
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	wait = func(ctx context.Context) error {
		_, err := backends.Pause(ctx, pollInterval, ch)
		return err
	}
	cancel = func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(cw.waiters, ch)
		if len(cw.waiters) == 0 && n.chans[channel] == cw {
			delete(n.chans, channel)
			n.ps.Unsubscribe(context.Background(), channel)
		}
	}
	return wait, cancel
}

func (n *notifier) listen(ps *redis.PubSub) {
	for msg := range ps.ChannelWithSubscriptions() {
		n.mu.Lock()
		switch m := msg.(type) {
		case *redis.Subscription:
			if cw := n.chans[m.Channel]; cw != nil && m.Kind == "subscribe" {
				select {
				case <-cw.ready:
				default:
					close(cw.ready)
				}
			}
		case *redis.Message:
			if cw := n.chans[m.Channel]; cw != nil {
				for ch := range cw.waiters {
					select {
					case ch <- struct{}{}:
					default:
					}
				}
			}
		}
		n.mu.Unlock()
	}
}

func (n *notifier) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.ps != nil {
		n.ps.Close()
	}
}
