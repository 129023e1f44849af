package main

import (
	"context"
	"flag"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/host"
	"taskhost.dev/worker"
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

func cmdWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var hf hostFlags
	var bf backendFlags
	fs := newFlagSet("host worker", workerSynopsis, stderr)
	hf.register(fs)
	bf.register(fs)
	queues := fs.String("queues", "", "comma-separated `queues` to serve, each optionally with a priority weight: high:6,default:3,low:1")
	strict := fs.Bool("strict-priority", false, "empty higher-weighted queues first instead of sharing by weight")
	concurrency := fs.Int("concurrency", 0, "the most tasks run at once (`N`), over all the worker's queues; 10 when 0")
	eager := fs.Bool("eager", false, "compile every plugin at start; by default a plugin whose metadata an earlier load cached compiles on its first task")
	name := fs.String("name", "", "worker `name`; default worker-<hostname>-<queues>")
	healthAddr := fs.String("health-addr", envOr("TASKHOST_HEALTH_ADDR", ""), "serve /healthz, /readyz and /metrics on this `address`; :8080 listens on 127.0.0.1 (env TASKHOST_HEALTH_ADDR)")
	grace := fs.Duration("grace", backends.DefaultGrace, "how long running tasks may take to finish after a stop signal (`duration`)")
	watch := fs.Bool("watch", true, "serve .wasm files added to, replaced in or removed from --plugins-dir without a restart (plugins named in the manifest excepted)")
	ui := fs.Bool("ui", false, "serve the engine's own web UI under /ui/ on --health-addr (River: River UI); it can cancel and retry tasks, so an address that is not loopback needs --ui-auth")
	uiAuth := fs.String("ui-auth", "", "a `file` holding the UI's credentials, USER:PASSWORD (basic auth) or bearer:TOKEN (env TASKHOST_UI_AUTH holds them directly)")
	pos, err := hf.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErr("unexpected arguments %q", pos)
	}
	if *concurrency < 0 {
		return usageErr("--concurrency %d: want 0 (the default) or more", *concurrency)
	}
	if *grace <= 0 {
		return usageErr("--grace %s: want a positive duration", *grace)
	}
	queuesSet := false
	fs.Visit(func(f *flag.Flag) { queuesSet = queuesSet || f.Name == "queues" })
	list := splitList(*queues)
	if queuesSet && len(list) == 0 {
		return usageErr("--queues %q names no queue; give queue names, or leave it out to serve every queue of the loaded tasks", *queues)
	}
	if len(list) == 0 {
		list = queuesFromEnv()
	}
	qs, weights, err := parseQueues(list)
	if err != nil {
		return err
	}
	if *ui && *healthAddr == "" {
		return usageErr("--ui needs --health-addr, the address to serve it on")
	}
	logger, err := hf.logger(stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	hcfg, err := hf.config(stderr)
	if err != nil {
		return err
	}
	// Each plugin may run as many tasks at once as the worker takes.
	hcfg.Lazy = !*eager
	hcfg.Concurrency = min(*concurrency, 1024) // pool_size's bound
	if hcfg.Concurrency == 0 {
		hcfg.Concurrency = backends.DefaultConcurrency
	}
	h, err := host.Load(ctx, hcfg)
	if err != nil {
		return err
	}
	defer h.Close(context.Background())
	loaded := time.Since(start)
	c, err := bf.open(ctx, &hf, stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	var auth *worker.Auth
	switch {
	case *uiAuth != "":
		b, err := os.ReadFile(*uiAuth)
		if err != nil {
			return usageErr("--ui-auth: %v", err)
		}
		if auth, err = worker.ParseAuth(string(b)); err != nil {
			return usageErr("--ui-auth %s: %v", *uiAuth, err)
		}
	case os.Getenv("TASKHOST_UI_AUTH") != "":
		if auth, err = worker.ParseAuth(os.Getenv("TASKHOST_UI_AUTH")); err != nil {
			return usageErr("TASKHOST_UI_AUTH: %v", err)
		}
	}
	cfg := worker.Config{
		Host:   h,
		Client: c,
		Options: backends.WorkerOptions{Queues: qs, Priorities: weights, StrictPriority: *strict,
			Concurrency: *concurrency, Name: *name, Grace: *grace},
		HealthAddr: *healthAddr,
		UI:         *ui,
		UIAuth:     auth,
		Checks:     []worker.Check{{Name: "config", OK: true, Message: "flags and environment valid"}, worker.PluginsCheck(h, loaded)},
		Logger:     logger,
	}
	if *watch {
		cfg.PluginsDir = hf.pluginsDir
	}
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	return w.Run(ctx)
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
