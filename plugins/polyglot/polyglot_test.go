// Package polyglot_test builds the example plugins in C, Rust and
// AssemblyScript (scripts/build-polyglot.sh) and runs their tasks through
// the host.
package polyglot_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"taskhost.dev/host"
	"taskhost.dev/internal/jsontest"
	"taskhost.dev/internal/testplugins"
)

func TestPolyglotPlugins(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("scripts/build-polyglot.sh", out)
	cmd.Dir = testplugins.Root(t)
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/build-polyglot.sh: %v\n%s", err, log)
	}
	t.Logf("%s", log)
	cases := []struct {
		lang, file, task, output string
		input, want              string
	}{
		{"C", "reverse.wasm", "reverse", "text", `"héllo wörld"`, `"dlröw olléh"`},
		{"Rust", "word_stats.wasm", "word_stats", "json", `"the quick brown fox jumps"`, `{"words":5,"longest":"quick","average_length":4.2}`},
		{"AssemblyScript", "title_case.wasm", "title_case", "text", `"hello wide world"`, `"Hello Wide World"`},
	}
	var manifest strings.Builder
	for _, c := range cases {
		if _, err := os.Stat(filepath.Join(out, c.file)); err != nil {
			continue
		}
		fmt.Fprintf(&manifest, "[[plugin]]\npath = %q\n[[plugin.task]]\nname = %q\ninput = \"text\"\noutput = %q\n", filepath.Join(out, c.file), c.task, c.output)
	}
	mf := filepath.Join(t.TempDir(), "manifest.toml")
	os.WriteFile(mf, []byte(manifest.String()), 0o644)
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{Manifest: mf, CacheDir: filepath.Join(os.TempDir(), "taskhost-test-cache")})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	for _, c := range cases {
		t.Run(c.lang, func(t *testing.T) {
			if _, ok := h.Task(c.task); !ok {
				t.Skipf("%s toolchain missing (see the build log above; make tools installs it)", c.lang)
			}
			got, err := h.Run(ctx, c.task, []byte(c.input), host.Invocation{})
			if err != nil || !jsontest.Equal(got, c.want) {
				t.Errorf("%s(%s) = %s, %v; want %s", c.task, c.input, got, err, c.want)
			}
		})
	}
}
