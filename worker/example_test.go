package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"taskhost.dev/backends"
	_ "taskhost.dev/backends/river"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
	"taskhost.dev/worker"
)

// An application embeds a worker: the plugins, an engine, and Run.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	dir, _ := os.MkdirTemp("", "worker-example-")
	defer os.RemoveAll(dir)

	h, err := host.Load(ctx, host.Config{PluginsDir: testplugins.CoreDir()})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(ctx)
	c, err := backends.Open(ctx, "river", backends.Config{URL: filepath.Join(dir, "app.db")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	w, err := worker.New(worker.Config{Host: h, Client: c})
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	id, err := c.Submit(ctx, "add", json.RawMessage(`{"a":2,"b":3}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	r, err := c.Wait(ctx, id)
	fmt.Println(r.Status, string(r.Output), err)
	stop()
	fmt.Println(<-done)
	// Output:
	// succeeded {"sum":5} <nil>
	// <nil>
}
