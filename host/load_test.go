package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

func writeManifest(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "manifest.toml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func digest(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestLoadRefuses(t *testing.T) {
	basic := testplugins.Build(t, "plugins/core/basic_operations")
	badabi := testplugins.Build(t, "host/testdata/badabi")
	sum := digest(t, basic)
	wrong := strings.Repeat("ab", 32)
	cases := []struct {
		name     string
		manifest string
		want     []string
	}{
		{"sha256 mismatch", fmt.Sprintf("[[plugin]]\nname = \"basic\"\npath = %q\nsha256 = %q\n", basic, wrong),
			[]string{"manifest.toml:1:", `plugin "basic"`, "sha256 mismatch", "file has " + sum, "manifest says " + wrong, "make plugins"}},
		{"unknown ABI version", fmt.Sprintf("[[plugin]]\npath = %q\n", badabi),
			[]string{"ABI version 99", "this host speaks 1"}},
		{"missing file", "[[plugin]]\nname = \"gone\"\npath = \"nowhere/gone.wasm\"\n",
			[]string{"manifest.toml:1:", `plugin "gone"`, "cannot read the module", "make plugins"}},
		{"duplicate task across plugins", fmt.Sprintf("[[plugin]]\nname = \"a\"\npath = %q\n\n[[plugin]]\nname = \"b\"\npath = %q\n", basic, basic),
			[]string{`task "add" is served by plugin "a"`, `and by plugin "b"`}},
		{"function not exported", fmt.Sprintf("[[plugin]]\nname = \"basic\"\npath = %q\n[[plugin.task]]\nname = \"extra\"\nfunction = \"no_such_export\"\n", basic),
			[]string{`task "extra"`, `exports no function "no_such_export"`}},
		{"allowed path missing", fmt.Sprintf("[[plugin]]\nname = \"basic\"\npath = %q\n[plugin.capabilities]\nallowed_paths = [\"/no/such/dir\"]\n", basic),
			[]string{"/no/such/dir is not a folder"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := host.Load(context.Background(), host.Config{Manifest: writeManifest(t, c.manifest), CacheDir: cacheDir(t)})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDropInWithoutMetadataIsRefused(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(testplugins.ExtismWasmDir(t), "count_vowels.wasm")
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "count_vowels.wasm"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = host.Load(context.Background(), host.Config{PluginsDir: dir, CacheDir: cacheDir(t)})
	if err == nil || !strings.Contains(err.Error(), "no taskhost_meta export and no manifest entry") {
		t.Fatalf("got %v", err)
	}
}

func TestAllowedPathsAndHosts(t *testing.T) {
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "hello.txt"), []byte("hello from the host"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "served %s", r.URL.Path)
	}))
	defer srv.Close()
	h := loadHostile(t, fmt.Sprintf("allowed_paths = [%q]\n", data+":/data"))
	ctx := context.Background()

	out, err := h.Run(ctx, "readfile", []byte(`{"path":"/data/hello.txt"}`), host.Invocation{})
	if err != nil || string(out) != `"hello from the host"` {
		t.Fatalf("reading an allowed path: %s, %v", out, err)
	}
	// The mount is read-only and nothing else is visible.
	if _, err := h.Run(ctx, "readfile", []byte(`{"path":"/tmp/x"}`), host.Invocation{}); err == nil {
		t.Fatal("reading outside the allowed path succeeded")
	}
	out, err = h.Run(ctx, "http", []byte(fmt.Sprintf(`{"url":%q}`, srv.URL+"/ok")), host.Invocation{})
	if err != nil || string(out) != `{"status":200,"body":"served /ok"}` {
		t.Fatalf("HTTP to an allowed host: %s, %v", out, err)
	}
}
