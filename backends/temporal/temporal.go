package temporal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"taskhost.dev/backends"
	"taskhost.dev/backends/driver"
)

// Engine is the name this driver registers under.
const Engine = "temporal"

// DefaultAddress is the Temporal frontend used when neither Config.URL nor
// TEMPORAL_ADDRESS names one; DefaultNamespace likewise.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
)

// The workflow types this driver starts.
const (
	taskWorkflow = "taskhost.task"
	flowWorkflow = "taskhost.workflow"
)

// maxHeartbeatTimeout bounds an activity's heartbeat timeout: a dead
// worker's task is retried after at most this long.
const maxHeartbeatTimeout = 10 * time.Second

func init() { backends.Register(Engine, Open) }

// backend is the Temporal driver: one client, reused by every call.
type backend struct {
	c      client.Client
	ns     string
	logger *slog.Logger
	tasks  driver.Registry
}

// Open connects to the Temporal frontend; see the package documentation.
func Open(ctx context.Context, cfg driver.Config) (driver.Driver, error) {
	if err := driver.CheckOptions(Engine, cfg.Options); err != nil {
		return nil, err
	}
	addr := firstOf(cfg.URL, os.Getenv("TEMPORAL_ADDRESS"), DefaultAddress)
	ns := firstOf(cfg.Namespace, os.Getenv("TEMPORAL_NAMESPACE"), DefaultNamespace)
	c, err := client.DialContext(ctx, client.Options{HostPort: addr, Namespace: ns, Logger: tlog.NewStructuredLogger(quiet(cfg.Logger))})
	if err != nil {
		return nil, fmt.Errorf("temporal: connecting to %s (namespace %s): %w (check TEMPORAL_ADDRESS; scripts/temporal-up.sh starts a dev server)", addr, ns, err)
	}
	return &backend{c: c, ns: ns, logger: cfg.Logger, tasks: cfg.Tasks}, nil
}

// quiet drops the SDK's info lines (one per worker start and stop) unless
// the logger is at debug level.
func quiet(l *slog.Logger) *slog.Logger {
	if l.Enabled(context.Background(), slog.LevelDebug) {
		return l
	}
	return slog.New(levelFloor{l.Handler(), slog.LevelWarn})
}

type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(a), h.min}
}

func (h levelFloor) WithGroup(n string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(n), h.min}
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// Engine implements driver.Driver.
func (b *backend) Engine() string { return Engine }

// Close implements driver.Driver.
func (b *backend) Close() error {
	b.c.Close()
	return nil
}

// Ping implements driver.Pinger: the frontend's health check.
func (b *backend) Ping(ctx context.Context) error {
	if _, err := b.c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal: the frontend does not answer: %w", err)
	}
	return nil
}

// taskInput is the taskhost.task workflow's argument.
type taskInput struct {
	Task       string          `json:"task"`
	Input      json.RawMessage `json:"input"`
	Queue      string          `json:"queue"`
	Timeout    time.Duration   `json:"timeout"`
	MaxRetries int             `json:"max_retries"`
	// Meta is the job's driver.Job.Meta, the activity's second argument.
	Meta map[string]string `json:"meta,omitempty"`
	// Backoff is the task's own wait between attempts; nil for the
	// default.
	Backoff *driver.Backoff `json:"backoff,omitempty"`
}

func newID(prefix string) string {
	b := make([]byte, 10)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// uniquePrefix starts the workflow id of a task with a unique key.
const uniquePrefix = "task-u-"

// Enqueue implements driver.Driver: it starts a taskhost.task workflow on
// the job's queue. A unique key is the workflow id, with the conflict
// policy "use existing" (a duplicate gets the running task, which it
// leaves alone) and the reuse policy "allow duplicate" (the key is free
// once the task is closed); such a task's id carries its run id, so that
// it keeps naming that run when the key is used again.
func (b *backend) Enqueue(ctx context.Context, j *driver.Job) (string, error) {
	in := taskInput{Task: j.Task, Input: j.Input, Queue: j.Queue, Timeout: j.Timeout, MaxRetries: j.MaxRetries, Meta: j.Meta, Backoff: j.Backoff.Custom()}
	so := client.StartWorkflowOptions{
		ID:        newID("task-"),
		TaskQueue: j.Queue,
		Memo:      map[string]any{"task": j.Task},
	}
	if j.UniqueKey != "" {
		so.ID = uniquePrefix + j.UniqueKey
		so.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
		so.WorkflowIDReusePolicy = enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE
	}
	if !j.RunAt.IsZero() {
		so.StartDelay = max(time.Until(j.RunAt), time.Millisecond)
	}
	run, err := b.c.ExecuteWorkflow(ctx, so, taskWorkflow, in)
	if err != nil {
		return "", fmt.Errorf("temporal: submit %q: %w", j.Task, err)
	}
	if j.UniqueKey != "" {
		return run.GetID() + "/" + run.GetRunID(), nil
	}
	return run.GetID(), nil
}

// execution splits a task id into its workflow id and, for a task with a
// unique key, its run id (WORKFLOW_ID/RUN_ID; "" for the latest run).
func execution(id string) (workflowID, runID string) {
	if i := strings.LastIndexByte(id, '/'); i > 0 && strings.HasPrefix(id, uniquePrefix) {
		if _, err := uuid.Parse(id[i+1:]); err == nil {
			return id[:i], id[i+1:]
		}
	}
	return id, ""
}
