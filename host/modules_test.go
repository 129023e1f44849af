package host_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/host"
	"taskhost.dev/host/bundle"
	"taskhost.dev/internal/testplugins"
)

// linkedManifest writes a manifest of go-sdk's lib.wasm + main.wasm, copied
// beside it, with extra after path, and returns its path.
func linkedManifest(t *testing.T, extra string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"lib.wasm", "main.wasm"} {
		copyFile(t, filepath.Join(testplugins.ExtismWasmDir(t), f), filepath.Join(dir, f))
	}
	manifest := filepath.Join(dir, "manifest.toml")
	text := `# linked modules
[[plugin]]
name = "linked"
path = [
  "lib.wasm",   # linked as "lib"
  "main.wasm",
]
` + extra + `
[[plugin.task]]
name = "capitalize"
function = "run_test"
input = "text"
output = "text"
`
	if err := os.WriteFile(manifest, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return manifest
}

func runCapitalize(t *testing.T, h *host.Host) {
	t.Helper()
	out, err := h.Run(context.Background(), "capitalize", []byte(`"benjamin"`), host.Invocation{})
	if err != nil || string(out) != `"Hello, BENJAMIN"` {
		t.Fatalf("capitalize = %s, %v", out, err)
	}
}

// TestPluginMultiModulePin: PinManifest writes one digest per module, in
// path order, replacing a stale list written over several lines; the pinned
// manifest loads, and a second pin changes nothing.
func TestPluginMultiModulePin(t *testing.T) {
	stale := strings.Repeat("0", 64)
	manifest := linkedManifest(t, fmt.Sprintf("sha256 = [\n  %q,\n  %q,\n]\n", stale, stale))
	changed, err := host.PinManifest(manifest)
	if err != nil || len(changed) != 1 || changed[0] != "linked" {
		t.Fatalf("PinManifest = %v, %v; want [linked]", changed, err)
	}
	b, _ := os.ReadFile(manifest)
	dir := filepath.Dir(manifest)
	want := fmt.Sprintf("sha256 = [%q, %q]", digest(t, filepath.Join(dir, "lib.wasm")), digest(t, filepath.Join(dir, "main.wasm")))
	if !strings.Contains(string(b), want) || strings.Contains(string(b), stale) || !strings.Contains(string(b), `# linked as "lib"`) {
		t.Fatalf("pinned manifest:\n%s\nwant %s, the comments kept", b, want)
	}
	if changed, err := host.PinManifest(manifest); err != nil || len(changed) != 0 {
		t.Errorf("second PinManifest = %v, %v; want no change", changed, err)
	}
	runCapitalize(t, loadCore(t, host.Config{Manifest: manifest, PluginsDir: t.TempDir()}))

	// No sha256 yet: the key is added after the whole path array.
	manifest = linkedManifest(t, "")
	if _, err := host.PinManifest(manifest); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(manifest); !strings.Contains(string(b), "  \"main.wasm\",\n]\n"+want+"\n") {
		t.Fatalf("pinned manifest:\n%s", b)
	}
	runCapitalize(t, loadCore(t, host.Config{Manifest: manifest, PluginsDir: t.TempDir()}))
}

// TestPluginMultiModuleBundle: a bundle carries every module of a
// multi-module plugin, each pinned.
func TestPluginMultiModuleBundle(t *testing.T) {
	pub, priv, _ := bundle.GenerateKey()
	var buf bytes.Buffer
	if err := bundle.Build(&buf, linkedManifest(t, ""), priv); err != nil {
		t.Fatal(err)
	}
	h := loadCore(t, host.Config{BundleBytes: map[string][]byte{"linked": buf.Bytes()}, BundleKeys: []ed25519.PublicKey{pub}, PluginsDir: t.TempDir()})
	runCapitalize(t, h)
	if p := h.Plugins()[0]; len(p.Linked) != 1 || p.Linked[0].Name != "lib" {
		t.Errorf("the bundled plugin links %+v; want lib", p.Linked)
	}
}
