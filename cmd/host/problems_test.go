package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/internal/testplugins"
)

// TestBrokenDropInRunTasksPluginsHealthVerify: one broken .wasm in the
// plugins folder. The commands that serve (run, tasks, plugins list) warn
// about it by name and serve the other plugins; the ones that check
// (plugins verify, health) name it and exit 1.
func TestBrokenDropInRunTasksPluginsHealthVerify(t *testing.T) {
	dir := testplugins.Core(t)
	broken := filepath.Join(dir, "broken.wasm")
	if err := os.WriteFile(broken, []byte("not WebAssembly"), 0o644); err != nil {
		t.Fatal(err)
	}
	common := []string{"--plugins-dir", dir, "--cache-dir", testCache(t)}
	warning := "level=WARN msg=\"plugin not loaded; the other plugins are served without it\" path=" + broken
	cases := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"run", "add", `{"a":2,"b":3}`}, 0, `{"sum":5}`, warning},
		{[]string{"tasks"}, 0, "word_count", warning},
		{[]string{"plugins", "list"}, 0, "plugin data_processing", warning},
		{[]string{"plugins", "list", "-o", "json"}, 0, `"name": "basic_operations"`, warning},
		{[]string{"plugins", "verify"}, 1, "", "verification failed:\nnot loaded: " + broken + ": not a valid WebAssembly module"},
		{[]string{"health", "--backend-url", filepath.Join(t.TempDir(), "health.db")}, 1, "plugins  FAIL", ""},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := runHost(t, append(c.args[:1:1], append(common, c.args[1:]...)...)...)
			if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errOut, c.errOut) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", code, out, errOut, c.code, c.out, c.errOut)
			}
			if c.args[0] == "health" && !strings.Contains(out, "not loaded: "+broken) {
				t.Errorf("health does not name %s:\n%s", broken, out)
			}
		})
	}
}
