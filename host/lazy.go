package host

import (
	"context"
	"fmt"

	"github.com/tetratelabs/wazero"
)

// lazyPlugin is what a plugin loaded lazily (Config.Lazy) needs to compile
// on its first task: its modules' paths and the digests read at load, and
// the host's caches.
type lazyPlugin struct {
	files    []moduleFile // without their bytes
	cache    wazero.CompilationCache
	meterDir string
}

// compileLazy compiles a lazily loaded plugin, once; later calls return at
// once. A failure is returned to this call (the task fails, retryable) and
// the next call tries again.
func (p *Plugin) compileLazy(ctx context.Context) error {
	if p.ready.Load() {
		return nil
	}
	p.compileMu.Lock()
	defer p.compileMu.Unlock()
	if p.ready.Load() {
		return nil
	}
	if p.lazy == nil || p.retired.Load() {
		return errRetired // closed meanwhile
	}
	spec := &PluginSpec{}
	for _, f := range p.lazy.files {
		spec.Path = append(spec.Path, f.path)
		spec.SHA256 = append(spec.SHA256, f.digest) // the module must not have changed since load
	}
	files, err := readModules(spec, false)
	if err != nil {
		return fmt.Errorf("compiling plugin %s on its first task: %w (the worker reloads a changed plugin when it watches the plugins folder; else restart it)", p.Name, err)
	}
	for i, l := range p.linked {
		l.wasm = files[i].wasm
	}
	if err := p.compile(ctx, files[len(files)-1].wasm, p.lazy.cache, p.lazy.meterDir); err != nil {
		p.closeRuntime(ctx)
		return fmt.Errorf("compiling plugin %s on its first task: %w", p.Name, err)
	}
	for _, t := range p.Tasks {
		if err := checkExport(p.compiled.ExportedFunctions()[t.Function], t); err != nil {
			p.closeRuntime(ctx)
			return fmt.Errorf("plugin %s: %w", p.Name, err)
		}
	}
	p.lazy = nil
	p.ready.Store(true)
	return nil
}

// closeRuntime discards a failed compile's runtime.
func (p *Plugin) closeRuntime(ctx context.Context) {
	if p.rt != nil {
		p.rt.Close(ctx)
		p.rt, p.compiled, p.kernel = nil, nil, nil
	}
}
