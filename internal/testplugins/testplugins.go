// Package testplugins builds Go plugins for tests, so that a test never runs
// a stale .wasm file.
package testplugins

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string]string{}
	dir   string
)

// Root returns the module's root folder.
func Root(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// Build compiles the Go plugin package pkg (a path relative to the module
// root, such as "plugins/core/basic_operations") for wasip1 and returns the
// .wasm file's path. Each package is built once per test process.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	return build(t, pkg, "-buildmode=c-shared")
}

// BuildCommand compiles the Go main package pkg for wasip1 as a WASI
// command (its entry point is _start) and returns the .wasm file's path.
func BuildCommand(t testing.TB, pkg string) string {
	t.Helper()
	return build(t, pkg, "-buildmode=exe")
}

func build(t testing.TB, pkg, mode string) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	key := pkg + " " + mode
	if p, ok := built[key]; ok {
		return p
	}
	if dir == "" {
		d, err := os.MkdirTemp("", "taskhost-testplugins-")
		if err != nil {
			t.Fatal(err)
		}
		dir = d
	}
	name := strings.ReplaceAll(pkg, "/", "_")
	if mode != "-buildmode=c-shared" {
		name += "_" + strings.TrimPrefix(mode, "-buildmode=")
	}
	out := filepath.Join(dir, name+".wasm")
	cmd := exec.Command("go", "build", mode, "-trimpath", "-ldflags=-s -w", "-o", out, "./"+pkg)
	cmd.Dir = Root(t)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building plugin %s: %v\n%s", pkg, err, b)
	}
	built[key] = out
	return out
}

// Core builds the three core plugins into one folder and returns it.
func Core(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{"basic_operations", "data_processing", "system_tasks"} {
		src := Build(t, "plugins/core/"+p)
		if err := os.Symlink(src, filepath.Join(d, p+".wasm")); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// ExtismWasmDir returns the wasm/ folder of the github.com/extism/go-sdk
// module, which holds Extism's own prebuilt plugins.
func ExtismWasmDir(t testing.TB) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/extism/go-sdk")
	cmd.Dir = Root(t)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("locating github.com/extism/go-sdk: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "wasm")
}

// BuildC compiles a freestanding C plugin (src relative to the module root)
// with clang for wasm32, or returns an error when clang or wasm-ld is
// missing (apt-get install clang lld).
func BuildC(src string) (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[src]; ok {
		return p, nil
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "taskhost-testplugins-"); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, strings.ReplaceAll(src, "/", "_")+".wasm")
	cmd := exec.Command("clang", "--target=wasm32", "-O2", "-nostdlib", "-Wl,--no-entry", "-Wl,--export-dynamic", "-o", out, src)
	cmd.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("clang: %v: %s", err, b)
	}
	built[src] = out
	return out, nil
}

// CoreDir builds the core plugins into a new folder and returns it; it
// panics on failure. Examples use it, as they have no testing.T.
func CoreDir() string {
	d, err := os.MkdirTemp("", "taskhost-core-")
	if err != nil {
		panic(err)
	}
	for _, p := range []string{"basic_operations", "data_processing", "system_tasks"} {
		src := Build(panicTB{}, "plugins/core/"+p)
		if err := os.Symlink(src, filepath.Join(d, p+".wasm")); err != nil {
			panic(err)
		}
	}
	return d
}

// panicTB is a testing.TB whose failures panic.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                           {}
func (panicTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (panicTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
