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
	"sync"
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

// TestLoadPluginDropInProblems: drop-ins that do not load (no metadata, not
// WebAssembly, a task another plugin serves) are reported by Problems and
// logged, and the other plugins are served; LoadFile of a fixed file clears
// its problem.
func TestLoadPluginDropInProblems(t *testing.T) {
	dir := testplugins.Core(t)
	copyFile(t, filepath.Join(testplugins.ExtismWasmDir(t), "count_vowels.wasm"), filepath.Join(dir, "count_vowels.wasm"))
	broken := filepath.Join(dir, "broken.wasm")
	if err := os.WriteFile(broken, []byte("not WebAssembly"), 0o644); err != nil {
		t.Fatal(err)
	}
	copyFile(t, testplugins.Build(t, "plugins/core/basic_operations"), filepath.Join(dir, "zz_copy.wasm"))
	logs := &lockedBuffer{}
	h := loadCore(t, host.Config{PluginsDir: dir, Logger: logs.logger()})

	if _, ok := h.Task("word_count"); !ok || len(h.Plugins()) != 3 {
		t.Fatalf("%d plugins loaded; want the three core plugins served", len(h.Plugins()))
	}
	want := []struct{ file, err string }{
		{"broken.wasm", "not a valid WebAssembly module"},
		{"count_vowels.wasm", "no taskhost_meta export and no manifest entry"},
		{"zz_copy.wasm", `task "add" is served by plugin "basic_operations"`},
	}
	problems := h.Problems()
	if len(problems) != len(want) {
		t.Fatalf("Problems() = %v; want %d", problems, len(want))
	}
	for i, w := range want {
		p := problems[i]
		if filepath.Base(p.Path) != w.file || !strings.Contains(p.Error(), w.err) {
			t.Errorf("problem %d = %s: %v; want %s: ...%s...", i, p.Path, p.Err, w.file, w.err)
		}
		if !strings.Contains(logs.String(), "level=WARN msg=\"plugin not loaded; the other plugins are served without it\" path="+p.Path) {
			t.Errorf("no warning logged for %s:\n%s", p.Path, logs.String())
		}
	}

	// The broken file is replaced by a good plugin: no longer a problem.
	copyFile(t, testplugins.Build(t, "host/testdata/hostile"), broken)
	if _, err := h.LoadFile(context.Background(), broken); err != nil {
		t.Fatal(err)
	}
	if got := h.Problems(); len(got) != 2 || filepath.Base(got[0].Path) != "count_vowels.wasm" {
		t.Errorf("after LoadFile of a fixed broken.wasm: Problems() = %v", got)
	}
}

// TestLoadPluginPinnedFailureIsFatal: a plugin the manifest names stays
// fatal for Load even beside drop-ins that load.
func TestLoadPluginPinnedFailureIsFatal(t *testing.T) {
	_, err := host.Load(context.Background(), host.Config{PluginsDir: testplugins.Core(t), CacheDir: cacheDir(t),
		Manifest: writeManifest(t, "[[plugin]]\nname = \"gone\"\npath = \"nowhere/gone.wasm\"\n")})
	if err == nil || !strings.Contains(err.Error(), `plugin "gone": cannot read the module`) {
		t.Fatalf("Load = %v; want the manifest plugin's error", err)
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

// A schedule of a task no plugin serves is a manifest error at its task's
// line; one of a served task is the host's (issue 16).
func TestLoadScheduleTasks(t *testing.T) {
	ctx := context.Background()
	cfg := host.Config{PluginsDir: testplugins.Core(t), CacheDir: cacheDir(t), Logger: quiet}
	cfg.Manifest = writeManifest(t, "[[schedule]]\nname = \"s\"\ntask = \"no_such_task\"\nevery = \"1m\"\n")
	_, err := host.Load(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), `manifest.toml:3: schedule "s": no loaded plugin serves task "no_such_task"`) {
		t.Fatalf("Load: %v, want the unknown task at manifest.toml:3", err)
	}
	cfg.Manifest = writeManifest(t, "[[schedule]]\nname = \"s\"\ntask = \"echo\"\nevery = \"1m\"\n")
	h, err := host.Load(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	if s := h.Schedules(); len(s) != 1 || s[0].Task != "echo" {
		t.Errorf("Schedules() = %+v", s)
	}
}

// TestLoadLazy: a host loaded lazily learns the same tasks from the
// metadata a full load cached, without compiling, and compiles a plugin on
// its first task; with nothing cached it loads in full (issue 17).
func TestLoadLazy(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	cfg := host.Config{PluginsDir: testplugins.Core(t), CacheDir: cache, Logger: quiet, Lazy: true,
		Manifest: writeManifest(t, "[[plugin]]\npath = "+fmt.Sprintf("%q", filepath.Join(testplugins.Core(t), "basic_operations.wasm"))+"\n[[plugin.task]]\nname = \"echo\"\nqueue = \"fast\"\nmax_retries = 7\n")}
	names := func(h *host.Host) string {
		var out []string
		for _, task := range h.Tasks() {
			out = append(out, fmt.Sprintf("%s/%s/%d/%s", task.Name, task.Queue, task.MaxRetries, task.Timeout))
		}
		return strings.Join(out, " ")
	}
	cold, err := host.Load(ctx, cfg) // nothing cached: a full load
	if err != nil {
		t.Fatal(err)
	}
	want := names(cold)
	echo, _ := cold.Task("echo")
	if st := echo.Plugin.Stats(); st.Created != 1 {
		t.Errorf("with nothing cached: %+v, want the full load's one instance", st)
	}
	cold.Close(ctx)
	warm, err := host.Load(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer warm.Close(ctx)
	if got := names(warm); got != want || !strings.Contains(got, "echo/fast/7/") {
		t.Errorf("tasks from the cache:\n%s\nwant\n%s", got, want)
	}
	for _, p := range warm.Plugins() {
		if st := p.Stats(); st.Created != 0 {
			t.Errorf("plugin %s: %+v, want nothing instantiated", p.Name, st)
		}
	}
	var wg sync.WaitGroup
	for range 4 { // the first tasks, at once, compile it once
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := warm.Run(ctx, "echo", []byte(`{"a":1}`), host.Invocation{}); err != nil || string(out) != `{"a":1}` {
				t.Errorf("Run on a lazy host: %s, %v", out, err)
			}
		}()
	}
	wg.Wait()
}

// TestLazyModuleChanged: a lazy plugin's module that changed on disk after
// load is refused when the plugin compiles, with the reason.
func TestLazyModuleChanged(t *testing.T) {
	ctx := context.Background()
	wasm, err := os.ReadFile(filepath.Join(testplugins.Core(t), "basic_operations.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "basic_operations.wasm")
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := host.Config{PluginsDir: dir, CacheDir: t.TempDir(), Logger: quiet, Lazy: true}
	full, err := host.Load(ctx, cfg) // caches the metadata
	if err != nil {
		t.Fatal(err)
	}
	full.Close(ctx)
	lazy, err := host.Load(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer lazy.Close(ctx)
	// A custom section appended: still a valid module, another digest.
	changed := append(append([]byte{}, wasm...), 0, 4, 1, 'x', 'y', 'z')
	if err := os.WriteFile(path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = lazy.Run(ctx, "echo", []byte(`{}`), host.Invocation{})
	if err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Errorf("Run after the module changed: %v, want a sha256 mismatch", err)
	}
}
