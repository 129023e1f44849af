package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
)

var (
	contextDeadline = context.DeadlineExceeded
	contextCanceled = context.Canceled
)

// ErrNotFound is returned for an id the engine does not know.
var ErrNotFound = errors.New("not found")

// ErrUnsupported is matched (errors.Is) by every *UnsupportedError.
var ErrUnsupported = errors.New("unsupported")

// UnsupportedError says that an engine cannot honour an option.
type UnsupportedError struct {
	Engine string // the engine
	What   string // the option or operation
	Hint   string // what to do instead, if anything
}

func (e *UnsupportedError) Error() string {
	s := fmt.Sprintf("%s: %s is not supported by this engine", e.Engine, e.What)
	if e.Hint != "" {
		s += "; " + e.Hint
	}
	return s
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// UnknownTaskError is returned by Submit for a task no worker registered.
type UnknownTaskError struct {
	Task  string
	Known []string
}

func (e *UnknownTaskError) Error() string {
	return fmt.Sprintf("unknown task %q (registered: %s)", e.Task, strings.Join(e.Known, ", "))
}

// Config is what Open passes to an engine's factory. Each field is
// optional; adapters document which they read and fall back to their
// engine's environment variables.
type Config struct {
	// URL locates the engine: a database URL for River, a Redis URL for
	// asynq and Celery, a host:port for Temporal.
	URL string
	// Namespace scopes the engine's objects where it has such a notion
	// (Temporal namespace, Redis key prefix).
	Namespace string
	// Options holds engine-specific settings by name (host worker
	// --backend-opt name=value); each adapter documents the names it reads
	// and refuses others (see Config.CheckOptions).
	Options map[string]string
	// Logger receives the engine's log lines; warnings and errors to
	// standard error when nil.
	Logger *slog.Logger `json:"-"`
}

// CheckOptions returns an error naming any option in c.Options that is
// not one of known, so that a misspelt setting is not silently ignored.
func (c Config) CheckOptions(engine string, known ...string) error {
	var bad []string
	for k := range c.Options {
		if !slices.Contains(known, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	kn := "none"
	if len(known) > 0 {
		kn = strings.Join(known, ", ")
	}
	return fmt.Errorf("%s: unknown option %s (this engine knows: %s)", engine, strings.Join(bad, ", "), kn)
}

// Factory opens a Backend.
type Factory func(ctx context.Context, cfg Config) (Backend, error)

var (
	mu        sync.RWMutex
	factories = map[string]Factory{}
)

// Register makes an engine available under name. It panics on an empty
// name, a nil factory or a duplicate, as it runs in init.
func Register(name string, f Factory) {
	mu.Lock()
	defer mu.Unlock()
	if name == "" || f == nil {
		panic("backends: Register with an empty name or a nil factory")
	}
	if _, dup := factories[name]; dup {
		panic("backends: Register called twice for " + name)
	}
	factories[name] = f
}

// Engines returns the registered engine names, sorted.
func Engines() []string {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open opens the named engine.
func Open(ctx context.Context, name string, cfg Config) (Backend, error) {
	mu.RLock()
	f, ok := factories[name]
	mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("unknown backend %q (forgotten import?); known: %s", name, strings.Join(Engines(), ", "))
	}
	return f(ctx, cfg)
}
