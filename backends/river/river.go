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

	"taskhost.dev/abi"
	"taskhost.dev/backends"
	"taskhost.dev/backends/driver"
)

// Engine is the name this backend registers under.
const Engine = "river"

func init() {
	backends.Register(Engine, Open)
}

// Open opens River on the database that cfg.URL (else DATABASE_URL) names;
// see the package documentation.
func Open(ctx context.Context, cfg driver.Config) (driver.Driver, error) {
	if err := driver.CheckOptions(Engine, cfg.Options); err != nil {
		return nil, err
	}
	url := cfg.URL
	if url == "" {
		url = os.Getenv("DATABASE_URL")
	}
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		return openPostgres(ctx, url, cfg)
	}
	return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"), cfg)
}

// jobArgs are the args of every taskhost job.
type jobArgs struct {
	Task    string          `json:"task"`
	Input   json.RawMessage `json:"input"`
	Timeout duration        `json:"timeout,omitempty"`
	Backoff *driver.Backoff `json:"backoff,omitempty"`
	Unique  string          `json:"unique,omitempty" river:"unique"`
	WF      *driver.FlowRef `json:"wf,omitempty"`
}

func (jobArgs) Kind() string { return "taskhost" }

// metaKey holds a job's driver.Job.Meta in its River metadata.
const metaKey = "taskhost_meta"

// jobMeta reads a job's Meta back from its River metadata.
func jobMeta(raw []byte) map[string]string {
	var m struct {
		Meta map[string]string `json:"taskhost_meta"`
	}
	json.Unmarshal(raw, &m)
	return m.Meta
}

// duration is a job's timeout in its args as Go writes it ("1m0s"), so
// that River UI shows it readably; a number (nanoseconds, as jobs written
// before wrote it) reads too.
type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err := json.Unmarshal(b, &n); err != nil {
			return fmt.Errorf("a job's timeout %s is neither a duration nor nanoseconds", b)
		}
		*d = duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	*d = duration(v)
	return err
}

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
	// (a notification, or the next poll), cancel stops (driver.Notifier).
	subscribe(key string) (wait func(ctx context.Context) error, cancel func())
	// pollInterval is the worker's fetch poll interval.
	pollInterval() time.Duration
	// cancelPoll is how often a worker looks for cancellations of its
	// running jobs itself; 0 where River's notifier tells it at once.
	cancelPoll() time.Duration
	// metadataHas is the SQL condition that a river_job row's metadata has
	// the key.
	metadataHas(key string) string
	// lastError is the SQL expression of a job's last error text (NULL
	// when it has none).
	lastError() string
	// setMetadata is the SQL that sets key (a constant) of the metadata of
	// the river_job row $2 to the JSON $1.
	setMetadata(key string) string
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

// backend is the River driver over one database.
type backend[TTx any] struct {
	db     db[TTx]
	logger *slog.Logger
	client *river.Client[TTx] // insert-only client
	tasks  driver.Registry
}

func newBackend[TTx any](ctx context.Context, d db[TTx], cfg driver.Config) (*backend[TTx], error) {
	logger := cfg.Logger
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
	return &backend[TTx]{db: d, logger: logger, client: client, tasks: cfg.Tasks}, nil
}

func (b *backend[TTx]) Engine() string { return Engine }

// Enqueue implements driver.Driver.
func (b *backend[TTx]) Enqueue(ctx context.Context, j *driver.Job) (string, error) {
	args, ins := insertParams(j)
	res, err := b.client.Insert(ctx, args, ins)
	if err != nil {
		return "", fmt.Errorf("river: submit %q: %w", j.Task, err)
	}
	return strconv.FormatInt(res.Job.ID, 10), nil
}

// insertParams maps a job onto River's job args and insert options. A
// unique key is River's uniqueness by args over the states of a task not
// done, so it is free again once its task is.
func insertParams(j *driver.Job) (jobArgs, *river.InsertOpts) {
	args := jobArgs{Task: j.Task, Input: j.Input, Timeout: duration(j.Timeout), Unique: j.UniqueKey, WF: j.Flow}
	if j.Backoff != (driver.Backoff{}.WithDefaults()) {
		b := j.Backoff
		args.Backoff = &b
	}
	ins := &river.InsertOpts{Queue: j.Queue, MaxAttempts: j.MaxRetries + 1, ScheduledAt: j.RunAt, Tags: []string{taskTag(j.Task)}}
	if len(j.Meta) > 0 {
		ins.Metadata, _ = json.Marshal(map[string]any{metaKey: j.Meta})
	}
	if j.UniqueKey != "" {
		ins.UniqueOpts = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
			rivertype.JobStateRunning, rivertype.JobStateScheduled,
		}}
	}
	return args, ins
}

// EnqueueMany implements driver.Batcher with River's InsertMany: one
// transaction, all or none.
func (b *backend[TTx]) EnqueueMany(ctx context.Context, jobs []*driver.Job) ([]string, error) {
	params := make([]river.InsertManyParams, len(jobs))
	for i, j := range jobs {
		args, ins := insertParams(j)
		params[i] = river.InsertManyParams{Args: args, InsertOpts: ins}
	}
	res, err := b.client.InsertMany(ctx, params)
	if err != nil {
		return nil, &driver.BatchError{Index: -1, Err: fmt.Errorf("river: inserting %d tasks in one transaction (none was inserted): %w", len(jobs), err)}
	}
	ids := make([]string, len(res))
	for i, r := range res {
		ids[i] = strconv.FormatInt(r.Job.ID, 10)
	}
	return ids, nil
}

func parseID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("river: task id %q: %w (River ids are positive integers)", id, driver.ErrNotFound)
	}
	return n, nil
}

func (b *backend[TTx]) Result(ctx context.Context, id string) (driver.TaskResult, error) {
	n, err := parseID(id)
	if err != nil {
		return driver.TaskResult{}, err
	}
	job, err := b.client.JobGet(ctx, n)
	if errors.Is(err, river.ErrNotFound) {
		return driver.TaskResult{}, fmt.Errorf("river: task %s: %w", id, driver.ErrNotFound)
	}
	if err != nil {
		return driver.TaskResult{}, fmt.Errorf("river: reading task %s: %w", id, err)
	}
	return resultOf(job), nil
}

// setProgress stores a running job's progress in its metadata
// (taskhost_progress), which Result returns; a failure is logged, the task
// goes on.
func (b *backend[TTx]) setProgress(ctx context.Context, id int64, p abi.Progress) {
	raw, _ := json.Marshal(p)
	err := b.inTx(ctx, func(tx TTx) error { return b.db.exec(ctx, tx, b.db.setMetadata("taskhost_progress"), string(raw), id) })
	if err != nil && ctx.Err() == nil {
		b.logger.Warn("river: storing a task's progress failed", "task_id", id, "err", err)
	}
}

// Subscribe implements driver.Notifier: PostgreSQL's LISTEN, or a poll on
// SQLite.
func (b *backend[TTx]) Subscribe(id string) (wait func(context.Context) error, cancel func()) {
	return b.db.subscribe(id)
}

func (b *backend[TTx]) Close() error {
	b.db.close()
	return nil
}

// resultOf maps a River job row onto the common result model.
func resultOf(job *rivertype.JobRow) driver.TaskResult {
	var args jobArgs
	_ = json.Unmarshal(job.EncodedArgs, &args)
	r := driver.TaskResult{
		ID: strconv.FormatInt(job.ID, 10), Task: args.Task, Queue: job.Queue,
		Attempts: job.Attempt, EnqueuedAt: job.CreatedAt, Engine: Engine,
	}
	if job.AttemptedAt != nil {
		r.StartedAt = *job.AttemptedAt
	}
	var meta struct {
		Progress *abi.Progress `json:"taskhost_progress"`
	}
	if json.Unmarshal(job.Metadata, &meta) == nil {
		r.Progress = meta.Progress
	}
	if job.FinalizedAt != nil {
		r.FinishedAt = *job.FinalizedAt
	}
	if n := len(job.Errors); n > 0 {
		r.Error = driver.DecodeTaskError(job.Errors[n-1].Error)
	}
	switch job.State {
	case rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled:
		r.Status = driver.StatusPending
		if job.State == rivertype.JobStateScheduled && job.Attempt == 0 {
			r.RunAt = job.ScheduledAt
		}
		if job.Attempt > 0 {
			r.Status = driver.StatusRetrying
		}
	case rivertype.JobStateRunning:
		r.Status = driver.StatusRunning
	case rivertype.JobStateRetryable:
		r.Status = driver.StatusRetrying
	case rivertype.JobStateCompleted:
		r.Status = driver.StatusSucceeded
		r.Output = driver.CompactJSON(job.Output())
		r.Error = nil
	case rivertype.JobStateDiscarded:
		r.Status = driver.StatusFailed
	case rivertype.JobStateCancelled:
		// River records a failure that must not be retried as a
		// cancellation too: the stored error's kind tells them apart.
		r.Status = driver.StatusCancelled
		if r.Error != nil && !r.Error.Retryable && r.Error.Kind != abi.KindCancelled {
			r.Status = driver.StatusFailed
		} else {
			r.Error = &driver.TaskError{Kind: abi.KindCancelled, Message: "cancelled"}
		}
	}
	return r
}

// taskErr is a handler's error as River stores it (driver.EncodeTaskError).
type taskErr struct{ e *driver.TaskError }

func (t taskErr) Error() string { return driver.EncodeTaskError(t.e) }
