package host

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"taskhost.dev/abi"
	"taskhost.dev/host/internal/extism"
)

// Plugin is one loaded module: verified, compiled once, and run in
// instances from its pool.
type Plugin struct {
	// Name is the plugin's name.
	Name string
	// Path is the module file (the main module of a multi-module plugin).
	Path string
	// SHA256 is the module's hex digest.
	SHA256 string
	// Linked are the other modules of a multi-module plugin, in path order;
	// each instance links its own instance of each under its Name.
	Linked []Module
	// ABI is the taskhost ABI version the module declared, 0 for a plain
	// Extism plugin without metadata.
	ABI int
	// Limits are the plugin's sandbox limits, defaults applied.
	Limits Limits
	// Capabilities are what the plugin may reach outside its sandbox.
	Capabilities Capabilities
	// Tasks are the tasks the plugin serves.
	Tasks []*Task

	config     map[string]string
	vars       map[string]string // [plugin.vars]: each instance's first vars
	logger     *slog.Logger
	rt         wazero.Runtime
	compiled   wazero.CompiledModule
	linked     []*linkedModule
	kernel     *extism.Kernel
	metered    bool        // every module was rewritten by host/internal/meter
	inManifest bool        // named in the manifest (pinned), not a drop-in
	retired    atomic.Bool // removed or replaced: takes no new calls
	modCfg     wazero.ModuleConfig
	http       *extism.HTTPPolicy
	mounts     []mount
	env        [][2]string

	lazy      *lazyPlugin // compiled on its first task (Config.Lazy); nil once compiled or when loaded in full
	ready     atomic.Bool // compiled: rt, compiled, kernel and modCfg are set
	sem       chan struct{}
	mu        sync.Mutex
	compileMu sync.Mutex  // held by a lazy compile and by close
	idle      []*instance // oldest first; calls take the newest
	reaper    *time.Timer // closes instances idle past IdleTimeout; nil when none waits
	closed    bool
	created   atomic.Int64
	live      atomic.Int64
}

type mount struct{ host, guest string }

// PoolStats describes a plugin's instances.
type PoolStats struct {
	// Live instances exist now; Idle of them wait in the pool.
	Live, Idle int
	// Busy instances are running a task now.
	Busy int
	// Created counts instances made since load.
	Created int64
}

// Stats returns the plugin's instance counts.
func (p *Plugin) Stats() PoolStats {
	p.mu.Lock()
	idle := len(p.idle)
	p.mu.Unlock()
	return PoolStats{Live: int(p.live.Load()), Idle: idle, Busy: len(p.sem), Created: p.created.Load()}
}

// compile builds the plugin's runtime and compiles its module.
func (p *Plugin) compile(ctx context.Context, wasm []byte, cache wazero.CompilationCache, meterDir string) error {
	// A metered module stops itself (see host/internal/meter); one the
	// rewriter cannot read runs under wazero's own termination checks,
	// slower but as safe.
	wasm, mainMetered, err := p.meterModule(ctx, meterDir, p.SHA256, wasm)
	if err != nil {
		return err
	}
	linkedMetered, err := p.meterLinked(ctx, meterDir)
	if err != nil {
		return err
	}
	p.metered = linkedMetered && mainMetered
	cfg := wazero.NewRuntimeConfig().
		WithCoreFeatures(coreFeatures).
		WithCloseOnContextDone(!p.metered).
		WithMemoryLimitPages(p.Limits.memoryPages())
	if cache != nil {
		cfg = cfg.WithCompilationCache(cache)
	}
	p.rt = wazero.NewRuntimeWithConfig(ctx, cfg)
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.rt); err != nil {
		return fmt.Errorf("instantiating WASI: %w", err)
	}
	unlock := lockKernel(int64(p.Limits.MaxMemory), int64(p.Limits.MaxOutput))
	kernel, err := extism.NewKernel(ctx, p.rt, int64(p.Limits.MaxMemory), int64(p.Limits.MaxOutput))
	unlock()
	if err != nil {
		return fmt.Errorf("building the Extism kernel: %w", err)
	}
	p.kernel = kernel
	if err := instantiateTaskhost(ctx, p.rt); err != nil {
		return fmt.Errorf("instantiating the taskhost host functions: %w", err)
	}
	if mainMetered || slices.ContainsFunc(p.linked, func(l *linkedModule) bool { return l.metered }) {
		if err := instantiateMeter(ctx, p.rt); err != nil {
			return fmt.Errorf("instantiating the meter's yield function: %w", err)
		}
	}
	unlock = lockCompile(p.SHA256)
	compiled, err := p.rt.CompileModule(ctx, wasm)
	unlock()
	if err != nil {
		return fmt.Errorf("compiling: %w (is it a WebAssembly module built for wasm32?)", err)
	}
	p.compiled = compiled
	if err := p.compileLinked(ctx); err != nil {
		return err
	}
	if err := checkImports(compiled, mainMetered, p.linked); err != nil {
		return err
	}
	p.modCfg = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
	for _, kv := range p.env {
		p.modCfg = p.modCfg.WithEnv(kv[0], kv[1])
	}
	return nil
}

// newInstance instantiates the module and runs the guest's initialisers.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	inst := &instance{p: p}
	ctx = withLinearMemory(ctx)
	kmod, mem, err := p.kernel.Instantiate(ctx, p.rt)
	if err != nil {
		return nil, fmt.Errorf("instantiating the Extism kernel: %w", err)
	}
	inst.kernel = kmod
	inst.st = extism.State{
		Mem:         mem,
		Config:      p.config,
		Vars:        presetVars(p.vars),
		MaxVarBytes: maxVarBytes,
		HTTP:        p.http,
		Log:         inst.log,
		LogLevel:    minLevel(p.logger),
	}
	inst.cc = extism.NewCallContext(inst)
	inst.timer = time.AfterFunc(time.Hour, inst.timeout)
	inst.timer.Stop()
	inst.stdout = guestStream{inst: inst, name: "stdout"}
	inst.stderr = guestStream{inst: inst, name: "stderr"}
	cfg := p.modCfg.
		WithNanosleep(inst.sleep).
		WithFSConfig(p.fsConfig(inst)).
		WithStdin(&inst.stdin).
		WithStdout(&inst.stdout).
		WithStderr(&inst.stderr)
	// A module's start function, if it has one, is guest code too: it
	// runs under the plugin's timeout, which the meter's yield (or
	// wazero's checks) enforce as in a call.
	timeout := time.Duration(p.Limits.Timeout)
	ictx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Each module finds the instance's kernel, and the instance's own
	// instances of the modules linked before it, by module name.
	resolve := experimental.WithImportResolver(ictx, func(name string) api.Module {
		if name == abi.ExtismModule {
			return kmod
		}
		if i := linkedIndex(p.linked, name); i >= 0 && i < len(inst.linked) {
			return inst.linked[i]
		}
		return nil
	})
	for _, l := range p.linked {
		m, err := p.rt.InstantiateModule(resolve, l.compiled, cfg)
		if err != nil {
			inst.close()
			return nil, fmt.Errorf("instantiating module %s: %w", l.Path, err)
		}
		inst.linked = append(inst.linked, m)
	}
	mod, err := p.rt.InstantiateModule(resolve, p.compiled, cfg)
	if err != nil {
		inst.close()
		if ctx.Err() == nil && errors.Is(ictx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("instantiating: its start function ran past the plugin's timeout of %s", timeout)
		}
		return nil, fmt.Errorf("instantiating: %w", err)
	}
	inst.mod = mod
	if err := inst.initGuest(ctx); err != nil {
		inst.close()
		return nil, err
	}
	inst.funcs = make([]api.Function, len(p.Tasks))
	for i, t := range p.Tasks {
		inst.funcs[i] = mod.ExportedFunction(t.Function)
	}
	p.created.Add(1)
	p.live.Add(1)
	return inst, nil
}

// maxVarBytes caps the total size of an instance's Extism vars, names
// included.
const maxVarBytes = 1 << 20

func varsSize(vars map[string]string) int {
	n := 0
	for k, v := range vars {
		n += len(k) + len(v)
	}
	return n
}

// presetVars returns a new instance's vars: its own copy of the presets.
func presetVars(vars map[string]string) map[string][]byte {
	if len(vars) == 0 {
		return nil
	}
	out := make(map[string][]byte, len(vars))
	for k, v := range vars {
		out[k] = []byte(v)
	}
	return out
}

// initGuest runs the language runtime's initialisers the way Extism does:
// Haskell's hs_init, a WASI reactor's _initialize, or a C command module's
// constructors; those of the linked modules first, then the main one's.
func (inst *instance) initGuest(ctx context.Context) error {
	for _, m := range inst.linked {
		if err := inst.initModule(ctx, m); err != nil {
			return err
		}
	}
	return inst.initModule(ctx, inst.mod)
}

func (inst *instance) initModule(ctx context.Context, m api.Module) error {
	var names []string
	switch {
	case m.ExportedFunction("hs_init") != nil:
		if m.ExportedFunction("_initialize") != nil {
			names = append(names, "_initialize")
		}
		names = append(names, "hs_init")
	case m.ExportedFunction("_initialize") != nil:
		names = append(names, "_initialize")
	case m.ExportedFunction("__wasm_call_ctors") != nil:
		names = append(names, "__wasm_call_ctors")
	}
	for _, name := range names {
		if _, err := inst.callRaw(ctx, m.ExportedFunction(name), name, nil, time.Duration(inst.p.Limits.Timeout)); err != nil {
			return fmt.Errorf("initialising the guest runtime (%s): %w", name, err)
		}
	}
	return nil
}

// acquire returns an instance to run one call, waiting while PoolSize calls
// are running.
func (p *Plugin) acquire(ctx context.Context) (*instance, error) {
	select {
	case p.sem <- struct{}{}:
	default:
		select {
		case p.sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if p.retired.Load() {
		<-p.sem
		return nil, errRetired
	}
	if err := p.compileLazy(ctx); err != nil {
		<-p.sem
		return nil, err
	}
	if p.Limits.Isolation == IsolationPooled {
		p.mu.Lock()
		if n := len(p.idle); n > 0 {
			inst := p.idle[n-1]
			p.idle = p.idle[:n-1]
			p.mu.Unlock()
			return inst, nil
		}
		p.mu.Unlock()
	}
	inst, err := p.newInstance(ctx)
	if err != nil {
		<-p.sem
		return nil, err
	}
	return inst, nil
}

// release returns inst after a call: back to the pool when it is healthy,
// closed otherwise.
func (p *Plugin) release(inst *instance) {
	inst.task = nil
	inst.inv = Invocation{}
	keep := !inst.broken && p.Limits.Isolation == IsolationPooled && inst.uses < p.Limits.MaxUses
	if keep {
		p.mu.Lock()
		if !p.closed {
			inst.idleSince = time.Now()
			p.idle = append(p.idle, inst)
			if p.reaper == nil {
				p.reaper = time.AfterFunc(time.Duration(p.Limits.IdleTimeout), p.reap)
			}
			p.mu.Unlock()
			<-p.sem
			return
		}
		p.mu.Unlock()
	}
	inst.close()
	p.live.Add(-1)
	<-p.sem
}

// reap closes the instances that have waited IdleTimeout or longer, and
// comes back for the others when the oldest of them is due.
func (p *Plugin) reap() {
	timeout := time.Duration(p.Limits.IdleTimeout)
	now := time.Now()
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= timeout {
		n++
	}
	old := slices.Clone(p.idle[:n])
	p.idle = slices.Delete(p.idle, 0, n)
	if len(p.idle) > 0 && !p.closed {
		p.reaper = time.AfterFunc(p.idle[0].idleSince.Add(timeout).Sub(now), p.reap)
	} else {
		p.reaper = nil
	}
	p.mu.Unlock()
	for _, inst := range old {
		inst.close()
		p.live.Add(-1)
	}
}

// put adds a fresh instance to the pool without a call (used at load).
func (p *Plugin) put(inst *instance) {
	p.sem <- struct{}{}
	p.release(inst)
}

func (p *Plugin) close(ctx context.Context) error {
	p.compileMu.Lock() // a lazy compile in progress finishes first
	defer p.compileMu.Unlock()
	p.lazy = nil // and none starts after
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	if p.reaper != nil {
		p.reaper.Stop()
		p.reaper = nil
	}
	p.mu.Unlock()
	for _, inst := range idle {
		inst.close()
		p.live.Add(-1)
	}
	if p.rt == nil {
		return nil
	}
	return p.rt.Close(ctx)
}

func minLevel(l *slog.Logger) slog.Level {
	for _, lvl := range []slog.Level{slog.LevelDebug - 4, slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if l.Enabled(context.Background(), lvl) {
			return lvl
		}
	}
	return slog.LevelError
}
