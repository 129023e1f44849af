package host_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/host"
	"taskhost.dev/host/bundle"
	"taskhost.dev/internal/testplugins"
)

// TestLoadBundle loads a signed bundle of the core data_processing plugin
// (with a workflow) from a bundles folder, and refuses it with another key.
func TestLoadBundle(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	copyFile(t, filepath.Join(testplugins.Core(t), "data_processing.wasm"), filepath.Join(src, "dp.wasm"))
	manifest := filepath.Join(src, "manifest.toml")
	os.WriteFile(manifest, []byte(`
[[plugin]]
name = "bundled_dp"
path = "dp.wasm"
[plugin.limits]
timeout = "7s"
[[workflow]]
name = "hash_words"
[[workflow.step]]
parallel = [{ task = "sha256" }, { task = "word_count" }]
`), 0o644)
	pub, priv, _ := bundle.GenerateKey()
	var buf bytes.Buffer
	if err := bundle.Build(&buf, manifest, priv); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "enterprise"+host.BundleExt), buf.Bytes(), 0o644)

	h, err := host.Load(ctx, host.Config{BundlesDir: dir, BundleKeys: []ed25519.PublicKey{pub}, CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	task, ok := h.Task("sha256")
	if !ok || task.Plugin.Name != "bundled_dp" || task.Timeout.String() != "7s" {
		t.Fatalf("sha256 from the bundle: %+v", task)
	}
	if out, err := task.Run(ctx, []byte(`{"text":"abc"}`), host.Invocation{}); err != nil || !strings.Contains(string(out), "ba7816bf") {
		t.Fatalf("sha256: %s, %v", out, err)
	}
	if _, ok := h.Workflow("hash_words"); !ok {
		t.Error("the bundle's workflow is missing")
	}

	// The same bundle held in memory, as one embedded in the binary.
	h2, err := host.Load(ctx, host.Config{BundleBytes: map[string][]byte{"embedded": buf.Bytes()}, BundleKeys: []ed25519.PublicKey{pub}, CacheDir: cacheDir(t)})
	if err != nil {
		t.Fatalf("a bundle from memory: %v", err)
	}
	if _, ok := h2.Task("word_count"); !ok {
		t.Error("word_count missing from the in-memory bundle")
	}
	h2.Close(ctx)

	other, _, _ := bundle.GenerateKey()
	_, err = host.Load(ctx, host.Config{Bundles: []string{filepath.Join(dir, "enterprise"+host.BundleExt)}, BundleKeys: []ed25519.PublicKey{other}, CacheDir: cacheDir(t)})
	if err == nil || !strings.Contains(err.Error(), "does not check against any trusted key") {
		t.Errorf("a bundle signed by an untrusted key: %v", err)
	}
	_, err = host.Load(ctx, host.Config{BundlesDir: dir, CacheDir: cacheDir(t)})
	if err == nil || !strings.Contains(err.Error(), "no trusted bundle key") {
		t.Errorf("a bundle with no key configured: %v", err)
	}
}
