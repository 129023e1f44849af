package backends

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"taskhost.dev/backends/driver"
)

// WorkerOptions configure Client.Work. The zero value serves every queue of
// the registered tasks with the defaults below.
type WorkerOptions struct {
	// Queues to take tasks from; the queues of the registered tasks when
	// empty (the default queue when none is registered).
	Queues []string
	// Priorities weighs queues (queue -> weight >= 1, higher first); a
	// queue missing here weighs 1. With Queues empty, the weighted queues
	// are served. Engines without queue priorities refuse it with an
	// *UnsupportedError.
	Priorities map[string]int
	// StrictPriority empties higher-weighted queues first, instead of
	// sharing by weight.
	StrictPriority bool
	// Concurrency is the most tasks the worker runs at once, over all its
	// queues together; DefaultConcurrency when zero.
	Concurrency int
	// Name identifies the worker to the engine; worker-HOST-QUEUES when
	// empty.
	Name string
	// Grace is how long running tasks may take to finish after ctx ends;
	// DefaultGrace when zero. The worker stops taking tasks on every queue
	// at once when the drain starts; tasks still running after Grace are
	// cancelled and left to the engine's retry.
	Grace time.Duration
}

// DefaultConcurrency is WorkerOptions.Concurrency when zero.
const DefaultConcurrency = 10

// DefaultGrace is WorkerOptions.Grace when zero.
const DefaultGrace = 30 * time.Second

// WorkerConfig resolves and checks opts as Work would: the queues, the
// name, the concurrency and grace, defaults applied.
func (c *Client) WorkerConfig(opts WorkerOptions) (driver.WorkerConfig, error) {
	cfg := driver.WorkerConfig{Concurrency: opts.Concurrency, Grace: opts.Grace, Name: opts.Name, StrictPriority: opts.StrictPriority}
	switch {
	case opts.Concurrency < 0:
		return cfg, invalid("worker concurrency %d is negative; use 0 for the default (%d)", opts.Concurrency, DefaultConcurrency)
	case opts.Grace < 0:
		return cfg, invalid("worker grace %s is negative; use 0 for the default (%s)", opts.Grace, DefaultGrace)
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	queues := append([]string(nil), opts.Queues...)
	if len(queues) == 0 {
		for q := range opts.Priorities {
			queues = append(queues, q)
		}
		sort.Strings(queues)
	}
	if len(queues) == 0 {
		queues = c.tasks.queues()
	}
	if len(queues) == 0 {
		queues = []string{c.tasks.defaultQueue}
	}
	seen := map[string]bool{}
	for _, q := range queues {
		if q == "" || strings.TrimSpace(q) != q {
			return cfg, invalid("worker queue %q: a queue name must be non-empty, without leading or trailing space", q)
		}
		if seen[q] {
			return cfg, invalid("worker queue %q is listed twice", q)
		}
		seen[q] = true
	}
	cfg.Queues = queues
	if len(opts.Priorities) > 0 {
		cfg.Priorities = map[string]int{}
		for q, w := range opts.Priorities {
			if !seen[q] {
				return cfg, invalid("queue %q has a priority but is not among the worker's queues %s", q, strings.Join(queues, ","))
			}
			if w < 1 {
				return cfg, invalid("queue %q: priority %d must be at least 1", q, w)
			}
			cfg.Priorities[q] = w
		}
	}
	if cfg.Name == "" {
		cfg.Name = defaultName(queues)
	}
	return cfg, nil
}

// maxDefaultName bounds a default worker name; engines limit ids (River
// to 100 characters).
const maxDefaultName = 64

// defaultName is worker-HOST-QUEUES, the queues joined by "_"; a name
// that would be longer than maxDefaultName is cut and ends with a digest
// of the whole.
func defaultName(queues []string) string {
	host, _ := os.Hostname()
	name := fmt.Sprintf("worker-%s-%s", host, strings.Join(queues, "_"))
	if len(name) <= maxDefaultName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:maxDefaultName-9] + "-" + hex.EncodeToString(sum[:4])
}

// Work runs a worker on the engine until ctx ends, then drains (see
// WorkerOptions.Grace): it takes tasks from the queues and calls h for
// each attempt. Bad options match ErrInvalid.
func (c *Client) Work(ctx context.Context, opts WorkerOptions, h Handler) error {
	cfg, err := c.WorkerConfig(opts)
	if err != nil {
		return fmt.Errorf("%s: worker: %w", c.Engine(), err)
	}
	if s, ok := c.drv.(driver.FlowStore); ok {
		h = &flowRunner{c: c, store: s, h: h}
	}
	if s, ok := c.drv.(driver.ScheduleStore); ok {
		bctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); c.beat(bctx, s) }()
		defer func() { stop(); <-done }()
	}
	return c.drv.Work(ctx, cfg, h)
}
