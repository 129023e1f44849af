package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	extism "github.com/extism/go-sdk"

	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

// extismPlugin runs a plugin with Extism's own go-sdk: the reference that
// the host's implementation of the Extism ABI must agree with.
func extismPlugin(t testing.TB, path string, config map[string]string) *extism.Plugin {
	t.Helper()
	ctx := context.Background()
	m := extism.Manifest{Wasm: []extism.Wasm{extism.WasmFile{Path: path}}, Config: config}
	p, err := extism.NewPlugin(ctx, m, extism.PluginConfig{EnableWasi: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

// TestExtismPrebuiltPlugins runs Extism's own prebuilt plugins, unmodified,
// as tasks from a manifest, and checks that the outputs equal go-sdk's.
func TestExtismPrebuiltPlugins(t *testing.T) {
	dir := testplugins.ExtismWasmDir(t)
	vowels := filepath.Join(dir, "count_vowels.wasm")
	haskell := filepath.Join(dir, "hello_haskell.wasm")
	manifest := writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "count_vowels"
path = %q
[[plugin.task]]
name = "count_vowels"
input = "text"

[[plugin]]
name = "hello_haskell"
path = %q
[plugin.config]
greeting = "Howdy"
[[plugin.task]]
name = "hello"
function = "testing"
input = "text"
output = "text"
`, vowels, haskell))
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{Manifest: manifest, CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)

	refVowels := extismPlugin(t, vowels, nil)
	refHaskell := extismPlugin(t, haskell, map[string]string{"greeting": "Howdy"})
	cases := []struct {
		task, fn string
		ref      *extism.Plugin
		input    string
		want     string
	}{
		{"count_vowels", "count_vowels", refVowels, "hello world", `{"count":3,"total":3,"vowels":"aeiouAEIOU"}`},
		{"count_vowels", "count_vowels", refVowels, "aaaaaa", `{"count":6,"total":9,"vowels":"aeiouAEIOU"}`},
		{"hello", "testing", refHaskell, "John", `"Howdy, John"`},
	}
	for _, c := range cases {
		in, _ := json.Marshal(c.input)
		got, err := h.Run(ctx, c.task, in, host.Invocation{})
		if err != nil {
			t.Fatalf("%s(%q): %v", c.task, c.input, err)
		}
		_, refOut, err := c.ref.Call(c.fn, []byte(c.input))
		if err != nil {
			t.Fatalf("go-sdk %s(%q): %v", c.fn, c.input, err)
		}
		if c.task == "hello" {
			refOut, _ = json.Marshal(string(refOut))
		}
		if string(got) != string(refOut) {
			t.Errorf("%s(%q) = %s; go-sdk gives %s", c.task, c.input, got, refOut)
		}
		if string(got) != c.want {
			t.Errorf("%s(%q) = %s, want %s", c.task, c.input, got, c.want)
		}
	}
}

// TestSameOutputsAsGoSDK runs the core plugins through the host and through
// go-sdk and compares the outputs.
func TestSameOutputsAsGoSDK(t *testing.T) {
	ctx := context.Background()
	core := testplugins.Core(t)
	h, err := host.Load(ctx, host.Config{PluginsDir: core, CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	cases := []struct{ plugin, task, input string }{
		{"basic_operations", "echo", `{"hello":"world","n":[1,2,3]}`},
		{"basic_operations", "add", `{"a":2,"b":3}`},
		{"basic_operations", "uppercase", `{"text":"hi there"}`},
		{"data_processing", "word_count", `{"text":"the cat and the hat"}`},
		{"data_processing", "csv_to_json", `{"csv":"name,age\nann,3\nbob,4\n"}`},
		{"data_processing", "select_fields", `{"records":[{"a":1,"b":2,"c":3}],"fields":["c","a"],"rename":{"a":"x"}}`},
		{"data_processing", "sha256", `{"text":"abc"}`},
	}
	refs := map[string]*extism.Plugin{}
	for _, c := range cases {
		ref, ok := refs[c.plugin]
		if !ok {
			ref = extismPlugin(t, filepath.Join(core, c.plugin+".wasm"), nil)
			refs[c.plugin] = ref
		}
		got, err := h.Run(ctx, c.task, []byte(c.input), host.Invocation{})
		if err != nil {
			t.Fatalf("%s: %v", c.task, err)
		}
		_, want, err := ref.Call(c.task, []byte(c.input))
		if err != nil {
			t.Fatalf("go-sdk %s: %v", c.task, err)
		}
		if string(got) != string(want) {
			t.Errorf("%s(%s) = %s; go-sdk gives %s", c.task, c.input, got, want)
		}
	}
}

// TestPluginVarsPreset runs go-sdk's var.wasm, which doubles the 4-byte
// little-endian var "a" and outputs its old value: [plugin.vars] presets it
// in every new instance, and what the plugin sets lives as long as the
// instance (a pooled instance keeps it, a fresh one starts again).
func TestPluginVarsPreset(t *testing.T) {
	vars := filepath.Join(testplugins.ExtismWasmDir(t), "var.wasm")
	manifest := writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "vars_pooled"
path = %[1]q
[plugin.limits]
pool_size = 1
[plugin.vars]
a = "\n\u0000\u0000\u0000"
[[plugin.task]]
name = "double_pooled"
function = "run_test"
output = "text"

[[plugin]]
name = "vars_fresh"
path = %[1]q
[plugin.limits]
isolation = "fresh"
[plugin.vars]
a = "\n\u0000\u0000\u0000"
[[plugin.task]]
name = "double_fresh"
function = "run_test"
output = "text"
`, vars))
	h := loadCore(t, host.Config{Manifest: manifest, PluginsDir: t.TempDir()})
	ctx := context.Background()
	for _, c := range []struct{ task, want string }{
		{"double_pooled", `"a: 10"`}, {"double_pooled", `"a: 20"`}, {"double_pooled", `"a: 40"`},
		{"double_fresh", `"a: 10"`}, {"double_fresh", `"a: 10"`},
	} {
		got, err := h.Run(ctx, c.task, []byte(`{}`), host.Invocation{})
		if err != nil || string(got) != c.want {
			t.Errorf("%s = %s, %v; want %s", c.task, got, err, c.want)
		}
	}
}

// TestPluginMultiModule runs go-sdk's module-linking test plugins: main.wasm
// imports capitalize from the module "lib", which path links from lib.wasm.
// Each instance has its own lib; the digests pin both files.
func TestPluginMultiModule(t *testing.T) {
	dir := testplugins.ExtismWasmDir(t)
	lib, main := filepath.Join(dir, "lib.wasm"), filepath.Join(dir, "main.wasm")
	ref, err := extism.NewPlugin(context.Background(), extism.Manifest{Wasm: []extism.Wasm{
		extism.WasmFile{Path: lib, Name: "lib"}, extism.WasmFile{Path: main, Name: "main"}}}, extism.PluginConfig{EnableWasi: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close(context.Background())
	_, want, err := ref.Call("run_test", []byte("benjamin"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "linked"
path = [%q, %q]
sha256 = [%q, %q]
[[plugin.task]]
name = "capitalize"
function = "run_test"
input = "text"
output = "text"

[[plugin]]
name = "linked_fresh"
path = [%[1]q, %[2]q]
[plugin.limits]
isolation = "fresh"
[[plugin.task]]
name = "capitalize_fresh"
function = "run_test"
input = "text"
output = "text"
`, lib, main, digest(t, lib), digest(t, main)))
	h := loadCore(t, host.Config{Manifest: manifest, PluginsDir: t.TempDir()})
	wantJSON, _ := json.Marshal(string(want))
	var wg sync.WaitGroup
	for _, task := range []string{"capitalize", "capitalize_fresh"} {
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := h.Run(context.Background(), task, []byte(`"benjamin"`), host.Invocation{})
				if err != nil || string(got) != string(wantJSON) {
					t.Errorf("%s(benjamin) = %s, %v; go-sdk gives %s", task, got, err, wantJSON)
				}
			}()
		}
	}
	wg.Wait()
	if p := h.Plugins()[0]; len(p.Linked) != 1 || p.Linked[0].Name != "lib" || p.Linked[0].SHA256 != digest(t, lib) || p.Path != main {
		t.Errorf("plugin %s: path %s, linked %+v; want main.wasm linking lib", p.Name, p.Path, p.Linked)
	}
}

// TestPluginMultiModuleRefused: a module whose link is missing, a pin that
// does not match one module, and a module named like a host module are
// refused with what to do.
func TestPluginMultiModuleRefused(t *testing.T) {
	dir := testplugins.ExtismWasmDir(t)
	lib, main := filepath.Join(dir, "lib.wasm"), filepath.Join(dir, "main.wasm")
	task := "[[plugin.task]]\nname = \"capitalize\"\nfunction = \"run_test\"\n"
	for _, c := range []struct{ name, plugin, want string }{
		{"lib missing", fmt.Sprintf("path = [%q]\n", main),
			"imports lib.capitalize, which this host does not provide"},
		{"lib pin", fmt.Sprintf("path = [%q, %q]\nsha256 = [%q, %q]\n", lib, main, digest(t, main), digest(t, main)),
			"sha256 mismatch of lib.wasm (file has " + digest(t, lib)},
		{"pin count", fmt.Sprintf("path = [%q, %q]\nsha256 = %q\n", lib, main, digest(t, main)),
			"sha256 lists 1 digests for 2 modules in path"},
		{"host's name", fmt.Sprintf("path = [%q, %q]\n", filepath.Join(t.TempDir(), "wasi_snapshot_preview1.wasm"), main),
			`would be linked as "wasi_snapshot_preview1": that is the WASI module's name`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := host.Load(context.Background(), host.Config{CacheDir: cacheDir(t),
				Manifest: writeManifest(t, "[[plugin]]\nname = \"linked\"\n"+c.plugin+task)})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load = %v; want an error containing %q", err, c.want)
			}
		})
	}
}
