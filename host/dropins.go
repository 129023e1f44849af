package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Drop-ins: the self-describing plugins found in the plugins folder, which
// Load serves beside the manifest's, and LoadFile adds later. One that does
// not load is a Problem, not an error: the other plugins are served.

// Problem is a plugin from the plugins folder that is not served because it
// does not load (it is not a valid module, has no metadata, fails to
// start) or serves a task another plugin serves already. The other plugins
// are served without it. A plugin that the manifest or a bundle names is
// never a Problem: it fails Load.
type Problem struct {
	// Path is the module file.
	Path string
	// Err says what is wrong with it.
	Err error
}

func (p Problem) Error() string { return p.Err.Error() }

// SkipDir reports whether the plugins-folder scan (and the worker's watch)
// leaves out a folder of that name: hidden ones and node_modules (build
// tooling, not plugins).
func SkipDir(name string) bool { return strings.HasPrefix(name, ".") || name == "node_modules" }

// scanPlugins lists the .wasm files under dir that no spec names.
func scanPlugins(dir string, specs []PluginSpec) ([]PluginSpec, error) {
	if dir == "" {
		return nil, nil
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	known := map[string]bool{}
	for _, s := range specs {
		for _, f := range s.Path {
			if abs, err := filepath.Abs(f); err == nil {
				known[abs] = true
			}
		}
	}
	var out []PluginSpec
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && SkipDir(d.Name()) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".wasm") {
			return nil
		}
		if abs, err := filepath.Abs(path); err == nil && known[abs] {
			return nil
		}
		out = append(out, PluginSpec{Path: StringList{path}, index: -1})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scanning plugins folder %s: %w", dir, err)
	}
	return out, nil
}

// Problems returns the drop-ins from the plugins folder that are not
// served, sorted by path: those Load left out, and those LoadFile refused
// since (a file that loads later, or is removed, is no longer one).
func (h *Host) Problems() []Problem {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := append([]Problem(nil), h.problems...)
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// setProblemLocked records err as the problem of the drop-in at path, or clears
// it when err is nil. h.mu must be held.
func (h *Host) setProblemLocked(path string, err error) {
	abs, _ := filepath.Abs(path)
	kept := h.problems[:0]
	for _, p := range h.problems {
		if pa, _ := filepath.Abs(p.Path); pa != abs {
			kept = append(kept, p)
		}
	}
	h.problems = kept
	if err != nil {
		h.problems = append(h.problems, Problem{Path: path, Err: err})
	}
}
