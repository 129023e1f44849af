package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"taskhost.dev/abi"
	"taskhost.dev/host/internal/meter"
)

// A plugin is one module, or several linked by module name, as Extism
// links a manifest's wasm entries: path = ["lib.wasm", "main.wasm"] makes
// lib.wasm the module "lib" that main.wasm imports from. The main module
// (the last) serves the tasks; every instance of the plugin has its own
// instance of each module, so nothing is shared between instances. Each
// module is checked as the main one is: its sha256 pin, its imports, the
// meter, the memory limit (which caps each module's memory).

// StringList is a manifest value that is one string or an array of them:
// path = "x.wasm" or path = ["lib.wasm", "main.wasm"].
type StringList []string

// UnmarshalTOML reads a string or an array of strings.
func (l *StringList) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*l = StringList{v}
		return nil
	case []any:
		out := make(StringList, len(v))
		for i, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("entry %d is a %T; want a string", i+1, e)
			}
			out[i] = s
		}
		*l = out
		return nil
	}
	return fmt.Errorf("want a string or an array of strings, not %T", v)
}

// Module is one of the other modules of a multi-module plugin.
type Module struct {
	// Name is the module name it is linked under: its file name without
	// .wasm.
	Name string
	// Path is the module file.
	Path string
	// SHA256 is its hex digest.
	SHA256 string
}

// linkName is the module name a plugin's other module is linked under.
func linkName(path string) string { return strings.TrimSuffix(filepath.Base(path), ".wasm") }

// checkLinkName says what is wrong with a linked module's name, or "".
func checkLinkName(name string) string {
	switch {
	case !abi.ValidName(name) || strings.Contains(name, ":"):
		return "use letters, digits and _.- only (names with a colon are the host's)"
	case name == wasi_snapshot_preview1.ModuleName:
		return "that is the WASI module's name"
	}
	return ""
}

// mainPath is the plugin's main module: the last entry of path.
func (s *PluginSpec) mainPath() string {
	if len(s.Path) == 0 {
		return ""
	}
	return s.Path[len(s.Path)-1]
}

// moduleFile is a module read from disk and checked against its pin.
type moduleFile struct {
	path, digest string
	wasm         []byte
}

// readModules reads the plugin's modules in path order and checks each
// against its sha256 pin. With digestsOnly it keeps none of their bytes
// (wasm is nil): enough to look their metadata up.
func readModules(spec *PluginSpec, digestsOnly bool) ([]moduleFile, error) {
	files := make([]moduleFile, len(spec.Path))
	for i, path := range spec.Path {
		wasm, digest, err := readModule(path, digestsOnly)
		if err != nil {
			return nil, fmt.Errorf("cannot read the module: %v; build it with make plugins or fix path", err)
		}
		if i < len(spec.SHA256) && spec.SHA256[i] != digest {
			which := ""
			if len(spec.Path) > 1 {
				which = " of " + filepath.Base(path)
			}
			return nil, fmt.Errorf("sha256 mismatch%s (file has %s, manifest says %s); rebuild with make plugins, or update sha256 if the new file is trusted", which, digest, spec.SHA256[i])
		}
		files[i] = moduleFile{path, digest, wasm}
	}
	return files, nil
}

// readModule returns a module file's bytes (none with digestOnly, which
// streams the file through the hash) and hex sha256.
func readModule(path string, digestOnly bool) ([]byte, string, error) {
	if !digestOnly {
		wasm, err := os.ReadFile(path)
		if err != nil {
			return nil, "", err
		}
		sum := sha256.Sum256(wasm)
		return wasm, hex.EncodeToString(sum[:]), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, "", err
	}
	return nil, hex.EncodeToString(h.Sum(nil)), nil
}

// linkedModule is one of the plugin's other modules, compiled.
type linkedModule struct {
	Module
	wasm     []byte // until compiled
	metered  bool
	compiled wazero.CompiledModule
}

// meterModule returns wasm rewritten by the meter (see
// host/internal/meter), and true; or, for a module the rewriter cannot
// read, wasm itself and false: that module runs under wazero's own
// termination checks, slower but as safe.
func (p *Plugin) meterModule(ctx context.Context, meterDir, digest string, wasm []byte) ([]byte, bool, error) {
	metered, err := meteredModule(ctx, meterDir, digest, wasm)
	switch {
	case errors.Is(err, errInvalid):
		return nil, false, fmt.Errorf("%v; the host runs only modules that are valid on their own (WebAssembly 2.0): rebuild it with its language's toolchain", err)
	case err != nil:
		p.logger.Debug("plugin runs under wazero's termination checks", "plugin", p.Name, "reason", err)
		return wasm, false, nil
	}
	return metered, true, nil
}

// meterLinked validates and meters the other modules and reports whether
// all were metered.
func (p *Plugin) meterLinked(ctx context.Context, meterDir string) (bool, error) {
	all := true
	for _, l := range p.linked {
		var err error
		if l.wasm, l.metered, err = p.meterModule(ctx, meterDir, l.SHA256, l.wasm); err != nil {
			return false, fmt.Errorf("module %s: %w", l.Path, err)
		}
		all = all && l.metered
	}
	return all, nil
}

// compileLinked compiles the other modules in path order; each may import
// the ones before it.
func (p *Plugin) compileLinked(ctx context.Context) error {
	for i, l := range p.linked {
		unlock := lockCompile(l.SHA256)
		compiled, err := p.rt.CompileModule(ctx, l.wasm)
		unlock()
		if err != nil {
			return fmt.Errorf("module %s: compiling: %w (is it a WebAssembly module built for wasm32?)", l.Path, err)
		}
		l.compiled, l.wasm = compiled, nil
		if err := checkImports(compiled, l.metered, p.linked[:i]); err != nil {
			return fmt.Errorf("module %s: %w", l.Path, err)
		}
	}
	return nil
}

// checkImports refuses a module that imports a function the host does not
// provide: only Extism's, taskhost's, WASI's, the meter's yield (once, in a
// metered module) and the exports of the linked modules.
func checkImports(compiled wazero.CompiledModule, metered bool, linked []*linkedModule) error {
	yields := 0
	for _, imp := range compiled.ImportedFunctions() {
		mod, name, _ := imp.Import()
		switch mod {
		case abi.ExtismModule, abi.HostModule, wasi_snapshot_preview1.ModuleName:
			continue
		case meter.ImportModule:
			if yields++; metered && yields == 1 {
				continue
			}
		}
		if linkedIndex(linked, mod) >= 0 {
			continue
		}
		also := ""
		for _, l := range linked {
			also += ", " + l.Name
		}
		return fmt.Errorf("imports %s.%s, which this host does not provide; plugins may import only %s, %s and %s%s",
			mod, name, abi.ExtismModule, abi.HostModule, wasi_snapshot_preview1.ModuleName, also)
	}
	return nil
}

func linkedIndex(linked []*linkedModule, name string) int {
	for i, l := range linked {
		if l.Name == name {
			return i
		}
	}
	return -1
}
