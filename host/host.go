package host

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"taskhost.dev/abi"
	"taskhost.dev/host/internal/extism"
)

// Config says where a Host finds its plugins. The zero value loads nothing.
type Config struct {
	// Manifest is the manifest.toml to read; empty for none.
	Manifest string
	// PluginsDir is scanned (recursively) for .wasm files that the manifest
	// does not name; each must describe itself (abi.MetaExport), and one
	// that does not load is a Problem, not an error. Empty for none; a
	// folder that does not exist is skipped.
	PluginsDir string
	// CacheDir holds wazero's compilation cache, so that a second start
	// skips compiling. Empty uses DefaultCacheDir(); "off" disables it.
	CacheDir string
	// Logger receives the host's and the plugins' log lines; slog.Default()
	// when nil.
	Logger *slog.Logger
	// HTTPClient sends plugins' HTTP requests; a client with default
	// settings when nil.
	HTTPClient *http.Client
	// Bundles are signed plugin bundles (host/bundle) to load beside the
	// manifest's plugins; BundlesDir is scanned for more (*.tbundle, a
	// missing folder is skipped). Each must be signed by one of BundleKeys,
	// else Load fails.
	Bundles    []string
	BundlesDir string
	BundleKeys []ed25519.PublicKey
	// BundleBytes are bundles held in memory (one embedded in the binary),
	// by name; verified like the others.
	BundleBytes map[string][]byte
	// Lazy compiles a plugin when its first task runs, not at load, where
	// the cache in CacheDir has the plugin's metadata (by its modules'
	// sha256; a full load writes it): a client that only submits never
	// compiles a plugin, and a worker starts sooner and holds no compiled
	// code for the plugins it has not run. A plugin the cache lacks is
	// loaded in full, and so cached. When it compiles, a lazy plugin's
	// modules are read again and must still have the digests read at load.
	Lazy bool
	// Concurrency is the most tasks the caller runs at once (a worker's
	// concurrency): a plugin whose pool_size is not set may run that many
	// at once, its pool growing on demand, so that no task a worker took
	// from its engine waits for an instance. Zero keeps the default
	// pool_size (GOMAXPROCS, at least 2).
	Concurrency int
}

// DefaultCacheDir returns the compilation cache folder used when
// Config.CacheDir is empty: $TASKHOST_CACHE_DIR, else taskhost/wazero under
// the user's cache folder, else under the temporary folder.
func DefaultCacheDir() string {
	if d := os.Getenv("TASKHOST_CACHE_DIR"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "taskhost", "wazero")
	}
	return filepath.Join(os.TempDir(), "taskhost-wazero")
}

// Host holds the loaded plugins and runs their tasks. It is safe for
// concurrent use.
type Host struct {
	mu        sync.RWMutex // plugins, tasks and names, which LoadFile and Unload change
	plugins   []*Plugin
	workflows []WorkflowSpec
	schedules []ScheduleSpec
	tasks     map[string]*Task
	names     []string
	cache     wazero.CompilationCache
	meterDir  string // metered modules, beside the compilation cache
	metaDir   string // the modules' metadata, beside it (metacache.go)
	lazy      bool
	defaults  Limits // DefaultLimits, with the pool sized for Config.Concurrency
	client    *http.Client
	manifest  *Manifest // its [defaults] apply to plugins loaded later
	logger    *slog.Logger
	problems  []Problem // drop-ins that are not served, by path
}

// Load reads the manifest and the plugins folder, verifies every module
// (digest, ABI version, exports), compiles it once and warms one instance.
// A problem with the manifest, a bundle or a plugin either names fails the
// load: every one found is reported, joined into one error, and nothing is
// left running. A drop-in from the plugins folder that does not load is
// logged as a warning, reported by Problems, and left out; the rest are
// served.
func Load(ctx context.Context, cfg Config) (*Host, error) {
	h := &Host{tasks: map[string]*Task{}, logger: cfg.Logger}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	h.client = client
	switch cfg.CacheDir {
	case "off":
	default:
		dir := cfg.CacheDir
		if dir == "" {
			dir = DefaultCacheDir()
		}
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("compilation cache %s: %w (set --cache-dir to a writable folder, or off)", dir, err)
		}
		h.cache = cache
		h.meterDir = filepath.Join(dir, "metered")
		h.metaDir = filepath.Join(dir, "meta")
	}
	h.lazy = cfg.Lazy
	h.defaults = DefaultLimits()
	if cfg.Concurrency < 0 || cfg.Concurrency > maxPoolSize {
		return nil, fmt.Errorf("host: Config.Concurrency %d is outside 0..%d", cfg.Concurrency, maxPoolSize)
	}
	h.defaults.PoolSize = max(h.defaults.PoolSize, cfg.Concurrency)

	m := &Manifest{}
	if cfg.Manifest != "" {
		var err error
		if m, err = LoadManifest(cfg.Manifest); err != nil {
			return nil, err
		}
	}
	h.manifest = m
	manifests := []*Manifest{m}
	bms, err := openBundles(cfg, h.bundleDir(cfg))
	if err != nil {
		return nil, err
	}
	manifests = append(manifests, bms...)
	// What to load: each manifest's plugins (the main one's, then each
	// bundle's), then the plugins folder's drop-ins.
	type item struct {
		m          *Manifest
		spec       PluginSpec
		inManifest bool
	}
	var items []item
	var named []PluginSpec
	for _, mf := range manifests {
		for _, spec := range mf.Plugins {
			spec.Path = slices.Clone(spec.Path)
			for j, f := range spec.Path {
				spec.Path[j] = mf.resolve(f)
			}
			items = append(items, item{mf, spec, true})
			named = append(named, spec)
		}
	}
	dropIns, err := scanPlugins(cfg.PluginsDir, named)
	if err != nil {
		return nil, err
	}
	for _, spec := range dropIns {
		items = append(items, item{m, spec, false})
	}

	// Plugins load in parallel (validation and instantiation are CPU-bound),
	// and are kept in manifest order.
	loaded := make([]*Plugin, len(items))
	loadErrs := make([]error, len(items))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i := range items {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			it := &items[i]
			loaded[i], loadErrs[i] = h.loadPlugin(ctx, it.m, &it.spec, it.inManifest, client)
		}()
	}
	wg.Wait()
	var errs []error
	for i, p := range loaded {
		switch {
		case loadErrs[i] == nil:
			h.plugins = append(h.plugins, p)
		case items[i].inManifest:
			errs = append(errs, loadErrs[i])
		default:
			h.problems = append(h.problems, Problem{Path: items[i].spec.mainPath(), Err: loadErrs[i]})
		}
	}
	if err := h.register(ctx); err != nil {
		errs = append(errs, err)
	}
	for _, p := range h.problems {
		h.logger.Warn("plugin not loaded; the other plugins are served without it", "path", p.Path, "error", p.Err)
	}
	pluginsOK := len(errs) == 0 // else a workflow's task may be missing for that reason
	for _, mf := range manifests {
		for i, w := range mf.Workflows {
			for _, t := range w.tasks() {
				if _, ok := h.tasks[t]; !ok && pluginsOK {
					msg := fmt.Sprintf("workflow %q: no loaded plugin serves task %q", w.Name, t)
					if len(h.problems) > 0 {
						msg += fmt.Sprintf(" (%d plugins from the plugins folder did not load, see the warnings)", len(h.problems))
					}
					errs = append(errs, &ManifestError{File: mf.File, Line: mf.Line("workflow", i, "name"), Msg: msg})
				}
			}
			if _, dup := h.Workflow(w.Name); dup {
				errs = append(errs, &ManifestError{File: mf.File, Line: mf.Line("workflow", i, "name"),
					Msg: fmt.Sprintf("workflow %q is defined twice (also in another manifest or bundle); rename one", w.Name)})
				continue
			}
			h.workflows = append(h.workflows, w)
		}
		if pluginsOK {
			errs = append(errs, h.checkScheduleTasks(mf)...)
		}
		h.schedules = append(h.schedules, mf.Schedules...)
	}
	if len(errs) > 0 {
		h.Close(ctx)
		return nil, errors.Join(errs...)
	}
	sort.Strings(h.names)
	return h, nil
}

// loadPlugin verifies, compiles and warms one plugin.
func (h *Host) loadPlugin(ctx context.Context, m *Manifest, spec *PluginSpec, inManifest bool, client *http.Client) (*Plugin, error) {
	label := spec.Name
	if label == "" {
		label = spec.mainPath()
	}
	line := 0
	if inManifest {
		line = m.Line("plugin", spec.index)
	}
	where := func(format string, args ...any) error {
		if inManifest {
			return &ManifestError{File: m.File, Line: line, Plugin: label, Msg: fmt.Sprintf(format, args...)}
		}
		return fmt.Errorf("%s: %s", spec.mainPath(), fmt.Sprintf(format, args...))
	}
	files, err := readModules(spec, h.lazy)
	if err != nil {
		return nil, where("%v", err)
	}
	var raw []byte
	cached := false
	if h.lazy { // a full load reads no cache entry, only writes one
		raw, cached = h.cachedMeta(files)
	}
	if h.lazy && !cached {
		if files, err = readModules(spec, false); err != nil { // a full load after all
			return nil, where("%v", err)
		}
	}
	main := files[len(files)-1]
	name := spec.Name
	if name == "" {
		name = linkName(main.path)
	}
	p := &Plugin{
		Name:         name,
		Path:         main.path,
		SHA256:       main.digest,
		Limits:       spec.Limits.withDefaults(m.Defaults.Limits.withDefaults(h.defaults)),
		Capabilities: spec.Capabilities,
		config:       spec.Config,
		vars:         spec.Vars,
		logger:       h.logger,
		inManifest:   inManifest,
	}
	if err := p.Limits.validate(); err != nil {
		return nil, where("%v", err)
	}
	for _, f := range files[:len(files)-1] {
		l := &linkedModule{Module: Module{Name: linkName(f.path), Path: f.path, SHA256: f.digest}, wasm: f.wasm}
		p.linked = append(p.linked, l)
		p.Linked = append(p.Linked, l.Module)
	}
	if len(spec.Capabilities.AllowedHosts) > 0 {
		p.http = &extism.HTTPPolicy{AllowedHosts: spec.Capabilities.AllowedHosts, MaxResponseBytes: int64(p.Limits.MaxHTTPResponse), Client: client}
	}
	for _, ap := range spec.Capabilities.AllowedPaths {
		hp, gp, err := splitMount(ap)
		if err != nil {
			return nil, where("%v", err)
		}
		if st, err := os.Stat(hp); err != nil || !st.IsDir() {
			return nil, where("allowed_paths: %s is not a folder on this machine; create it or remove the entry", hp)
		}
		p.mounts = append(p.mounts, mount{hp, gp})
	}
	for _, name := range spec.Capabilities.Env {
		if v, ok := os.LookupEnv(name); ok {
			p.env = append(p.env, [2]string{name, v})
		}
	}
	start := time.Now()
	p.sem = make(chan struct{}, p.Limits.PoolSize)
	if h.lazy && cached {
		tasks, err := p.buildTasks(raw, m, spec, nil)
		if err != nil {
			return nil, where("%v", err)
		}
		p.Tasks = tasks
		p.lazy = &lazyPlugin{files: files, cache: h.cache, meterDir: h.meterDir}
		return p, nil
	}
	if err := p.compile(ctx, main.wasm, h.cache, h.meterDir); err != nil {
		p.close(ctx)
		return nil, where("%v", err)
	}
	p.ready.Store(true)
	first, err := p.newInstance(ctx)
	if err != nil {
		p.close(ctx)
		return nil, where("%v", err)
	}
	tasks, raw, err := p.readTasks(ctx, first, m, spec)
	if err != nil {
		first.close()
		p.close(ctx)
		return nil, where("%v", err)
	}
	h.storeMeta(files, raw)
	p.Tasks = tasks
	if first.broken {
		first.close()
	} else {
		first.funcs = make([]api.Function, len(tasks))
		for i, t := range tasks {
			first.funcs[i] = first.mod.ExportedFunction(t.Function)
		}
		p.put(first)
	}
	h.logger.Debug("plugin loaded", "plugin", p.Name, "path", p.Path, "tasks", len(tasks), "abi", p.ABI, "took", time.Since(start))
	return p, nil
}

// register indexes every plugin's tasks by name. A plugin that serves a
// task an earlier one serves is an error when the manifest or a bundle
// names it; a drop-in is left out as a Problem.
func (h *Host) register(ctx context.Context) error {
	var errs []error
	kept := h.plugins[:0]
	for _, p := range h.plugins {
		var clash error
		for _, t := range p.Tasks {
			if prev, dup := h.tasks[t.Name]; dup {
				clash = fmt.Errorf("task %q is served by plugin %q (%s) and by plugin %q (%s); rename one of them or remove a plugin",
					t.Name, prev.Plugin.Name, prev.Plugin.Path, p.Name, p.Path)
				break
			}
		}
		if clash != nil {
			if p.inManifest {
				errs = append(errs, clash)
				kept = append(kept, p) // closed with the others, as Load fails
			} else {
				h.problems = append(h.problems, Problem{Path: p.Path, Err: clash})
				p.close(ctx)
			}
			continue
		}
		kept = append(kept, p)
		for _, t := range p.Tasks {
			h.tasks[t.Name] = t
			h.names = append(h.names, t.Name)
		}
	}
	clear(h.plugins[len(kept):])
	h.plugins = kept
	return errors.Join(errs...)
}

// Tasks returns every task, sorted by name.
func (h *Host) Tasks() []*Task {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]*Task, len(h.names))
	for i, n := range h.names {
		out[i] = h.tasks[n]
	}
	return out
}

// Task returns the task with the given name.
func (h *Host) Task(name string) (*Task, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	t, ok := h.tasks[name]
	return t, ok
}

// Workflows returns the workflows the manifest defines.
func (h *Host) Workflows() []WorkflowSpec { return append([]WorkflowSpec(nil), h.workflows...) }

// Workflow returns the manifest's workflow of that name.
func (h *Host) Workflow(name string) (WorkflowSpec, bool) {
	for _, w := range h.workflows {
		if w.Name == name {
			return w, true
		}
	}
	return WorkflowSpec{}, false
}

// tasks lists the task names a workflow uses.
func (w WorkflowSpec) tasks() []string {
	var out []string
	for _, s := range w.Steps {
		if s.Task != "" {
			out = append(out, s.Task)
		}
		for _, p := range s.Parallel {
			out = append(out, p.Task)
		}
	}
	return out
}

// Plugins returns the loaded plugins in load order.
func (h *Host) Plugins() []*Plugin {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return append([]*Plugin(nil), h.plugins...)
}

// Run runs one attempt of the named task; see Task.Run. An unknown name is a
// *TaskError of kind abi.KindUnknownTask.
func (h *Host) Run(ctx context.Context, name string, input []byte, inv Invocation) ([]byte, error) {
	h.mu.RLock()
	t, ok := h.tasks[name]
	h.mu.RUnlock()
	if !ok {
		h.mu.RLock()
		defer h.mu.RUnlock()
		return nil, &TaskError{Kind: abi.KindUnknownTask, Task: name,
			Message: fmt.Sprintf("no loaded plugin serves it (known tasks: %s)", strings.Join(h.names, ", "))}
	}
	return t.Run(ctx, input, inv)
}

// Close closes every plugin's instances and runtime.
func (h *Host) Close(ctx context.Context) error {
	var errs []error
	for _, p := range h.Plugins() {
		errs = append(errs, p.close(ctx))
	}
	if h.cache != nil {
		errs = append(errs, h.cache.Close(ctx))
	}
	return errors.Join(errs...)
}
