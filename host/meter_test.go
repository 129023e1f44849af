package host_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/host"
	"taskhost.dev/internal/wasmtest"
)

// spinTimeout is the timeout of the spinning guests below, and
// spinBound the bound on when a guest must be stopped: its
// timeout plus 50 ms. A metered guest yields every few tens of
// microseconds, so a stopped call overruns its timeout by well under a
// millisecond on an idle machine; the 50 ms are the slack for a loaded
// 2-core one.
const (
	spinTimeout = 300 * time.Millisecond
	spinBound   = spinTimeout + 50*time.Millisecond
)

// loadModule loads wasm as the one plugin of a host, with a task "spin"
// (function spin) and a 300 ms timeout.
func loadModule(t *testing.T, wasm []byte, cache string) (*host.Host, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "guest.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "guest"
path = %q
[plugin.limits]
timeout = %q
[[plugin.task]]
name = "spin"
`, path, spinTimeout))
	h, err := host.Load(context.Background(), host.Config{Manifest: manifest, PluginsDir: t.TempDir(), CacheDir: cache})
	if err == nil {
		t.Cleanup(func() { h.Close(context.Background()) })
	}
	return h, err
}

// TestTimeoutStopsEveryShape: a guest that never ends is stopped within
// its timeout + 50 ms, whatever the shape of its loop or calls; one that
// spins in its start function is refused at load within the same bound;
// one that needs tail calls, which this host does not enable, is refused.
func TestTimeoutStopsEveryShape(t *testing.T) {
	ctx := context.Background()
	for _, s := range wasmtest.Spinners() {
		t.Run(s.Shape, func(t *testing.T) {
			start := time.Now()
			h, err := loadModule(t, s.Wasm, cacheDir(t))
			took := time.Since(start)
			t.Logf("load: %v (%s)", err, took.Round(time.Millisecond))
			switch {
			case s.Feature != "":
				if err == nil || !strings.Contains(err.Error(), s.Feature) || !strings.Contains(err.Error(), "not a valid WebAssembly module") {
					t.Fatalf("load: %v, want the module refused as needing %s", err, s.Feature)
				}
				return
			case s.Shape == "start":
				if err == nil || !strings.Contains(err.Error(), "its start function ran past the plugin's timeout of 300ms") {
					t.Fatalf("load: %v, want the start function stopped at its timeout", err)
				}
				if took > spinBound {
					t.Errorf("load took %s, want within %s", took, spinBound)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			for range 2 { // a fresh instance after the first, stopped, one
				start := time.Now()
				_, err := h.Run(ctx, "spin", []byte(`{}`), host.Invocation{})
				took := time.Since(start)
				te, ok := host.AsTaskError(err)
				if !ok || te.Kind != abi.KindTimeout || !strings.Contains(te.Message, "timeout of 300ms") {
					t.Fatalf("got %v, want a timeout of 300ms", err)
				}
				t.Logf("stopped after %s", took.Round(100*time.Microsecond))
				if took > spinBound {
					t.Errorf("stopped after %s, want within %s", took, spinBound)
				}
			}
		})
	}
}

// TestLoadRefusesInvalidModule: issue 14's escape, a module that uses a
// global it does not declare to refill the meter's fuel, is refused at
// load, with and without the compilation cache; so is one that wazero's
// validator panics on. Before, the first loaded, and its task ignored its
// timeout and SIGTERM; the second crashed the host.
func TestLoadRefusesInvalidModule(t *testing.T) {
	cache := t.TempDir()
	for _, c := range []struct {
		name, cache string
		wasm        []byte
		want        string
	}{
		{"fuel refill, no cache", "off", wasmtest.FuelRefill(), "global index"},
		{"fuel refill, cache", cache, wasmtest.FuelRefill(), "global index"},
		{"fuel refill, cache again", cache, wasmtest.FuelRefill(), "global index"},
		{"validator panic", "off", wasmtest.TypeIndexPanic(), "wazero's validator failed on it: runtime error: index out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadModule(t, c.wasm, c.cache)
			if err == nil {
				t.Fatal("the module was accepted")
			}
			for _, want := range []string{`plugin "guest": not a valid WebAssembly module: `, c.want, "valid on their own"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q, want it to say %q", err, want)
				}
			}
			if files, _ := filepath.Glob(filepath.Join(c.cache, "metered", "*")); len(files) > 0 {
				t.Errorf("a rewrite of the invalid module was cached: %v", files)
			}
		})
	}
}

// TestMeteredModuleCached: the rewrite of a valid module is kept beside
// the compilation cache, under the meter's version, and the next load
// uses it.
func TestMeteredModuleCached(t *testing.T) {
	cache := t.TempDir()
	wasm := wasmtest.Spinners()[0].Wasm
	if _, err := loadModule(t, wasm, cache); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(cache, "metered", "*-v3-*.wasm"))
	if len(files) != 1 {
		t.Fatalf("metered modules in the cache: %v, want one", files)
	}
	// What the next load finds there is what it runs: a file that is not
	// a module makes it fail, which shows it was read.
	if err := os.WriteFile(files[0], []byte("not wasm"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadModule(t, wasm, cache); err == nil || !strings.Contains(err.Error(), "compiling") {
		t.Fatalf("load with a damaged cache entry: %v, want a compile error", err)
	}
}
