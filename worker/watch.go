package worker

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"taskhost.dev/backends"
	"taskhost.dev/host"
)

// settle is how long a plugin file must stay unchanged before it is
// loaded: a copy in progress writes many times.
const settle = 300 * time.Millisecond

// watchPlugins serves .wasm files added to, replaced in or removed from
// dir while the worker runs: a new or changed file is verified, compiled
// and its tasks registered with the engine; a removed one stops taking
// tasks and lets running ones finish. A file that fails to load is logged
// and changes nothing. served lists the queues the worker takes tasks
// from (nil: all), to warn about a new task on a queue nobody here serves.
// The returned stop ends the watch.
func watchPlugins(ctx context.Context, dir string, h *host.Host, c *backends.Client, served map[string]bool, logger *slog.Logger) (stop func(), err error) {
	if st, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
		logger.Info("no plugins folder to watch", "dir", dir)
		return func() {}, nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	// The folder and its subfolders as they are now (fsnotify does not
	// recurse).
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if path != dir && host.SkipDir(d.Name()) {
				return filepath.SkipDir
			}
			err = w.Add(path)
		}
		return err
	})
	if err != nil {
		w.Close()
		return nil, err
	}
	var (
		mu     sync.Mutex
		timers = map[string]*time.Timer{}
		wg     sync.WaitGroup
	)
	apply := func(path string) {
		defer wg.Done()
		mu.Lock()
		delete(timers, path)
		mu.Unlock()
		if _, err := os.Stat(path); err != nil {
			if p := h.Unload(ctx, path); p != nil {
				logger.Info("plugin removed: its tasks take no new work; running ones finish", "plugin", p.Name, "path", path)
			}
			return
		}
		p, err := h.LoadFile(ctx, path)
		if err != nil {
			logger.Error("plugin refused; nothing changed", "path", path, "err", err)
			return
		}
		var names []string
		var specs []backends.TaskSpec
		for _, t := range p.Tasks {
			names = append(names, t.Name)
			specs = append(specs, spec(t))
			if served != nil && !served[t.Queue] {
				logger.Warn("task loaded on a queue this worker does not serve; start a worker with --queues including it", "task", t.Name, "queue", t.Queue)
			}
		}
		if err := c.Register(ctx, specs...); err != nil {
			logger.Error("registering a new plugin's tasks with the engine failed", "plugin", p.Name, "err", err)
			return
		}
		logger.Info("plugin loaded", "plugin", p.Name, "path", path, "tasks", strings.Join(names, ","))
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if !strings.HasSuffix(ev.Name, ".wasm") || ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) {
					continue
				}
				mu.Lock()
				if t, ok := timers[ev.Name]; ok {
					t.Reset(settle)
				} else {
					wg.Add(1)
					path := ev.Name
					timers[path] = time.AfterFunc(settle, func() { apply(path) })
				}
				mu.Unlock()
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				logger.Warn("watching the plugins folder", "dir", dir, "err", err)
			}
		}
	}()
	return func() {
		w.Close()
		<-done
		mu.Lock()
		for _, t := range timers {
			if t.Stop() {
				wg.Done()
			}
		}
		mu.Unlock()
		wg.Wait()
	}, nil
}
