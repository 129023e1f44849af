package host_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

// lockedBuffer collects log output from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *lockedBuffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Len()
}

func (b *lockedBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// logger returns a text logger at info that writes to b.
func (b *lockedBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// TestPluginLogBudget: a plugin that floods its log, through Extism log
// calls or its stdout, writes about its max_log_bytes to the logger and one
// closing line that counts what was dropped; the next attempt has its own
// budget, and the host's own lines are untouched.
func TestPluginLogBudget(t *testing.T) {
	logs := &lockedBuffer{}
	h := loadCore(t, host.Config{Logger: logs.logger(), Manifest: writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "hostile"
path = %q
[plugin.limits]
max_log_bytes = "64KiB"
`, testplugins.Build(t, "host/testdata/hostile")))})
	ctx := context.Background()
	const lines = 2000 // of 1018 bytes each: about 2 MB unbounded
	closing := regexp.MustCompile(`level=WARN msg="plugin logs: dropped (\d+) lines, (\d+) bytes over max_log_bytes 64KiB" task=logflood task_id=(flood-\w+) plugin=hostile attempt=1`)
	for _, stdout := range []bool{false, true} {
		logs.Reset()
		id := fmt.Sprintf("flood-%v", stdout)
		out, err := h.Run(ctx, "logflood", fmt.Appendf(nil, `{"lines":%d,"stdout":%v}`, lines, stdout), host.Invocation{ID: id})
		if err != nil || string(out) != fmt.Sprint(lines) {
			t.Fatalf("logflood (stdout %v) = %s, %v", stdout, out, err)
		}
		written := logs.String()
		kept := strings.Count(written, "flood line ")
		// 64 KiB holds 64 lines of 1018 bytes; each log line adds its
		// time, level and attributes (under 200 bytes).
		if kept != 64 || len(written) > 64<<10+kept*200+300 {
			t.Errorf("stdout %v: %d flood lines and %d bytes reached the logger; want 64 lines, about 64KiB", stdout, kept, len(written))
		}
		m := closing.FindStringSubmatch(written)
		if m == nil || m[1] != fmt.Sprint(lines-kept) || m[2] != fmt.Sprint((lines-kept)*1018) || m[3] != id {
			t.Errorf("stdout %v: no closing line counting %d dropped lines of %s; got %q", stdout, lines-kept, id, lastLine(written))
		}
		if stdout && !strings.Contains(written, "stream=stdout") {
			t.Errorf("stdout lines are not tagged stream=stdout")
		}
	}

	// Next attempt: its own budget, and nothing dropped.
	logs.Reset()
	if _, err := h.Run(ctx, "logflood", []byte(`{"lines":10}`), host.Invocation{ID: "small"}); err != nil {
		t.Fatal(err)
	}
	if got := logs.String(); strings.Count(got, "flood line ") != 10 || strings.Contains(got, "dropped") {
		t.Errorf("a 10-line attempt after a flood logged:\n%s", got)
	}
}

// TestPluginLogBudgetDefault: under the default budget (1MiB, 10000 lines),
// 20,000 lines of 1 KiB (20 MB) cost the logger about 1 MiB.
func TestPluginLogBudgetDefault(t *testing.T) {
	logs := &lockedBuffer{}
	h := loadCore(t, host.Config{Logger: logs.logger(), Manifest: writeManifest(t, fmt.Sprintf("[[plugin]]\nname = \"hostile\"\npath = %q\n",
		testplugins.Build(t, "host/testdata/hostile")))})
	if _, err := h.Run(context.Background(), "logflood", []byte(`{"lines":20000}`), host.Invocation{ID: "big"}); err != nil {
		t.Fatal(err)
	}
	if n := logs.Len(); n > 1<<20+1030*200 {
		t.Errorf("%d bytes reached the logger; want about 1 MiB", n)
	}
	if !strings.Contains(logs.String(), "dropped 18970 lines, 19311460 bytes over max_log_bytes 1MiB") {
		t.Errorf("closing line: %q", lastLine(logs.String()))
	}
}

// TestPluginStdoutLogged: a plugin's stdout reaches the task's log at info
// (Extism go-sdk's println.wasm prints its input).
func TestPluginStdoutLogged(t *testing.T) {
	logs := &lockedBuffer{}
	h := loadCore(t, host.Config{Logger: logs.logger(), PluginsDir: t.TempDir(), Manifest: writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "println"
path = %q
[[plugin.task]]
name = "println"
function = "run_test"
input = "text"
`, filepath.Join(testplugins.ExtismWasmDir(t), "println.wasm")))})
	if _, err := h.Run(context.Background(), "println", []byte(`"hello there"`), host.Invocation{ID: "p-1"}); err != nil {
		t.Fatal(err)
	}
	want := `level=INFO msg="this was printed from the plugin hello there" task=println task_id=p-1 plugin=println attempt=1 stream=stdout`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log does not contain %s:\n%s", want, logs.String())
	}
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndexByte(s, '\n')+1:]
}
