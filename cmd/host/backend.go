package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"taskhost.dev/backends"
	_ "taskhost.dev/backends/asynq"    // asynq on Redis
	_ "taskhost.dev/backends/celery"   // Celery's wire protocol on Redis
	_ "taskhost.dev/backends/hatchet"  // Hatchet
	_ "taskhost.dev/backends/river"    // the embedded default engine
	_ "taskhost.dev/backends/temporal" // Temporal
)

// DefaultBackend is the engine used when neither --backend nor
// TASK_BACKEND_TYPE names one: River on a SQLite file, no server needed.
const DefaultBackend = "river"

// backendFlags select and configure the engine. Precedence: flag, then
// environment, then default.
type backendFlags struct {
	engine  string
	url     string
	options map[string]string
}

func (f *backendFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.engine, "backend", envOr("TASK_BACKEND_TYPE", DefaultBackend), "task `engine`: "+strings.Join(backends.Engines(), ", ")+" (env TASK_BACKEND_TYPE)")
	fs.StringVar(&f.url, "backend-url", "", "the engine's `URL`; default from the engine's own variable (river: DATABASE_URL, else the SQLite file taskhost.db; asynq: REDIS_URL, else redis://127.0.0.1:6379/0; celery: CELERY_BROKER_URL, else redis://127.0.0.1:6379/0; hatchet: HATCHET_CLIENT_HOST_PORT, with HATCHET_CLIENT_TOKEN; temporal: TEMPORAL_ADDRESS, else 127.0.0.1:7233, namespace TEMPORAL_NAMESPACE, else default)")
	fs.Func("backend-opt", "an engine setting as `name=value`, repeatable (asynq: task_check_interval=5ms, how often an idle worker polls; celery: result_backend=URL, visibility_timeout=1h, track_started=true, result_expires=24h)", func(v string) error {
		name, value, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("%q: want name=value, e.g. task_check_interval=20ms", v)
		}
		if f.options == nil {
			f.options = map[string]string{}
		}
		f.options[strings.TrimSpace(name)] = value
		return nil
	})
}

// check refuses an engine no driver of this binary serves.
func (f *backendFlags) check() error {
	if !slices.Contains(backends.Engines(), f.engine) {
		return usageErr("--backend (or TASK_BACKEND_TYPE) %q: this host serves %s", f.engine, strings.Join(backends.Engines(), ", "))
	}
	return nil
}

func (f *backendFlags) open(ctx context.Context, hf *hostFlags, stderr io.Writer) (*backends.Client, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	logger, err := hf.logger(stderr)
	if err != nil {
		return nil, err
	}
	return backends.Open(ctx, f.engine, backends.Config{URL: f.url, Options: f.options, Logger: logger})
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// queuesFromEnv returns TASK_QUEUES, honoured only outside production
// (ENVIRONMENT != prod), as in the seed design: production workers name
// their queues explicitly.
func queuesFromEnv() []string {
	if strings.EqualFold(os.Getenv("ENVIRONMENT"), "prod") || strings.EqualFold(os.Getenv("ENVIRONMENT"), "production") {
		return nil
	}
	return splitList(os.Getenv("TASK_QUEUES"))
}

func writeResult(w io.Writer, r backends.TaskResult, format string) error {
	if format == "json" {
		return writeJSON(w, r)
	}
	fmt.Fprintf(w, "id        %s\ntask      %s\nqueue     %s\nstatus    %s\nattempts  %d\nengine    %s\n", r.ID, r.Task, r.Queue, r.Status, r.Attempts, r.Engine)
	if !r.EnqueuedAt.IsZero() {
		fmt.Fprintf(w, "enqueued  %s\n", r.EnqueuedAt.Format("2006-01-02 15:04:05.000"))
	}
	if !r.RunAt.IsZero() {
		fmt.Fprintf(w, "run at    %s (in %s)\n", r.RunAt.Local().Format("2006-01-02 15:04:05.000"), time.Until(r.RunAt).Round(time.Second))
	}
	if !r.FinishedAt.IsZero() && !r.StartedAt.IsZero() {
		fmt.Fprintf(w, "ran       %s\n", r.FinishedAt.Sub(r.StartedAt).Round(100_000))
	}
	if r.Progress != nil && !r.Status.Done() {
		fmt.Fprintf(w, "progress  %.0f%% %s\n", r.Progress.Percent, r.Progress.Message)
	}
	if r.Error != nil {
		fmt.Fprintf(w, "error     %s: %s (retryable=%v)\n", r.Error.Kind, r.Error.Message, r.Error.Retryable)
	}
	if len(r.Output) > 0 {
		fmt.Fprintf(w, "output    %s\n", r.Output)
	}
	return nil
}
