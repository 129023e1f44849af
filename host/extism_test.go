package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
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
