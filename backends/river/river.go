package river

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"taskhost.dev/backends"
)

// Engine is the name this backend registers under.
const Engine = "river"

func init() {
	backends.Register(Engine, Open)
}

// Open opens River on the database that cfg.URL (else DATABASE_URL) names;
// see the package documentation.
func Open(ctx context.Context, cfg backends.Config) (backends.Backend, error) {
	if err := cfg.CheckOptions(Engine); err != nil {
		return nil, err
	}
	url := cfg.URL
	if url == "" {
		url = os.Getenv("DATABASE_URL")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = quietLogger()
	}
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return openPostgres(ctx, url, logger)
	}
	return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"), logger)
}

// quietLogger logs River's warnings and errors to standard error.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// jobArgs are the args of every taskhost job.
type jobArgs struct {
	Task    string          `json:"task"`
	Input   json.RawMessage `json:"input"`
	Timeout time.Duration   `json:"timeout,omitempty"`
	Unique  string          `json:"unique,omitempty" river:"unique"`
	WF      *wfRef          `json:"wf,omitempty"`
}

// wfRef places a job in a workflow.
type wfRef struct {
	ID    string `json:"id"`
	Stage int    `json:"stage"`
	Index int    `json:"index"`
}

func (jobArgs) Kind() string { return "taskhost" }

// db is what the generic adapter needs from a driver-specific database.
type db[TTx any] interface {
	driver() riverdriver.Driver[TTx]
	begin(ctx context.Context) (TTx, error)
	commit(ctx context.Context, tx TTx) error
	rollback(ctx context.Context, tx TTx)
	// exec and query run SQL (with $1-style parameters) in tx.
	exec(ctx context.Context, tx TTx, q string, args ...any) error
	query(ctx context.Context, tx TTx, q string, args ...any) (rows, error)
	// completeJobTx completes job in tx (river.JobCompleteTx).
	completeJobTx(ctx context.Context, tx TTx, job *river.Job[jobArgs]) error
	// notify announces in tx that the task or workflow key changed.
	notify(ctx context.Context, tx TTx, key string) error
	// subscribe starts watching key; wait blocks until it may have changed
	// (a notification, or the next poll), cancel stops.
	subscribe(key string) (wait func(ctx context.Context) error, cancel func())
	// pollInterval is the worker's fetch poll interval.
	pollInterval() time.Duration
	close()
	kind() string
}

// rows is the part of *sql.Rows and pgx.Rows the adapter uses.
type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// backend is the River backend over one database.
type backend[TTx any] struct {
	db     db[TTx]
	logger *slog.Logger
	client *river.Client[TTx] // insert-only client

	tasks backends.TaskRegistry
}

func newBackend[TTx any](ctx context.Context, d db[TTx], logger *slog.Logger) (*backend[TTx], error) {
	migrator, err := rivermigrate.New(d.driver(), &rivermigrate.Config{Logger: logger})
	if err == nil {
		_, err = migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
	}
	if err == nil {
		err = migrateWorkflows(ctx, d)
	}
	if err != nil {
		d.close()
		return nil, fmt.Errorf("river: migrating the %s database: %w", d.kind(), err)
	}
	// The insert client announces new jobs to workers (PostgreSQL NOTIFY) at
	// most once per FetchCooldown per queue; River's 100 ms default leaves a
	// task submitted soon after another waiting for the workers' next poll.
	client, err := river.NewClient(d.driver(), &river.Config{Logger: logger, FetchCooldown: 2 * time.Millisecond})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("river: %w", err)
	}
	return &backend[TTx]{db: d, logger: logger, client: client}, nil
}

func (b *backend[TTx]) Engine() string { return Engine }

func (b *backend[TTx]) Register(tasks ...backends.TaskSpec) error {
	if err := b.tasks.Register(river.QueueDefault, tasks...); err != nil {
		return fmt.Errorf("river: %w", err)
	}
	return nil
}

func (b *backend[TTx]) spec(task string) (backends.TaskSpec, error) {
	return b.tasks.Spec(task, river.QueueDefault)
}

func (b *backend[TTx]) Submit(ctx context.Context, task string, input json.RawMessage, opts ...backends.SubmitOption) (string, error) {
	spec, err := b.spec(task)
	if err != nil {
		return "", err
	}
	if !json.Valid(input) {
		return "", fmt.Errorf("river: submit %q: the input is not a valid JSON document", task)
	}
	args, ins := insertParams(spec, input, backends.ApplySubmitOptions(opts))
	res, err := b.client.Insert(ctx, args, ins)
	if err != nil {
		return "", fmt.Errorf("river: submit %q: %w", task, err)
	}
	return strconv.FormatInt(res.Job.ID, 10), nil
}

// insertParams maps a task and its options onto River's job args and
// insert options.
func insertParams(spec backends.TaskSpec, input json.RawMessage, o backends.SubmitOptions) (jobArgs, *river.InsertOpts) {
	args := jobArgs{Task: spec.Name, Input: input, Timeout: spec.Timeout, Unique: o.UniqueKey}
	ins := &river.InsertOpts{Queue: spec.Queue, MaxAttempts: spec.MaxRetries + 1}
	if o.Queue != "" {
		ins.Queue = o.Queue
	}
	if o.MaxRetries != nil {
		ins.MaxAttempts = *o.MaxRetries + 1
	}
	if o.Timeout > 0 {
		args.Timeout = o.Timeout
	}
	if !o.RunAt.IsZero() {
		ins.ScheduledAt = o.RunAt
	}
	if o.UniqueKey != "" {
		ins.UniqueOpts = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}}
	}
	return args, ins
}

func parseID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("river: task id %q: %w (River ids are positive integers)", id, backends.ErrNotFound)
	}
	return n, nil
}

func (b *backend[TTx]) Result(ctx context.Context, id string) (backends.TaskResult, error) {
	n, err := parseID(id)
	if err != nil {
		return backends.TaskResult{}, err
	}
	job, err := b.client.JobGet(ctx, n)
	if errors.Is(err, river.ErrNotFound) {
		return backends.TaskResult{}, fmt.Errorf("river: task %s: %w", id, backends.ErrNotFound)
	}
	if err != nil {
		return backends.TaskResult{}, fmt.Errorf("river: reading task %s: %w", id, err)
	}
	return resultOf(job), nil
}

func (b *backend[TTx]) Wait(ctx context.Context, id string) (backends.TaskResult, error) {
	n, err := parseID(id)
	if err != nil {
		return backends.TaskResult{}, err
	}
	wait, cancel := b.db.subscribe(strconv.FormatInt(n, 10))
	defer cancel()
	return backends.WaitDone(ctx, func(ctx context.Context) (backends.TaskResult, backends.Status, error) {
		r, err := b.Result(ctx, id)
		return r, r.Status, err
	}, wait)
}

func (b *backend[TTx]) Close() error {
	b.db.close()
	return nil
}

// resultOf maps a River job row onto the common result model.
func resultOf(job *rivertype.JobRow) backends.TaskResult {
	var args jobArgs
	_ = json.Unmarshal(job.EncodedArgs, &args)
	r := backends.TaskResult{
		ID: strconv.FormatInt(job.ID, 10), Task: args.Task, Queue: job.Queue,
		Attempts: job.Attempt, EnqueuedAt: job.CreatedAt, Engine: Engine,
	}
	if job.AttemptedAt != nil {
		r.StartedAt = *job.AttemptedAt
	}
	if job.FinalizedAt != nil {
		r.FinishedAt = *job.FinalizedAt
	}
	if n := len(job.Errors); n > 0 {
		r.Error = backends.DecodeTaskError(job.Errors[n-1].Error)
	}
	switch job.State {
	case rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled:
		r.Status = backends.StatusPending
		if job.Attempt > 0 {
			r.Status = backends.StatusRetrying
		}
	case rivertype.JobStateRunning:
		r.Status = backends.StatusRunning
	case rivertype.JobStateRetryable:
		r.Status = backends.StatusRetrying
	case rivertype.JobStateCompleted:
		r.Status = backends.StatusSucceeded
		r.Output = backends.CompactJSON(job.Output())
		r.Error = nil
	case rivertype.JobStateDiscarded:
		r.Status = backends.StatusFailed
	case rivertype.JobStateCancelled:
		r.Status = backends.StatusCancelled
		if r.Error != nil && !r.Error.Retryable {
			r.Status = backends.StatusFailed
		}
	}
	return r
}

// taskErr is a handler's error as River stores it (backends.EncodeTaskError).
type taskErr struct{ e *backends.TaskError }

func (t taskErr) Error() string { return backends.EncodeTaskError(t.e) }
