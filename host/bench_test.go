package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	extism "github.com/extism/go-sdk"

	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
	_ "taskhost.dev/plugins/core/basic_operations/tasks"
	"taskhost.dev/sdk"
)

// input200 is a 200-byte JSON task input.
var input200 = func() []byte {
	b := []byte(`{"text":"` + strings.Repeat("lorem ipsum ", 16) + `"}`)
	for len(b) < 200 {
		b = []byte(strings.Replace(string(b), `"}`, `x"}`, 1))
	}
	return b
}()

// addInput is the core add task's input.
var addInput = []byte(`{"a":1,"b":2}`)

// timed runs fn b.N times and reports the median call time as p50-ns.
func timed(b *testing.B, fn func() error) {
	b.Helper()
	durs := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		durs = append(durs, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
}

// nativeUppercase is the uppercase task written as a plain Go function.
func nativeUppercase(in []byte) ([]byte, error) {
	var v struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(in, &v); err != nil {
		return nil, err
	}
	v.Text = strings.ToUpper(v.Text)
	return json.Marshal(v)
}

// BenchmarkCall compares, for a 200-byte JSON task on a warm instance: the
// task as native Go, through the host (pooled, with its timeout armed), and
// through Extism's go-sdk (a warm instance, with a timeout) on the same
// module: the Go core plugin (echo, uppercase, and add on {"a":1,"b":2},
// whose native row runs the plugin's own task code with sdk.Call) and a
// small C plugin (echo).
// Run with: go test ./host -run '^$' -bench BenchmarkCall
func BenchmarkCall(b *testing.B) {
	ctx := context.Background()
	modules := map[string]string{"go": testplugins.Build(b, "plugins/core/basic_operations")}
	if c, err := testplugins.BuildC("host/testdata/c_echo/echo.c"); err == nil {
		modules["c"] = c
	} else {
		b.Logf("no C guest: %v", err)
	}
	modules["rust"] = filepath.Join(testplugins.ExtismWasmDir(b), "count_vowels.wasm")
	// The Rust plugin (Extism's Rust PDK) takes text: the host's input is a
	// JSON string, go-sdk's the raw text.
	text200 := strings.Repeat("lorem ipsum dolor sit amet ", 8)[:200]
	textJSON, _ := json.Marshal(text200)
	for _, c := range []struct{ lang, task string }{{"go", "echo"}, {"go", "uppercase"}, {"go", "add"}, {"c", "echo"}, {"rust", "count_vowels"}} {
		wasm, ok := modules[c.lang]
		if !ok {
			continue
		}
		in, sdkIn, extra := input200, input200, ""
		if c.task == "add" {
			in, sdkIn = addInput, addInput
		}
		if c.lang == "rust" {
			in, sdkIn, extra = textJSON, []byte(text200), "input = \"text\"\n"
		}
		manifest := filepath.Join(b.TempDir(), "manifest.toml")
		os.WriteFile(manifest, []byte(fmt.Sprintf("[[plugin]]\nname = \"p\"\npath = %q\n[[plugin.task]]\nname = %q\n%s", wasm, c.task, extra)), 0o644)
		h, err := host.Load(ctx, host.Config{Manifest: manifest, CacheDir: benchCache(b)})
		if err != nil {
			b.Fatal(err)
		}
		compiled, err := extism.NewCompiledPlugin(ctx, extism.Manifest{Wasm: []extism.Wasm{extism.WasmFile{Path: wasm}}, Timeout: 60_000},
			extism.PluginConfig{EnableWasi: true}, nil)
		if err != nil {
			b.Fatal(err)
		}
		ref, err := compiled.Instance(ctx, extism.PluginInstanceConfig{})
		if err != nil {
			b.Fatal(err)
		}
		t, _ := h.Task(c.task)
		want, err := t.Run(ctx, in, host.Invocation{})
		if err != nil {
			b.Fatal(err)
		}
		name := c.lang + "-" + c.task
		b.Run(name+"/native", func(b *testing.B) {
			timed(b, func() error {
				switch c.task {
				case "count_vowels":
					n := 0
					for _, r := range text200 {
						if strings.ContainsRune("aeiouAEIOU", r) {
							n++
						}
					}
					_, err := json.Marshal(map[string]any{"count": n, "total": n, "vowels": "aeiouAEIOU"})
					return err
				case "add":
					_, err := sdk.Call("add", addInput)
					return err
				case "echo":
					if !json.Valid(input200) {
						return fmt.Errorf("invalid")
					}
					_ = append([]byte(nil), input200...)
					return nil
				}
				_, err := nativeUppercase(input200)
				return err
			})
		})
		b.Run(name+"/host", func(b *testing.B) {
			timed(b, func() error {
				_, err := t.Run(ctx, in, host.Invocation{ID: "bench"})
				return err
			})
		})
		b.Run(name+"/extism-go-sdk", func(b *testing.B) {
			timed(b, func() error {
				_, out, err := ref.Call(c.task, sdkIn)
				exp := want
				if c.task == "count_vowels" {
					// Its "total" counts calls per instance; compare the count.
					var g, w struct{ Count int }
					json.Unmarshal(out, &g)
					json.Unmarshal(want, &w)
					out, exp = []byte(fmt.Sprint(g.Count)), []byte(fmt.Sprint(w.Count))
				}
				if err == nil && string(out) != string(exp) {
					err = fmt.Errorf("go-sdk gave %s, want %s", out, exp)
				}
				return err
			})
		})
		ref.Close(ctx)
		compiled.Close(ctx)
		h.Close(ctx)
	}
}

// BenchmarkFreshInstance measures isolation = "fresh": a new instance per
// task. Run with: go test ./host -run '^$' -bench BenchmarkFreshInstance
func BenchmarkFreshInstance(b *testing.B) {
	ctx := context.Background()
	plugins := map[string]string{"go": testplugins.Build(b, "plugins/core/basic_operations")}
	if c, err := testplugins.BuildC("host/testdata/c_echo/echo.c"); err == nil {
		plugins["c"] = c
	} else {
		b.Logf("no C guest: %v", err)
	}
	for _, lang := range []string{"c", "go"} {
		wasm, ok := plugins[lang]
		if !ok {
			continue
		}
		manifest := filepath.Join(b.TempDir(), "manifest.toml")
		os.WriteFile(manifest, []byte(fmt.Sprintf("[[plugin]]\nname = \"p\"\npath = %q\n[plugin.limits]\nisolation = \"fresh\"\nmax_memory = \"16MiB\"\n[[plugin.task]]\nname = \"echo\"\n", wasm)), 0o644)
		h, err := host.Load(ctx, host.Config{Manifest: manifest, CacheDir: benchCache(b)})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(lang, func(b *testing.B) {
			timed(b, func() error {
				_, err := h.Run(ctx, "echo", input200, host.Invocation{})
				return err
			})
		})
		h.Close(ctx)
	}
}

// BenchmarkLoad measures loading a Go plugin (compile, instantiate, read
// metadata) with a cold and with a warm compilation cache.
// Run with: go test ./host -run '^$' -bench BenchmarkLoad -benchtime 5x
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	wasm := testplugins.Build(b, "plugins/core/basic_operations")
	dir := b.TempDir()
	if err := os.Symlink(wasm, filepath.Join(dir, "basic_operations.wasm")); err != nil {
		b.Fatal(err)
	}
	warm := b.TempDir()
	if h, err := host.Load(ctx, host.Config{PluginsDir: dir, CacheDir: warm}); err == nil {
		h.Close(ctx)
	}
	for _, c := range []struct{ name, cache string }{{"no-cache", "off"}, {"warm-cache", warm}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				h, err := host.Load(ctx, host.Config{PluginsDir: dir, CacheDir: c.cache})
				if err != nil {
					b.Fatal(err)
				}
				h.Close(ctx)
			}
		})
	}
}

func benchCache(b *testing.B) string {
	d := filepath.Join(os.TempDir(), "taskhost-bench-cache")
	os.MkdirAll(d, 0o755)
	return d
}
