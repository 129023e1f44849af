package host_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/host"
)

// TestPinManifestKeepsLayout: pinning changes the digest values and
// nothing else of the file, byte for byte: comments, spacing and a value
// written over several lines included.
func TestPinManifestKeepsLayout(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.wasm", "b.wasm", "c.wasm"} {
		os.WriteFile(filepath.Join(dir, f), []byte("module "+f), 0o644)
	}
	sum := func(f string) string {
		s := sha256.Sum256([]byte("module " + f))
		return hex.EncodeToString(s[:])
	}
	old := strings.Repeat("0", 64)
	text := "# top\n[[plugin]]\nname = \"a\"   # a comment, with \"quotes\" and ]\npath = \"a.wasm\" # where\n\n[[plugin]]\nname = \"b\"\npath = [\n  \"a.wasm\",   # lib\n  \"b.wasm\",\n]\nsha256 = [\n  \"" + old + "\",\n  \"" + old + "\",  # keep?\n]\n[plugin.limits]\ntimeout = \"5s\"\n\n[[plugin]]\npath = \"c.wasm\"\nsha256 = \"" + old + "\" # stale\n"
	manifest := filepath.Join(dir, "m.toml")
	os.WriteFile(manifest, []byte(text), 0o644)
	changed, err := host.PinManifest(manifest)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(changed, ",") != "a,b,c.wasm" {
		t.Errorf("changed %v, want a, b and c.wasm", changed)
	}
	got, _ := os.ReadFile(manifest)
	want := "# top\n[[plugin]]\nname = \"a\"   # a comment, with \"quotes\" and ]\npath = \"a.wasm\" # where\nsha256 = \"" + sum("a.wasm") + "\"\n\n[[plugin]]\nname = \"b\"\npath = [\n  \"a.wasm\",   # lib\n  \"b.wasm\",\n]\nsha256 = [\"" + sum("a.wasm") + "\", \"" + sum("b.wasm") + "\"]\n[plugin.limits]\ntimeout = \"5s\"\n\n[[plugin]]\npath = \"c.wasm\"\nsha256 = \"" + sum("c.wasm") + "\" # stale\n"
	if string(got) != want {
		t.Errorf("pinned manifest:\n%s\nwant:\n%s", got, want)
	}
	if changed, err := host.PinManifest(manifest); err != nil || len(changed) != 0 {
		t.Errorf("a second pin: %v, %v; want nothing changed", changed, err)
	}
}
