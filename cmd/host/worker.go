package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"taskhost.dev/backends"
)

const workerSynopsis = `Usage: host worker [flags]

Runs the host as a worker: loads and verifies the plugins, registers their
tasks with the engine, and runs them in the sandbox as the engine hands them
out, until SIGINT or SIGTERM; then it stops taking tasks and lets the running
ones finish within --grace.

Queues: --queues, else TASK_QUEUES (ignored when ENVIRONMENT=prod), else
every queue of the loaded tasks; "name:weight" gives a queue a priority
(engines without priorities refuse it).

Plugins: a self-describing .wasm copied into --plugins-dir (or a folder
under it) while the worker runs is verified, compiled and served within a
second; replacing it swaps the plugin (running calls finish on the old
one); removing it stops its tasks taking new work. A file that fails to
load is logged and changes nothing. Plugins named in the manifest are
pinned by sha256 and change only with a restart. --watch=false turns this
off.`

func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host worker", workerSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	queues := fs.String("queues", "", "comma-separated `queues` to serve, each optionally with a priority weight: high:6,default:3,low:1")
	strict := fs.Bool("strict-priority", false, "empty higher-weighted queues first instead of sharing by weight")
	concurrency := fs.Int("concurrency", 0, "tasks run at once per queue (`N`); the engine adapter's default when 0")
	name := fs.String("name", "", "worker `name`; default worker-<hostname>-<queues>")
	healthAddr := fs.String("health-addr", envOr("TASKHOST_HEALTH_ADDR", ""), "serve /healthz, /readyz and /metrics on this `address` (env TASKHOST_HEALTH_ADDR)")
	grace := fs.Duration("grace", backends.DefaultGrace, "how long running tasks may take to finish after a stop `signal`")
	watch := fs.Bool("watch", true, "serve .wasm files added to, replaced in or removed from --plugins-dir without a restart (plugins named in the manifest excepted)")
	ui := fs.Bool("ui", false, "serve the engine's own web UI under /ui/ on --health-addr (River: riverui; no authentication of its own)")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected arguments %q", pos)
	}
	logger, err := hf.logger(stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	h, err := hf.load(ctx, stderr)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	loaded := time.Since(start)
	b, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := b.Register(specs(h)...); err != nil {
		return err
	}
	// Engines that register workflows with their workers (Hatchet) learn
	// the manifest's workflows now.
	var flows []backends.Workflow
	for _, w := range h.Workflows() {
		wf, err := toWorkflow(w)
		if err != nil {
			return fmt.Errorf("manifest workflow %q: %w", w.Name, err)
		}
		flows = append(flows, wf)
	}
	if err := backends.DeclareWorkflows(b, flows...); err != nil {
		return err
	}
	list := splitList(*queues)
	if len(list) == 0 {
		list = queuesFromEnv()
	}
	qs, weights, err := parseQueues(list)
	if err != nil {
		return err
	}
	if *name == "" {
		host, _ := os.Hostname()
		label := "all"
		if len(qs) > 0 {
			label = strings.Join(qs, "_")
		}
		*name = fmt.Sprintf("worker-%s-%s", host, label)
	}
	m := newMetrics(h)
	var mount func(*http.ServeMux)
	if *ui {
		if *healthAddr == "" {
			return usageErr("--ui needs --health-addr, the address to serve it on")
		}
		w, ok := b.(backends.WebUI)
		if !ok {
			return &backends.UnsupportedError{Engine: b.Engine(), What: "a web UI (--ui)"}
		}
		handler, err := w.WebUI(ctx, "/ui")
		if err != nil {
			return err
		}
		mount = func(mux *http.ServeMux) { mux.Handle("/ui/", handler) }
	}
	if *healthAddr != "" {
		hs, err := startHealth(*healthAddr, h, b, m, []check{{Name: "config", OK: true, Message: "flags and environment valid"}, pluginsCheck(h, loaded)}, mount)
		if err != nil {
			return err
		}
		defer hs.close()
	}
	if *watch {
		served := map[string]bool{}
		for _, q := range qs {
			served[q] = true
		}
		if len(qs) == 0 {
			for _, t := range h.Tasks() {
				served[t.Queue] = true
			}
		}
		stop, err := watchPlugins(ctx, hf.pluginsDir, h, b, served, logger)
		if err != nil {
			return fmt.Errorf("watching %s: %w (or run with --watch=false)", hf.pluginsDir, err)
		}
		defer stop()
	}
	logger.Info("worker started", "name", *name, "engine", b.Engine(), "queues", qs, "tasks", len(h.Tasks()), "plugins", len(h.Plugins()), "startup", time.Since(start).Round(time.Millisecond))
	err = b.Work(ctx, backends.WorkerOptions{Queues: qs, Priorities: weights, StrictPriority: *strict, Concurrency: *concurrency, Name: *name, Grace: *grace}, handler{h: h, metrics: m})
	logger.Info("worker stopped", "name", *name, "err", err)
	return err
}

// parseQueues splits "name:weight" items; weights is nil when none has a
// weight.
func parseQueues(items []string) (queues []string, weights map[string]int, err error) {
	for _, it := range items {
		name, w, ok := strings.Cut(it, ":")
		queues = append(queues, name)
		if !ok {
			continue
		}
		n, err := strconv.Atoi(w)
		if err != nil || n < 1 {
			return nil, nil, usageErr("--queues %q: the priority after the colon must be a whole number from 1", it)
		}
		if weights == nil {
			weights = map[string]int{}
		}
		weights[name] = n
	}
	return queues, weights, nil
}
