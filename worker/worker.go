package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/host"
)

// Config configures a Worker. Host and Client are required; every other
// field's zero value is its default.
type Config struct {
	// Host holds the loaded plugins (host.Load); the worker serves its tasks.
	Host *host.Host
	// Client is the engine to work for (backends.Open).
	Client *backends.Client
	// Options are the worker's queues, priorities, concurrency (the total
	// over all queues), name and drain grace; see backends.WorkerOptions.
	Options backends.WorkerOptions
	// PluginsDir, when set, is watched while the worker runs: a
	// self-describing .wasm copied into it (or a folder under it) is
	// verified, compiled and served within a second; replacing it swaps the
	// plugin (running calls finish on the old one); removing it stops its
	// tasks taking new work. A file that fails to load is logged and
	// changes nothing. Plugins named in the manifest are pinned by sha256
	// and change only with a restart.
	PluginsDir string
	// HealthAddr, when set, serves /healthz (alive), /readyz (plugins
	// loaded, engine answering; 503 otherwise) and /metrics (Prometheus).
	HealthAddr string
	// HealthAddr without a host (":8080") listens on 127.0.0.1 only.
	//
	// UI serves the engine's own web UI under /ui/ on HealthAddr (River:
	// River UI). A UI can cancel and retry tasks: on an address that is not
	// loopback it needs UIAuth, and New refuses it without.
	UI bool
	// UIAuth, when set, is required of every request to the UI.
	UIAuth *Auth
	// Checks are readiness checks to report on /readyz beside the engine's
	// (host worker adds "config", and "plugins" with the time the plugins
	// took to load); a "plugins" check is added when none is given.
	Checks []Check
	// Logger receives the worker's lines; slog.Default() when nil.
	Logger *slog.Logger
}

// Worker runs a host's WebAssembly tasks on an engine. Make one with New
// and call Run once.
type Worker struct {
	cfg     Config
	logger  *slog.Logger
	metrics *metrics
	started time.Time
	ready   chan struct{}
	addr    string // the health server's address, once listening
}

// Ready is closed once Run has registered the tasks and serves health (if
// configured), just before the worker takes tasks.
func (w *Worker) Ready() <-chan struct{} { return w.ready }

// HealthAddr is the address the health server listens on, once Ready is
// closed ("" without one): with port 0 in Config.HealthAddr, the port
// chosen.
func (w *Worker) HealthAddr() string { return w.addr }

// New checks cfg and returns a worker ready to Run.
func New(cfg Config) (*Worker, error) {
	if cfg.Host == nil || cfg.Client == nil {
		return nil, errors.New("worker: Config.Host and Config.Client are required (host.Load, backends.Open)")
	}
	if cfg.UI && cfg.HealthAddr == "" {
		return nil, errors.New("worker: the web UI needs a health address to serve it on (host worker --health-addr)")
	}
	if cfg.HealthAddr != "" {
		cfg.HealthAddr = LoopbackAddr(cfg.HealthAddr)
		loop, err := isLoopback(cfg.HealthAddr)
		if err != nil {
			return nil, fmt.Errorf("worker: health %w", err)
		}
		if cfg.UI && !loop && cfg.UIAuth == nil {
			return nil, fmt.Errorf("worker: the engine's web UI can cancel and retry tasks; on %s, which is not loopback, it needs credentials (host worker --ui-auth FILE or TASKHOST_UI_AUTH)", cfg.HealthAddr)
		}
	}
	if _, err := cfg.Client.WorkerConfig(cfg.Options); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{cfg: cfg, logger: cfg.Logger, metrics: newMetrics(cfg.Host), started: time.Now(), ready: make(chan struct{})}
	w.metrics.reg.MustRegister(&queueCollector{c: cfg.Client})
	if w.logger == nil {
		w.logger = slog.Default()
	}
	return w, nil
}

// Handler returns the handler the worker gives the engine: Handler(Host),
// counted in the worker's metrics.
func (w *Worker) Handler() backends.Handler {
	return handler{h: w.cfg.Host, metrics: w.metrics, logger: w.logger}
}

// Run registers the host's tasks and the manifest's workflows with the
// engine, serves health and the plugins folder as configured, and works
// until ctx ends; then it stops taking tasks and lets the running ones
// finish within the grace (backends.WorkerOptions.Grace).
func (w *Worker) Run(ctx context.Context) error {
	c, h := w.cfg.Client, w.cfg.Host
	if err := c.Register(ctx, Specs(h)...); err != nil {
		return err
	}
	// Engines that register workflows with their workers (Hatchet) learn
	// the manifest's workflows now.
	flows, err := Workflows(h)
	if err != nil {
		return err
	}
	if err := c.DeclareWorkflows(ctx, flows...); err != nil {
		return err
	}
	// The engine's manifest schedules become the manifest's: new ones are
	// created, changed ones replaced, removed ones deleted.
	scheds, err := Schedules(h)
	if err != nil {
		return err
	}
	if err := c.SyncSchedules(ctx, backends.SourceManifest, scheds); err != nil {
		return fmt.Errorf("manifest schedules: %w", err)
	}
	opts, err := c.WorkerConfig(w.cfg.Options)
	if err != nil {
		return err
	}
	for _, p := range h.Plugins() {
		if p.Limits.PoolSize < opts.Concurrency {
			w.logger.Warn("a plugin runs fewer tasks at once than the worker takes: the others wait for an instance, holding their lease; raise its limits.pool_size, or load the host with Config.Concurrency",
				"plugin", p.Name, "pool_size", p.Limits.PoolSize, "concurrency", opts.Concurrency)
		}
	}
	if w.cfg.HealthAddr != "" {
		var mount func(*http.ServeMux)
		if w.cfg.UI {
			ui, err := c.WebUI(ctx, "/ui")
			if err != nil {
				return err
			}
			if w.cfg.UIAuth != nil {
				ui = w.cfg.UIAuth.wrap(ui)
			}
			mount = func(mux *http.ServeMux) { mux.Handle("/ui/", ui) }
		}
		checks := append([]Check(nil), w.cfg.Checks...)
		if !hasCheck(checks, "plugins") {
			checks = append(checks, PluginsCheck(h, 0))
		}
		hs, err := startHealth(w.cfg.HealthAddr, c, w.metrics, checks, mount)
		if err != nil {
			return err
		}
		defer hs.close()
		w.addr = hs.ln.Addr().String()
	}
	if w.cfg.PluginsDir != "" {
		served := map[string]bool{}
		for _, q := range opts.Queues {
			served[q] = true
		}
		stop, err := watchPlugins(ctx, w.cfg.PluginsDir, h, c, served, w.logger)
		if err != nil {
			return fmt.Errorf("watching %s: %w (or run without watching the plugins folder)", w.cfg.PluginsDir, err)
		}
		defer stop()
	}
	w.logger.Info("worker started", "name", opts.Name, "engine", c.Engine(), "queues", opts.Queues, "concurrency", opts.Concurrency,
		"tasks", len(h.Tasks()), "plugins", len(h.Plugins()), "startup", time.Since(w.started).Round(time.Millisecond).String())
	close(w.ready)
	// Loading the plugins (reading, validating and compiling modules) left
	// tens of MiB of garbage; an idle worker need not hold it until the
	// runtime's scavenger gets round to it.
	go debug.FreeOSMemory()
	draining := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			w.logger.Info("worker draining: taking no new tasks; running ones may finish", "name", opts.Name, "grace", opts.Grace.String())
		case <-draining:
		}
	}()
	err = c.Work(ctx, w.cfg.Options, w.Handler())
	close(draining)
	if err != nil {
		w.logger.Error("worker stopped", "name", opts.Name, "err", err)
	} else {
		w.logger.Info("worker stopped", "name", opts.Name)
	}
	return err
}

func hasCheck(checks []Check, name string) bool {
	for _, c := range checks {
		if c.Name == name {
			return true
		}
	}
	return false
}
