package backends

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"taskhost.dev/backends/driver"
)

// Client is an application's handle on one task engine: it submits tasks
// and workflows, reads and waits for their results, and runs workers. It
// owns, once for every engine, the task registry, the checking of every
// option, waiting, and workflows where the engine has no construct of its
// own; the engine's driver does the rest. Safe for concurrent use.
type Client struct {
	drv    driver.Driver
	tasks  registry
	logger *slog.Logger
}

// Engine returns the engine's name, as registered ("river", "asynq").
func (c *Client) Engine() string { return c.drv.Engine() }

// Register declares the tasks this process knows, with their default
// queue, retries and timeout; a task registered again is replaced. A
// worker serves only registered tasks, and Submit refuses a task that is
// not registered, when any are. Registering while a worker runs (a plugin
// dropped in) makes the worker serve the new tasks.
func (c *Client) Register(ctx context.Context, tasks ...TaskSpec) error {
	if err := c.tasks.add(tasks); err != nil {
		return fmt.Errorf("%s: register: %w", c.Engine(), err)
	}
	if r, ok := c.drv.(driver.TaskRegistrar); ok {
		return r.TasksChanged(ctx)
	}
	return nil
}

// Tasks returns the registered tasks, sorted by name, defaults applied.
func (c *Client) Tasks() []TaskSpec { return c.tasks.Specs() }

// Result returns the task's state now, without waiting. An unknown id is
// ErrNotFound.
func (c *Client) Result(ctx context.Context, id string) (TaskResult, error) {
	return c.drv.Result(ctx, id)
}

// Wait blocks until the task succeeded, failed or was cancelled, or ctx
// ends, using the engine's own notification where it has one and polling
// otherwise. An unknown id is ErrNotFound, within a second.
func (c *Client) Wait(ctx context.Context, id string) (TaskResult, error) {
	return waitFor(ctx, c, id, c.drv.Result, func(r TaskResult) Status { return r.Status })
}

// waitFor reads id with read until its status is final.
func waitFor[R any](ctx context.Context, c *Client, id string, read func(context.Context, string) (R, error), status func(R) Status) (R, error) {
	wait, cancel := c.subscribe(id)
	defer cancel()
	var lag time.Duration
	if l, ok := c.drv.(driver.Lagger); ok {
		lag = min(l.RecordLag(), time.Second)
	}
	start := time.Now()
	for {
		r, err := read(ctx, id)
		if isNotFound(err) && time.Since(start) < lag {
			err = nil // the engine may not have recorded it yet
		} else if err != nil || status(r).Done() {
			return r, err
		}
		if err := wait(ctx); err != nil {
			return r, err
		}
	}
}

// subscribe watches id with the driver's Notifier, or polls: every 2 ms at
// first, doubling up to 100 ms.
func (c *Client) subscribe(id string) (wait func(context.Context) error, cancel func()) {
	if n, ok := c.drv.(driver.Notifier); ok {
		return n.Subscribe(id)
	}
	interval := 2 * time.Millisecond
	return func(ctx context.Context) error {
		d := interval
		interval = min(2*interval, 100*time.Millisecond)
		_, err := driver.Pause(ctx, d, nil)
		return err
	}, func() {}
}

// Ping checks that the engine answers: with the driver's own call where it
// has one, else by reading an id no engine has.
func (c *Client) Ping(ctx context.Context) error {
	if p, ok := c.drv.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	if _, err := c.drv.Result(ctx, "taskhost-ping-0"); err != nil && !isNotFound(err) {
		return err
	}
	return nil
}

// WebUI returns the engine's own web UI, serving under prefix until ctx
// ends, or an *UnsupportedError for an engine without one.
func (c *Client) WebUI(ctx context.Context, prefix string) (http.Handler, error) {
	w, ok := c.drv.(driver.WebUI)
	if !ok {
		return nil, &UnsupportedError{Engine: c.Engine(), What: "a web UI", Hint: "use the engine's own tools; River serves River UI"}
	}
	return w.WebUI(ctx, prefix)
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.drv.Close() }
