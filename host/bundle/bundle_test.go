package bundle_test

import (
	"archive/zip"
	"bytes"
	"crypto/ed25519"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/host/bundle"
)

// build makes a bundle of two fake modules and returns its path and key.
func build(t *testing.T) (string, ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.wasm"), []byte("module a"), 0o644)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "b.wasm"), []byte("module b"), 0o644)
	manifest := filepath.Join(dir, "manifest.toml")
	os.WriteFile(manifest, []byte(`
[defaults.limits]
timeout = "5s"
[[plugin]]
path = "a.wasm"
[plugin.limits]
max_memory = "32MiB"
[[plugin]]
name = "bee"
path = "sub/b.wasm"
`), 0o644)
	pub, priv, err := bundle.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "test.tbundle")
	var buf bytes.Buffer
	if err := bundle.Build(&buf, manifest, priv); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(out, buf.Bytes(), 0o644)
	return out, pub, priv
}

func TestBuildOpenExtract(t *testing.T) {
	file, pub, _ := build(t)
	b, err := bundle.Open(file, []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(b.Files(), ","); got != "a.wasm,b.wasm,manifest.toml" {
		t.Errorf("files %s", got)
	}
	m, err := b.Extract(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	text, _ := os.ReadFile(m)
	for _, want := range []string{`path = "a.wasm"`, `path = "b.wasm"`, `sha256 = "`, `name = "bee"`, `max_memory = "32MiB"`, `timeout = "5s"`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("the bundled manifest lacks %s:\n%s", want, text)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(filepath.Dir(m), "b.wasm")); string(got) != "module b" {
		t.Errorf("b.wasm extracted as %q", got)
	}
}

// rewrite copies a bundle, changing entries with edit (nil drops one).
func rewrite(t *testing.T, file string, edit func(name string, body []byte) []byte) string {
	t.Helper()
	zr, err := zip.OpenReader(file)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	out := filepath.Join(t.TempDir(), "edited.tbundle")
	f, _ := os.Create(out)
	zw := zip.NewWriter(f)
	for _, e := range zr.File {
		rc, _ := e.Open()
		body, _ := io.ReadAll(rc)
		rc.Close()
		if body = edit(e.Name, body); body == nil {
			continue
		}
		w, _ := zw.Create(e.Name)
		w.Write(body)
	}
	zw.Close()
	f.Close()
	return out
}

func TestOpenRefuses(t *testing.T) {
	file, pub, _ := build(t)
	other, _, _ := bundle.GenerateKey()
	tampered := rewrite(t, file, func(n string, b []byte) []byte {
		if n == "a.wasm" {
			return []byte("module A")
		}
		return b
	})
	added := rewrite(t, file, func(n string, b []byte) []byte {
		if n == "b.wasm" {
			return append(b, 0)
		}
		return b
	})
	unsigned := rewrite(t, file, func(n string, b []byte) []byte {
		if n == bundle.SignatureName {
			return nil
		}
		return b
	})
	notZip := filepath.Join(t.TempDir(), "x.tbundle")
	os.WriteFile(notZip, []byte("hello"), 0o644)
	for _, c := range []struct {
		name, file string
		keys       []ed25519.PublicKey
		want       string
	}{
		{"no keys", file, nil, "no trusted bundle key is configured"},
		{"another key", file, []ed25519.PublicKey{other}, "does not check against any trusted key"},
		{"tampered module", tampered, []ed25519.PublicKey{pub}, "changed after signing"},
		{"grown module", added, []ed25519.PublicKey{pub}, "changed after signing"},
		{"unsigned", unsigned, []ed25519.PublicKey{pub}, "unsigned"},
		{"not a zip", notZip, []ed25519.PublicKey{pub}, "not a bundle"},
	} {
		_, err := bundle.Open(c.file, c.keys)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.file) {
			t.Errorf("%s: %v, want an error naming the file and saying %q", c.name, err, c.want)
		}
	}
	// Several trusted keys: the right one among them is enough.
	if _, err := bundle.Open(file, []ed25519.PublicKey{other, pub}); err != nil {
		t.Errorf("with the signing key among two: %v", err)
	}
}

func TestKeyFiles(t *testing.T) {
	pub, priv, _ := bundle.GenerateKey()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "k.pub"), []byte(bundle.EncodePublicKey(pub)), 0o644)
	os.WriteFile(filepath.Join(dir, "k.key"), []byte(bundle.EncodePrivateKey(priv)), 0o600)
	if p, err := bundle.ReadPublicKey(filepath.Join(dir, "k.pub")); err != nil || !p.Equal(pub) {
		t.Errorf("public key: %v", err)
	}
	if k, err := bundle.ReadPrivateKey(filepath.Join(dir, "k.key")); err != nil || !k.Equal(priv) {
		t.Errorf("private key: %v", err)
	}
	if _, err := bundle.ReadPublicKey(filepath.Join(dir, "k.key")); err == nil || !strings.Contains(err.Error(), "host bundle keygen") {
		t.Errorf("a private key read as public: %v", err)
	}
}
