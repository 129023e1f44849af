package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"

	"taskhost.dev/backends/driver"
)

// Config says how Open reaches an engine. Each field is optional; each
// driver documents which it reads and falls back to its engine's
// environment variables.
type Config struct {
	// URL locates the engine: a database URL for River, a Redis URL for
	// asynq and Celery, a host:port for Temporal and Hatchet.
	URL string
	// Namespace scopes the engine's objects where it has such a notion
	// (Temporal namespace).
	Namespace string
	// Options holds engine-specific settings by name (host worker
	// --backend-opt name=value); each driver documents the names it reads
	// and refuses others.
	Options map[string]string
	// Logger receives the engine's log lines; warnings and errors to
	// standard error when nil.
	Logger *slog.Logger `json:"-"`
}

var (
	mu      sync.RWMutex
	drivers = map[string]driver.Open{}
)

// Register makes an engine's driver available under name. It panics on an
// empty name, a nil open function or a duplicate, as it runs in init.
func Register(name string, open driver.Open) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || open == nil {
		panic("backends: Register with an empty name or a nil open function")
	}
	if _, dup := drivers[name]; dup {
		panic("backends: Register called twice for " + name)
	}
	drivers[name] = open
}

// Engines returns the registered engine names, sorted.
func Engines() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(drivers))
	for n := range drivers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrUnknownEngine is matched by Open's error for an engine no driver
// registered.
var ErrUnknownEngine = errors.New("unknown engine")

// Open connects to the named engine and returns a client for it. The
// engine's driver must be registered, usually by a blank import:
//
//	import _ "taskhost.dev/backends/river"
func Open(ctx context.Context, engine string, cfg Config) (*Client, error) {
	mu.RLock()
	open, ok := drivers[engine]
	mu.RUnlock()
	if !ok {
		known := strings.Join(Engines(), ", ")
		if known == "" {
			known = "none: import an engine's package, e.g. _ \"taskhost.dev/backends/river\""
		}
		return nil, fmt.Errorf("%w %q (engines built in: %s)", ErrUnknownEngine, engine, known)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	c := &Client{logger: logger}
	c.tasks.defaultQueue = driver.DefaultQueue
	d, err := open(ctx, driver.Config{URL: cfg.URL, Namespace: cfg.Namespace, Options: cfg.Options, Logger: logger, Tasks: &c.tasks})
	if err != nil {
		return nil, err
	}
	if q, ok := d.(driver.QueueDefaulter); ok {
		c.tasks.defaultQueue = q.DefaultQueue()
	}
	c.drv = d
	return c, nil
}
