// Package worker runs WebAssembly tasks on a task engine: it is what
// `host worker` is, as a library an application embeds.
//
// Data flow: a *host.Host (the loaded, verified plugins) and a
// *backends.Client (one engine) go in; Run registers the plugins' tasks
// with the engine, declares the manifest's workflows, and works until its
// context ends: the engine hands out an attempt, the worker's handler
// runs it in a warm sandbox instance of its plugin, and the outcome goes
// back to the engine as the engine stores it, with the task error's kind
// and retry verdict.
//
// Around that, as the operator needs it: health endpoints (/healthz,
// /readyz, /metrics in Prometheus' format) and the engine's own web UI on
// one address, and a watch of the plugins folder that serves a .wasm file
// dropped in (or replaced, or removed) without a restart.
//
// An application embeds a worker in a few lines:
//
//	h, _ := host.Load(ctx, host.Config{PluginsDir: "plugins"})
//	c, _ := backends.Open(ctx, "river", backends.Config{URL: "app.db"})
//	w, _ := worker.New(worker.Config{Host: h, Client: c})
//	err := w.Run(ctx) // until ctx ends, then drains
package worker
