package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/internal/testplugins"
)

// TestInitPlugin: a plugin made by host init, outside the repository,
// passes its own test, builds, and runs in the sandbox.
func TestInitPlugin(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runHost(t, "init", "plugin", "greet", "--dir", dir, "--sdk", testplugins.Root(t))
	if code != 0 {
		t.Fatalf("host init: exit %d\n%s%s", code, out, errOut)
	}
	pdir := filepath.Join(dir, "greet")
	for _, c := range [][]string{{"go", "test", "./..."}, {"make", "build"}} {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Dir = pdir
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s in the new plugin: %v\n%s", strings.Join(c, " "), err, b)
		}
	}
	plugins := filepath.Join(dir, "plugins")
	os.MkdirAll(plugins, 0o755)
	os.Rename(filepath.Join(pdir, "greet.wasm"), filepath.Join(plugins, "greet.wasm"))
	code, out, errOut = runHost(t, "run", "greet", `{"name":"ann"}`, "--plugins-dir", plugins, "--manifest", emptyManifest(t), "--cache-dir", "off")
	if code != 0 || !strings.Contains(out, `{"greeting":"hello, ann"}`) {
		t.Errorf("host run of the new plugin: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runHost(t, "init", "plugin", "Bad-Name", "--dir", dir); code != 2 || !strings.Contains(errOut, "lower-case letters") {
		t.Errorf("a bad plugin name: exit %d, %s", code, errOut)
	}
	if code, _, errOut := runHost(t, "init", "plugin", "greet", "--dir", dir, "--sdk", testplugins.Root(t)); code != 1 || !strings.Contains(errOut, "exists already") {
		t.Errorf("a plugin folder that exists: exit %d, %s", code, errOut)
	}
}
