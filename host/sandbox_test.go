package host_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/host"
	"taskhost.dev/internal/testplugins"
)

// loadHostile loads the hostile test plugin beside the core plugins.
func loadHostile(t testing.TB, extra string) *host.Host {
	t.Helper()
	wasm := testplugins.Build(t, "host/testdata/hostile")
	manifest := filepath.Join(t.TempDir(), "manifest.toml")
	text := fmt.Sprintf(`
[[plugin]]
name = "hostile"
path = %q
[plugin.limits]
max_memory = "64MiB"
timeout = "300ms"
max_output = "1MiB"
pool_size = 2
[plugin.capabilities]
allowed_hosts = ["127.0.0.1"]
%s
`, wasm, extra)
	if err := os.WriteFile(manifest, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	h, err := host.Load(ctx, host.Config{Manifest: manifest, PluginsDir: testplugins.Core(t), CacheDir: cacheDir(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	return h
}

// quiet is the logger of tests that do not read the log: a plugin's
// stderr (a Go panic's stack trace) is logged at info.
var quiet = slog.New(slog.DiscardHandler)

// cacheDir is a compilation cache shared by the tests of one run.
func cacheDir(t testing.TB) string {
	d := filepath.Join(os.TempDir(), "taskhost-test-cache")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestHostilePlugins(t *testing.T) {
	h := loadHostile(t, "")
	ctx := context.Background()
	const timeout = 300 * time.Millisecond
	cases := []struct {
		task    string
		input   string
		kind    abi.Kind
		message string
		within  time.Duration
		timeout time.Duration // per invocation; the plugin's 300ms when 0
	}{
		{"loop", `{}`, abi.KindTimeout, "timeout of 300ms", timeout + 50*time.Millisecond, 0},
		{"membomb", `{}`, abi.KindOOM, "max_memory of 64MiB", 0, 10 * time.Second},
		{"panic", `{}`, abi.KindTrap, "boom", 0, 0},
		{"recurse", `{}`, abi.KindOOM, "out of memory", 0, 10 * time.Second},
		{"bigoutput", `{}`, abi.KindSandbox, "exceeds max_output", 0, 0},
		{"readfile", `{}`, abi.KindSandbox, "/etc/passwd denied", 0, 0},
		{"http", `{}`, abi.KindSandbox, "not in allowed_hosts", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.task, func(t *testing.T) {
			start := time.Now()
			_, err := h.Run(ctx, c.task, []byte(c.input), host.Invocation{ID: "hostile-" + c.task, Timeout: c.timeout})
			took := time.Since(start)
			te, ok := host.AsTaskError(err)
			if !ok {
				t.Fatalf("got %v (%T), want a *host.TaskError", err, err)
			}
			if te.Kind != c.kind {
				t.Fatalf("kind = %s, want %s (%v)", te.Kind, c.kind, te)
			}
			if te.Retryable != c.kind.Retryable() {
				t.Errorf("retryable = %v, want %v", te.Retryable, c.kind.Retryable())
			}
			if !strings.Contains(te.Error(), c.message) {
				t.Errorf("error %q does not mention %q", te, c.message)
			}
			if c.within > 0 && took > c.within {
				t.Errorf("took %s, want within %s", took, c.within)
			}
			t.Logf("%s: %v (%s)", c.task, te, took.Round(time.Millisecond))
			// The host keeps working: the same plugin and another one.
			for _, ok := range [][2]string{{"ok", `{"fine":true}`}, {"add", `{"a":1,"b":2}`}} {
				out, err := h.Run(ctx, ok[0], []byte(ok[1]), host.Invocation{})
				if err != nil {
					t.Fatalf("%s after %s: %v", ok[0], c.task, err)
				}
				if ok[0] == "ok" && string(out) != ok[1] {
					t.Fatalf("ok after %s = %s", c.task, out)
				}
			}
		})
	}
}

func TestTimeoutInterruptsSleep(t *testing.T) {
	h := loadHostile(t, "")
	start := time.Now()
	_, err := h.Run(context.Background(), "sleep", []byte(`{"ms":5000}`), host.Invocation{Timeout: 200 * time.Millisecond})
	took := time.Since(start)
	if te, ok := host.AsTaskError(err); !ok || te.Kind != abi.KindTimeout {
		t.Fatalf("got %v, want a timeout", err)
	}
	if took > 250*time.Millisecond {
		t.Errorf("a 200ms timeout took %s", took)
	}
}

func TestCallerCancel(t *testing.T) {
	h := loadHostile(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := h.Run(ctx, "loop", []byte(`{}`), host.Invocation{Timeout: 5 * time.Second})
	te, ok := host.AsTaskError(err)
	if !ok || te.Kind != abi.KindCancelled || !te.Retryable {
		t.Fatalf("got %v, want a retryable cancellation", err)
	}
	// The host keeps working after a cancelled call.
	if out, err := h.Run(context.Background(), "ok", []byte(`{}`), host.Invocation{}); err != nil || string(out) != `{}` {
		t.Fatalf("ok after a cancellation: %s, %v", out, err)
	}
}

// TestCallerCancelInterruptsSleep: a metered call is linked to its
// caller's context only once the guest blocks or yields; a sleeping guest
// still wakes when the caller gives up.
func TestCallerCancelInterruptsSleep(t *testing.T) {
	h := loadHostile(t, "")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := h.Run(ctx, "sleep", []byte(`{"ms":5000}`), host.Invocation{Timeout: 10 * time.Second})
	took := time.Since(start)
	if te, ok := host.AsTaskError(err); !ok || te.Kind != abi.KindCancelled {
		t.Fatalf("got %v, want a cancellation", err)
	}
	if took > time.Second {
		t.Errorf("a call canceled after 100ms took %s", took)
	}
}

// TestSpinningGuestLetsGCRun: a guest in a busy loop must not hold up the
// host's garbage collector, whose stop-the-world phase waits for every
// goroutine, the one running the guest included.
func TestSpinningGuestLetsGCRun(t *testing.T) {
	h := loadHostile(t, "")
	done := make(chan error, 1)
	go func() {
		_, err := h.Run(context.Background(), "loop", []byte(`{}`), host.Invocation{Timeout: 3 * time.Second})
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the guest is spinning
	start := time.Now()
	runtime.GC()
	if took := time.Since(start); took > time.Second {
		t.Errorf("a garbage collection took %s while a guest spun", took)
	}
	select {
	case err := <-done:
		t.Fatalf("the spinning task ended early: %v", err)
	default:
	}
	if te, ok := host.AsTaskError(<-done); !ok || te.Kind != abi.KindTimeout {
		t.Fatalf("the spinning task: %v, want a timeout", te)
	}
}

// TestHostileC runs a C plugin with no runtime of its own: a real
// WebAssembly stack overflow and a spin loop.
func TestHostileC(t *testing.T) {
	wasm, err := testplugins.BuildC("host/testdata/c_echo/echo.c")
	if err != nil {
		t.Fatalf("%v (make test installs clang and lld)", err)
	}
	h := loadCore(t, host.Config{Manifest: writeManifest(t, fmt.Sprintf(`
[[plugin]]
name = "c"
path = %q
[plugin.limits]
timeout = "200ms"
max_memory = "2MiB"
[[plugin.task]]
name = "c_echo"
function = "echo"
[[plugin.task]]
name = "recurse"
[[plugin.task]]
name = "recurse_native"
[[plugin.task]]
name = "spin"
`, wasm))})
	ctx := context.Background()
	for _, c := range []struct {
		task    string
		kind    abi.Kind
		want    string
		timeout time.Duration
	}{
		{"recurse", abi.KindTrap, "out of bounds memory access", 0},
		{"recurse_native", abi.KindTrap, "stack overflow", 20 * time.Second},
		{"spin", abi.KindTimeout, "timeout of 200ms", 0},
	} {
		start := time.Now()
		_, err := h.Run(ctx, c.task, []byte(`{}`), host.Invocation{Timeout: c.timeout})
		t.Logf("%s: %v after %s", c.task, err, time.Since(start))
		te, ok := host.AsTaskError(err)
		if !ok || te.Kind != c.kind || !strings.Contains(te.Message, c.want) {
			t.Fatalf("%s: got %v, want %s mentioning %q", c.task, err, c.kind, c.want)
		}
		if c.kind == abi.KindTimeout && time.Since(start) > 250*time.Millisecond {
			t.Errorf("%s: a 200ms timeout took %s", c.task, time.Since(start))
		}
		out, err := h.Run(ctx, "c_echo", []byte(`{"after":"`+c.task+`"}`), host.Invocation{})
		if err != nil || string(out) != `{"after":"`+c.task+`"}` {
			t.Fatalf("c_echo after %s: %s, %v", c.task, out, err)
		}
	}
}

// TestRunTimeoutNamesAppliedTimeout: a call stopped by its caller's
// deadline, earlier than the task's own timeout, says which timeout it ran
// under, for a spinning guest (stopped by the meter) and a sleeping one.
func TestRunTimeoutNamesAppliedTimeout(t *testing.T) {
	h := loadHostile(t, "")
	for _, c := range []struct{ task, input string }{{"loop", `{}`}, {"sleep", `{"ms":5000}`}} {
		ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		start := time.Now()
		_, err := h.Run(ctx, c.task, []byte(c.input), host.Invocation{Timeout: 10 * time.Second})
		took := time.Since(start)
		cancel()
		te, ok := host.AsTaskError(err)
		if !ok || te.Kind != abi.KindTimeout {
			t.Fatalf("%s under a 150ms deadline: %v; want a timeout", c.task, err)
		}
		// The deadline, less the time the call took to start.
		m := regexp.MustCompile(`^stopped at its caller's deadline, (\S+) after it started$`).FindStringSubmatch(te.Message)
		if m == nil {
			m = []string{"", "none"}
		}
		if d, perr := time.ParseDuration(m[1]); perr != nil || d <= 0 || d > 150*time.Millisecond {
			t.Errorf("%s under a 150ms deadline: %q; want the deadline named, at most 150ms", c.task, te.Message)
		}
		// Generous slack for a loaded 2-core machine: the bound that
		// matters is that the 10s timeout was not the one applied.
		if took > 150*time.Millisecond+250*time.Millisecond {
			t.Errorf("%s under a 150ms deadline took %s", c.task, took)
		}
	}
}
