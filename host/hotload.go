package host

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"taskhost.dev/abi"
)

// errRetired is returned by acquire once a plugin was removed.
var errRetired = errors.New("the plugin was removed")

// LoadFile loads, verifies and serves a self-describing plugin dropped into
// the plugins folder after Load: a new file adds its tasks, a changed one
// replaces the plugin loaded from the same path (calls already running on
// the old one finish there). A module that fails to load, or whose task
// names another plugin already serves, is refused with an error and
// changes nothing but Problems, which then lists it. Plugins named in the
// manifest are pinned by their sha256 and are not reloaded this way. It
// returns the new plugin.
func (h *Host) LoadFile(ctx context.Context, path string) (*Plugin, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("plugin %s: %w", path, err)
	}
	h.mu.RLock()
	for _, p := range h.plugins {
		if pa, _ := filepath.Abs(p.Path); pa == abs && p.inManifest {
			h.mu.RUnlock()
			return nil, fmt.Errorf("plugin %s is named in the manifest, which pins its sha256: restart the worker after updating the manifest (make plugins)", path)
		}
	}
	h.mu.RUnlock()
	p, err := h.loadPlugin(ctx, h.manifest, &PluginSpec{Path: StringList{path}, index: -1}, false, h.client)
	if err != nil {
		h.mu.Lock()
		h.setProblemLocked(path, err)
		h.mu.Unlock()
		return nil, err
	}
	h.mu.Lock()
	var old *Plugin
	for _, q := range h.plugins {
		if qa, _ := filepath.Abs(q.Path); qa == abs {
			old = q
		}
	}
	for _, t := range p.Tasks {
		if prev, ok := h.tasks[t.Name]; ok && prev.Plugin != old {
			err := fmt.Errorf("plugin %s: task %q is already served by plugin %q (%s); rename it or remove that plugin", path, t.Name, prev.Plugin.Name, prev.Plugin.Path)
			h.setProblemLocked(path, err)
			h.mu.Unlock()
			p.close(ctx)
			return nil, err
		}
	}
	if old != nil {
		h.removeLocked(old)
	}
	h.plugins = append(h.plugins, p)
	for _, t := range p.Tasks {
		h.tasks[t.Name] = t
	}
	h.setProblemLocked(path, nil)
	h.reindexLocked()
	h.mu.Unlock()
	if old != nil {
		go old.retire(context.WithoutCancel(ctx))
	}
	return p, nil
}

// Unload stops serving the plugin loaded from path: its tasks are no longer
// found, calls already running finish, then its instances are closed. It
// returns the removed plugin, or nil when none came from path.
func (h *Host) Unload(ctx context.Context, path string) *Plugin {
	abs, _ := filepath.Abs(path)
	h.mu.Lock()
	h.setProblemLocked(path, nil)
	var old *Plugin
	for _, p := range h.plugins {
		if pa, _ := filepath.Abs(p.Path); pa == abs {
			old = p
		}
	}
	if old != nil {
		h.removeLocked(old)
		h.reindexLocked()
	}
	h.mu.Unlock()
	if old != nil {
		go old.retire(context.WithoutCancel(ctx))
	}
	return old
}

func (h *Host) removeLocked(p *Plugin) {
	for i, q := range h.plugins {
		if q == p {
			h.plugins = append(h.plugins[:i:i], h.plugins[i+1:]...)
			break
		}
	}
	for _, t := range p.Tasks {
		if h.tasks[t.Name] != nil && h.tasks[t.Name].Plugin == p {
			delete(h.tasks, t.Name)
		}
	}
}

func (h *Host) reindexLocked() {
	h.names = h.names[:0]
	for n := range h.tasks {
		h.names = append(h.names, n)
	}
	sort.Strings(h.names)
}

// retire refuses new calls, waits for running ones (up to the plugin's
// timeout and a little more), then closes the plugin.
func (p *Plugin) retire(ctx context.Context) {
	p.retired.Store(true)
	deadline := time.After(time.Duration(p.Limits.Timeout) + 5*time.Second)
	for range cap(p.sem) {
		select {
		case p.sem <- struct{}{}:
		case <-deadline:
			p.logger.Warn("closing a removed plugin with calls still running", "plugin", p.Name, "path", p.Path)
			p.close(ctx)
			return
		}
	}
	p.close(ctx)
	p.logger.Info("removed plugin closed", "plugin", p.Name, "path", p.Path)
}

// retiredError is the error of a call that came too late for a removed
// plugin: retryable, as the task may be served again (or elsewhere).
func (t *Task) retiredError() *TaskError {
	return &TaskError{Kind: abi.KindUnknownTask, Task: t.Name, Plugin: t.Plugin.Name, Message: "its plugin was removed or replaced while the task waited", Retryable: true}
}
