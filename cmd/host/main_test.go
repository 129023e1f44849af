package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/internal/testplugins"
)

// runHost runs a command line in-process and returns its exit code and
// output.
func runHost(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCommands(t *testing.T) {
	dir := testplugins.Core(t)
	cache := testCache(t)
	common := []string{"--plugins-dir", dir, "--cache-dir", cache}
	cases := []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"run", "add", `{"a":2,"b":3}`}, 0, `{"sum":5}`, ""},
		{[]string{"run", "--progress", "progress_demo", `{"steps":2}`}, 0, `{"steps":2}`, "progress: 100% step 2 of 2"},
		{[]string{"run", "ping"}, 0, `"pong":true`, ""},
		{[]string{"run", "fail", `{"message":"nope"}`}, 1, "", "failed: nope (kind=failed retryable=false"},
		{[]string{"run", "add", `{bad`}, 1, "", "kind=bad_input"},
		{[]string{"run", "no_such_task"}, 1, "", "kind=unknown_task"},
		{[]string{"run", "--timeout", "100ms", "sleep", `{"ms":3000}`}, 1, "", "kind=timeout"},
		{[]string{"run"}, 2, "", "want TASK"},
		{[]string{"plugins", "verify"}, 0, "ok: 3 plugins, 11 tasks", ""},
		{[]string{"plugins", "list"}, 0, "word_count", ""},
		{[]string{"plugins", "frobnicate"}, 2, "", "unknown subcommand"},
		{[]string{"run", "--log-level", "loud", "add"}, 2, "", "--log-level"},
		{[]string{"submit", "--backend-opt", "nonsense", "add"}, 2, "", "want name=value"},
		{[]string{"submit", "--backend", "asynq", "--backend-opt", "task_check=1s", "add"}, 1, "", "asynq: unknown option task_check (this engine knows: task_check_interval)"},
		{[]string{"submit", "--backend", "asynq", "--backend-opt", "task_check_interval=fast", "add"}, 1, "", `option task_check_interval: "fast" is not a duration`},
		{[]string{"submit", "--backend-opt", "x=1", "add"}, 1, "", "river: unknown option x (this engine knows: none)"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			code, out, errOut := runHost(t, append(c.args[:1:1], append(common, c.args[1:]...)...)...)
			if code != c.code || !strings.Contains(out, c.out) || !strings.Contains(errOut, c.errOut) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout with %q, stderr with %q", code, out, errOut, c.code, c.out, c.errOut)
			}
		})
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	if code, out, _ := runHost(t, "--help"); code != 0 || !strings.Contains(out, "host run TASK") {
		t.Errorf("--help: exit %d, %q", code, out)
	}
	if code, _, errOut := runHost(t, "run", "--help"); code != 0 || !strings.Contains(errOut, "Usage: host run") {
		t.Errorf("run --help: exit %d, %q", code, errOut)
	}
	if code, _, errOut := runHost(t, "launch"); code != 2 || !strings.Contains(errOut, `unknown command "launch"`) {
		t.Errorf("unknown command: exit %d, %q", code, errOut)
	}
}

func TestPluginsListJSONAndPin(t *testing.T) {
	wasm := testplugins.Build(t, "plugins/core/basic_operations")
	manifest := filepath.Join(t.TempDir(), "manifest.toml")
	text := fmt.Sprintf("# keep this comment\n[[plugin]]\nname = \"basic\"\npath = %q\n[plugin.limits]\npool_size = 1\n", wasm)
	if err := os.WriteFile(manifest, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--manifest", manifest, "--plugins-dir", t.TempDir(), "--cache-dir", testCache(t)}
	code, out, errOut := runHost(t, append([]string{"plugins", "pin"}, args...)...)
	if code != 0 || !strings.Contains(out, "pinned basic") {
		t.Fatalf("pin: exit %d, %q, %q", code, out, errOut)
	}
	b, _ := os.ReadFile(manifest)
	if !strings.Contains(string(b), "# keep this comment") || !strings.Contains(string(b), "sha256 = \"") {
		t.Fatalf("pinned manifest:\n%s", b)
	}
	if code, out, _ := runHost(t, append([]string{"plugins", "pin"}, args...)...); code != 0 || !strings.Contains(out, "up to date") {
		t.Errorf("second pin: exit %d, %q", code, out)
	}
	code, out, errOut = runHost(t, append([]string{"plugins", "list", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("list: exit %d, %s", code, errOut)
	}
	var plugins []struct {
		Name   string
		SHA256 string
		ABI    int
		Tasks  []struct{ Name string }
	}
	if err := json.Unmarshal([]byte(out), &plugins); err != nil {
		t.Fatalf("list -o json: %v\n%s", err, out)
	}
	if len(plugins) != 1 || plugins[0].Name != "basic" || plugins[0].ABI != 1 || len(plugins[0].Tasks) != 4 || !strings.Contains(string(b), plugins[0].SHA256) {
		t.Errorf("list -o json = %+v", plugins)
	}
	// A tampered module is refused by verify.
	if err := os.WriteFile(manifest, []byte(strings.Replace(string(b), plugins[0].SHA256, strings.Repeat("0", 64), 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runHost(t, append([]string{"plugins", "verify"}, args...)...); code != 1 || !strings.Contains(errOut, "sha256 mismatch") {
		t.Errorf("verify of a tampered manifest: exit %d, %q", code, errOut)
	}
}

// testCache is a compilation cache shared by the tests of a run, so that
// each test does not compile the Go plugins again (slow under -race).
func testCache(t *testing.T) string {
	d := filepath.Join(os.TempDir(), "taskhost-test-cache")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestParseQueues(t *testing.T) {
	qs, w, err := parseQueues([]string{"high:6", "default", "low:1"})
	if err != nil || strings.Join(qs, ",") != "high,default,low" || w["high"] != 6 || w["low"] != 1 || len(w) != 2 {
		t.Errorf("parseQueues = %v, %v, %v", qs, w, err)
	}
	if _, w, _ := parseQueues([]string{"a", "b"}); w != nil {
		t.Errorf("weights without any weight = %v, want nil", w)
	}
	if _, _, err := parseQueues([]string{"a:zero"}); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("bad weight: %v", err)
	}
}

// TestBundleCommands makes a key, bundles a core plugin, verifies the
// bundle, runs a task from it, and refuses it once tampered with.
func TestBundleCommands(t *testing.T) {
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join(testplugins.Core(t), "data_processing.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "dp.wasm"), string(b))
	writeFile(t, filepath.Join(dir, "manifest.toml"), "[[plugin]]\nname = \"ent\"\npath = \"dp.wasm\"\n")
	keys := filepath.Join(dir, "keys")
	if code, out, errOut := runHost(t, "bundle", "keygen", "--out", keys, "--name", "ent"); code != 0 || !strings.Contains(out, "ent.pub") {
		t.Fatalf("keygen: %d %s %s", code, out, errOut)
	}
	if code, _, errOut := runHost(t, "bundle", "keygen", "--out", keys, "--name", "ent"); code != 1 || !strings.Contains(errOut, "never overwritten") {
		t.Errorf("a second keygen over the same key: %d %s", code, errOut)
	}
	bfile := filepath.Join(dir, "out", "ent.tbundle")
	if code, out, errOut := runHost(t, "bundle", "build", "--key", filepath.Join(keys, "ent.key"), "--manifest", filepath.Join(dir, "manifest.toml"), "--out", bfile); code != 0 || !strings.Contains(out, "signed by key") {
		t.Fatalf("build: %d %s %s", code, out, errOut)
	}
	pub := filepath.Join(keys, "ent.pub")
	if code, out, errOut := runHost(t, "bundle", "verify", "--bundle-key", pub, bfile); code != 0 || !strings.Contains(out, "ok: ") {
		t.Fatalf("verify: %d %s %s", code, out, errOut)
	}
	empty := t.TempDir()
	writeFile(t, filepath.Join(empty, "manifest.toml"), "")
	common := []string{"--manifest", filepath.Join(empty, "manifest.toml"), "--plugins-dir", empty, "--cache-dir", testCache(t), "--bundles-dir", empty}
	code, out, errOut := runHost(t, append([]string{"run", "--bundle", bfile, "--bundle-key", pub, "sha256", `{"text":"abc"}`}, common...)...)
	if code != 0 || !strings.Contains(out, "ba7816bf") {
		t.Fatalf("run from the bundle: %d %s %s", code, out, errOut)
	}
	code, _, errOut = runHost(t, append([]string{"run", "--bundle", bfile, "sha256", `{"text":"abc"}`}, common...)...)
	if code != 1 || !strings.Contains(errOut, "no trusted bundle key") {
		t.Errorf("a bundle without a key: %d %s", code, errOut)
	}
	// Tamper: flip a byte in the middle of the file.
	raw, _ := os.ReadFile(bfile)
	raw[len(raw)/2] ^= 0xff
	writeFile(t, bfile, string(raw))
	if code, _, errOut := runHost(t, "bundle", "verify", "--bundle-key", pub, bfile); code != 1 || !strings.Contains(errOut, bfile) {
		t.Errorf("verify of a tampered bundle: %d %s", code, errOut)
	}
}
