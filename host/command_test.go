package host_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/abi"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

// TestPluginWASICommandsFromGoSDK runs Extism go-sdk's own WASI command
// plugins, whose _start ends with exit(0), and checks their outputs against
// go-sdk's; and its exit.wasm, whose exit code comes from its config.
func TestPluginWASICommandsFromGoSDK(t *testing.T) {
	dir := testplugins.ExtismWasmDir(t)
	std := filepath.Join(dir, "std_command.wasm")
	vowels := filepath.Join(dir, "count_vowels_std.wasm")
	exit := filepath.Join(dir, "exit.wasm")
	h := loadCore(t, host.Config{Manifest: writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "std_command"
path = %q
[[plugin.task]]
name = "greet"
function = "_start"
input = "text"
output = "text"

[[plugin]]
name = "count_vowels_std"
path = %q
[[plugin.task]]
name = "count_vowels_std"
function = "_start"
input = "text"

[[plugin]]
name = "exit3"
path = %q
[plugin.config]
code = "3"
[[plugin.task]]
name = "exit3"
function = "_start"

[[plugin]]
name = "exit0"
path = %q
[plugin.config]
code = "0"
[[plugin.task]]
name = "exit0"
function = "_start"
`, std, vowels, exit, exit)), PluginsDir: t.TempDir()})
	ctx := context.Background()
	for _, c := range []struct {
		task, file, input string
		text              bool
	}{
		{"greet", std, "ben", true},
		{"count_vowels_std", vowels, "hello world", false},
	} {
		_, want, err := extismPlugin(t, c.file, nil).Call("_start", []byte(c.input))
		if err != nil {
			t.Fatalf("go-sdk %s: %v", c.file, err)
		}
		if c.text {
			want, _ = json.Marshal(string(want))
		}
		in, _ := json.Marshal(c.input)
		// Twice: a command's instance is spent by its exit, the next call
		// gets a new one.
		for range 2 {
			got, err := h.Run(ctx, c.task, in, host.Invocation{})
			if err != nil {
				t.Fatalf("%s: %v", c.task, err)
			}
			if string(got) != string(want) {
				t.Errorf("%s(%q) = %s; go-sdk gives %s", c.task, c.input, got, want)
			}
		}
	}

	if out, err := h.Run(ctx, "exit0", []byte(`{}`), host.Invocation{}); err != nil || string(out) != "null" {
		t.Errorf("exit0 = %s, %v; want null, no error", out, err)
	}
	_, err := h.Run(ctx, "exit3", []byte(`{}`), host.Invocation{})
	te, ok := host.AsTaskError(err)
	if !ok || te.Kind != abi.KindFailed || te.ExitCode != 3 || !strings.Contains(te.Message, "exited with code 3") {
		t.Fatalf("exit3: %v (exit code %d); want a failed task error with exit code 3", err, exitCode(te))
	}
}

func exitCode(te *host.TaskError) int {
	if te == nil {
		return 0
	}
	return te.ExitCode
}

// TestPluginWASICommandStdout runs a plain WASI command: its input is its
// stdin, its stdout its output (output = "text"), max_output holds, its
// stderr goes to the task's log, and a non-zero exit is a failure with that
// code and the start of its stderr.
func TestPluginWASICommandStdout(t *testing.T) {
	wasm := testplugins.BuildCommand(t, "host/testdata/command")
	logs := &lockedBuffer{}
	h := loadCore(t, host.Config{Logger: logs.logger(), PluginsDir: t.TempDir(), Manifest: writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "command"
path = %q
[plugin.limits]
max_output = "64KiB"
[[plugin.task]]
name = "hello"
function = "_start"
input = "text"
output = "text"
`, wasm))})
	ctx := context.Background()
	out, err := h.Run(ctx, "hello", []byte(`"ann"`), host.Invocation{ID: "c-1"})
	if err != nil || string(out) != `"hello, ann"` {
		t.Fatalf("hello(ann) = %s, %v; want \"hello, ann\"", out, err)
	}
	if l := logs.String(); !strings.Contains(l, `msg="command: greeting ann" task=hello task_id=c-1 plugin=command attempt=1 stream=stderr`) {
		t.Errorf("the command's stderr is not in the task's log at info:\n%s", l)
	}

	_, err = h.Run(ctx, "hello", []byte(`"fail"`), host.Invocation{})
	te, ok := host.AsTaskError(err)
	if !ok || te.Kind != abi.KindFailed || te.ExitCode != 3 || !strings.Contains(te.Message, "exited with code 3 during _start: command: cannot handle this input") {
		t.Errorf("hello(fail) = %v; want a failed task error with exit code 3 and the command's stderr", err)
	}

	out, err = h.Run(ctx, "hello", []byte(`"big 65536"`), host.Invocation{})
	if err != nil || len(out) != 65536+2 {
		t.Errorf("big 65536 (max_output 64KiB): %d bytes, %v; want the output whole", len(out), err)
	}
	_, err = h.Run(ctx, "hello", []byte(`"big 65537"`), host.Invocation{})
	if te, ok := host.AsTaskError(err); !ok || te.Kind != abi.KindSandbox || !strings.Contains(te.Message, "stdout of 65537 bytes exceeds max_output of 64KiB") {
		t.Errorf("big 65537 (max_output 64KiB): %v; want a sandbox violation", err)
	}
}
