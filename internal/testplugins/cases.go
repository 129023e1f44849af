package testplugins

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/host"
	"taskhost.dev/internal/jsontest"
)

// Case is one task run and the output it must give: task, input, want.
type Case [3]string

// RunCases checks a plugin's tasks both natively (native is the plugin's
// sdk.Call) and through the host on the built module. plugin is a folder
// under plugins/core, or "enterprise/NAME" for one under plugins/enterprise.
func RunCases(t *testing.T, plugin string, native func(task string, input []byte) ([]byte, error), cases []Case) {
	t.Helper()
	dir := t.TempDir()
	pkg := "plugins/core/" + plugin
	if strings.Contains(plugin, "/") {
		pkg = "plugins/" + plugin
	}
	if err := os.Symlink(Build(t, pkg), filepath.Join(dir, filepath.Base(plugin)+".wasm")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{PluginsDir: dir, CacheDir: filepath.Join(os.TempDir(), "taskhost-test-cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, c := range cases {
		task, input, want := c[0], c[1], c[2]
		out, err := native(task, []byte(input))
		if err != nil || !jsontest.Equal(out, want) {
			t.Errorf("native %s(%s) = %s, %v; want %s", task, input, out, err, want)
		}
		out, err = h.Run(ctx, task, []byte(input), host.Invocation{})
		if err != nil || !jsontest.Equal(out, want) {
			t.Errorf("host %s(%s) = %s, %v; want %s", task, input, out, err, want)
		}
	}
}

// Load builds the plugin in the package folder pkg (e.g.
// "plugins/enterprise/llm_tasks") and loads it through the host with the
// given TOML added to its [[plugin]] entry (capabilities, config).
func Load(t *testing.T, pkg, pluginTOML string) *host.Host {
	t.Helper()
	manifest := filepath.Join(t.TempDir(), "manifest.toml")
	text := fmt.Sprintf("[[plugin]]\npath = %q\n%s\n", Build(t, pkg), pluginTOML)
	if err := os.WriteFile(manifest, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{Manifest: manifest, CacheDir: filepath.Join(os.TempDir(), "taskhost-test-cache")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	return h
}
