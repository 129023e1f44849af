package hatchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/google/uuid"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	v0 "github.com/hatchet-dev/hatchet/pkg/client"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"
	"github.com/rs/zerolog"

	"taskhost.dev/backends"
	"taskhost.dev/backends/driver"
)

// Engine is the name this driver registers under.
const Engine = "hatchet"

// scheduleTimeout is how long a run may wait for a worker: long, so that
// a task on a queue no worker serves yet waits as it does on other
// engines.
const scheduleTimeout = 24 * time.Hour

func init() { backends.Register(Engine, Open) }

// backend is the Hatchet driver.
type backend struct {
	c      *hatchet.Client
	logger *slog.Logger
	tasks  driver.Registry
	recent recent // ids handed out here, for the engine's record lag

	// tombMu serialises the lookups of the tombstone workflow's id (the
	// SDK's workflow cache is not safe for concurrent use: a data race
	// seen under -race) and tombID keeps it once found.
	tombMu sync.Mutex
	tombID uuid.UUID

	opts       []v0.ClientOpt // the client's options, for the v0 client
	legacyOnce sync.Once
	legacyC    v0.Client // see legacy
	legacyErr  error

	mu       sync.Mutex
	declared map[string]bool            // task workflows and DAGs this process put to the engine
	flows    map[string]driver.Workflow // workflows declared with DeclareWorkflows, by name
	workers  map[*worker]bool           // the running Work calls
}

// Open connects to the engine with the SDK's own environment
// (HATCHET_CLIENT_TOKEN, HATCHET_CLIENT_HOST_PORT,
// HATCHET_CLIENT_TLS_STRATEGY); Config.URL, when set, is the engine's
// host:port.
func Open(ctx context.Context, cfg driver.Config) (driver.Driver, error) {
	if err := driver.CheckOptions(Engine, cfg.Options); err != nil {
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
	// The SDK makes its feature clients on first use, without a lock:
	// made here, before any goroutine shares the client, they are only
	// read after (a data race under -race otherwise).
	c.Metrics()
	c.Runs()
	c.Workers()
	c.Workflows()
	c.Crons()
	c.Schedules()
	c.Logs()
	return &backend{c: c, opts: opts, logger: cfg.Logger, tasks: cfg.Tasks, declared: map[string]bool{}, flows: map[string]driver.Workflow{}, workers: map[*worker]bool{}}, nil
}

// Engine implements driver.Driver.
func (b *backend) Engine() string { return Engine }

// Ping implements driver.Pinger: it asks the engine its version (a
// Result of an id that is not a UUID never reaches the engine).
func (b *backend) Ping(ctx context.Context) error {
	if _, err := b.c.GetEngineVersion(ctx); err != nil {
		return fmt.Errorf("hatchet: the engine does not answer: %w", err)
	}
	return nil
}

// RecordLag implements driver.Lagger: a run another process submitted may
// be unknown to the engine for a moment after its id was handed out. The
// ids this process handed out have a longer grace of their own (see
// recent).
func (b *backend) RecordLag() time.Duration { return time.Second }

// Close implements driver.Driver.
func (b *backend) Close() error { return b.c.Close(context.Background()) }

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
	// TimeoutMS and MaxRetries are the job's own where they differ from
	// the task's registered ones (which its Hatchet workflow has); the
	// worker applies them.
	TimeoutMS  int64     `json:"timeout_ms,omitempty"`
	MaxRetries *int      `json:"max_retries,omitempty"`
	Task       string    `json:"task"`
	Queue      string    `json:"queue"`
	EnqueuedAt time.Time `json:"enqueued_at,omitzero"`
	// Meta is the job's driver.Job.Meta (its trace context, for one).
	Meta map[string]string `json:"meta,omitempty"`
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
// JSON (its kind and verdict survive; driver.DecodeTaskError reads it)
// with the attempt.
type attemptError struct {
	*driver.TaskError
	attemptInfo
}
