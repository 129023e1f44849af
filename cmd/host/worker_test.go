package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"taskhost.dev/internal/testplugins"
	"taskhost.dev/worker"
)

// syncBuffer is a bytes.Buffer safe for a writer goroutine and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestWorkerEndToEnd runs host worker in-process on River with SQLite, then
// the client commands against it, then stops it with its context (as
// SIGTERM does).
func TestWorkerEndToEnd(t *testing.T) {
	plugins := testplugins.Core(t)
	manifest := filepath.Join(t.TempDir(), "manifest.toml")
	writeFile(t, manifest, `
[[workflow]]
name = "shout_and_count"
[[workflow.step]]
task = "uppercase"
[[workflow.step]]
parallel = [{ task = "word_count" }, { task = "sha256" }]
`)
	db := filepath.Join(t.TempDir(), "worker.db")
	common := []string{"--plugins-dir", plugins, "--manifest", manifest, "--cache-dir", testCache(t), "--backend-url", db}
	addr := "127.0.0.1:18371"
	ctx, cancel := context.WithCancel(context.Background())
	var workerErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"worker", "--health-addr", addr, "--queues", "default", "--grace", "10s", "--ui"}, common...), strings.NewReader(""), io.Discard, &workerErr)
	}()
	ready := false
	// Generous: under -race, beside other test packages, loading the Go
	// plugins can take a while on 2 cores.
	for start := time.Now(); time.Since(start) < 3*time.Minute; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			var body struct {
				Ready  bool
				Checks []worker.Check
			}
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			if resp.StatusCode == 200 && body.Ready && len(body.Checks) == 3 {
				ready = true
				break
			}
		}
	}
	if !ready {
		cancel()
		t.Fatalf("the worker was not ready within 3 minutes; its log:\n%s", workerErr.String())
	}
	code, out, errOut := runHost(t, append([]string{"submit", "add", `{"a":2,"b":3}`, "--wait", "-o", "json"}, common...)...)
	if code != 0 || !strings.Contains(out, `"status": "succeeded"`) || !strings.Contains(out, `"sum": 5`) {
		t.Errorf("submit --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runHost(t, append([]string{"submit", "fail", `{"message":"no"}`}, common...)...)
	id := strings.TrimSpace(out)
	if code != 0 || id == "" {
		t.Fatalf("submit: exit %d, %q", code, out)
	}
	if code, out, errOut := runHost(t, append([]string{"wait", id}, common...)...); code != 1 || !strings.Contains(out, "failed: no (retryable=false)") {
		t.Errorf("wait on a failing task: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runHost(t, append([]string{"result", id, "-o", "json"}, common...)...); code != 0 || !strings.Contains(out, `"kind": "failed"`) {
		t.Errorf("result: exit %d\n%s", code, out)
	}
	code, out, errOut = runHost(t, append([]string{"workflow", "submit", "shout_and_count", `{"text":"a b a"}`, "--wait"}, common...)...)
	if code != 0 || !strings.Contains(out, "step 2.2 sha256") || !strings.Contains(out, `"words":3`) || !strings.Contains(out, "status    succeeded") {
		t.Errorf("workflow submit --wait: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ := runHost(t, append([]string{"health"}, common...)...); code != 0 || !strings.Contains(out, "engine") {
		t.Errorf("health: exit %d\n%s", code, out)
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`taskhost_task_attempts_total{outcome="succeeded",plugin="basic_operations",queue="default",task="add"} 1`, `taskhost_task_attempts_total{outcome="failed",plugin="system_tasks",queue="default",task="fail"} 1`, `taskhost_sandbox_guest_seconds_count{plugin="basic_operations",queue="default",task="add"} 1`, `taskhost_queue_tasks{queue="default",state="succeeded"}`, `taskhost_pool_instances{plugin="data_processing"}`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// River's own web UI, served beside the health endpoints.
	if resp, err := http.Get("http://" + addr + "/ui/api/queues"); err != nil {
		t.Error(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), `"name":"default"`) {
			t.Errorf("/ui/api/queues: %d %s", resp.StatusCode, body)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("worker exited %d:\n%s", code, workerErr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop within 30s of its context ending")
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestWorkerHotDropIn drops a plugin into a running worker's plugins
// folder, runs its task, drops a broken module (refused, nothing changes),
// then removes the plugin.
func TestWorkerHotDropIn(t *testing.T) {
	core := testplugins.Core(t)
	dir := t.TempDir()
	copyTo := func(name, to string) {
		b, err := os.ReadFile(filepath.Join(core, name))
		if err != nil {
			t.Fatal(err)
		}
		// Written elsewhere and renamed in, as a deployment would.
		tmp := filepath.Join(t.TempDir(), name)
		writeFile(t, tmp, string(b))
		if err := os.Rename(tmp, filepath.Join(dir, to)); err != nil {
			t.Fatal(err)
		}
	}
	copyTo("basic_operations.wasm", "basic_operations.wasm")
	manifest := filepath.Join(t.TempDir(), "manifest.toml")
	writeFile(t, manifest, "")
	db := filepath.Join(t.TempDir(), "hot.db")
	common := []string{"--plugins-dir", dir, "--manifest", manifest, "--cache-dir", testCache(t), "--backend-url", db}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var log syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"worker", "--queues", "default", "--log-level", "info"}, common...), strings.NewReader(""), io.Discard, &log)
	}()
	waitLog := func(want string) {
		t.Helper()
		for start := time.Now(); time.Since(start) < 3*time.Minute; time.Sleep(20 * time.Millisecond) {
			if strings.Contains(log.String(), want) {
				return
			}
		}
		t.Fatalf("the worker did not log %q within 3 minutes:\n%s", want, log.String())
	}
	waitLog("worker started")

	copyTo("data_processing.wasm", "dropped.wasm")
	waitLog(`msg="plugin loaded" plugin=dropped`)
	code, out, errOut := runHost(t, append([]string{"submit", "sha256", `{"text":"abc"}`, "--wait"}, common...)...)
	if code != 0 || !strings.Contains(out, "ba7816bf") {
		t.Fatalf("a dropped-in plugin's task: exit %d, %s %s\nworker log:\n%s", code, out, errOut, log.String())
	}

	writeFile(t, filepath.Join(dir, "broken.wasm"), "not a module")
	waitLog(`msg="plugin refused; nothing changed"`)
	if code, out, _ := runHost(t, append([]string{"submit", "add", `{"a":1,"b":2}`, "--wait"}, common...)...); code != 0 || !strings.Contains(out, `{"sum":3}`) {
		t.Fatalf("add after a broken module was dropped in: exit %d, %s", code, out)
	}
	os.Remove(filepath.Join(dir, "broken.wasm"))

	os.Remove(filepath.Join(dir, "dropped.wasm"))
	waitLog(`msg="plugin removed`)
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("worker exit %d:\n%s", code, log.String())
	}
}
