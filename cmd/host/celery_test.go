package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"taskhost.dev/internal/testplugins"
)

// TestCeleryPythonClientRunsWASM: host worker on the celery backend serves
// Celery's own Python client: send_task(...).get() and a chain, run as the
// core plugins' WASM tasks.
func TestCeleryPythonClientRunsWASM(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import celery, redis").Run(); err != nil {
		if os.Getenv("TASKHOST_REQUIRE_CELERY") != "" {
			t.Fatalf("%s cannot import celery and redis: %v (make celery installs them)", py, err)
		}
		t.Skipf("%s cannot import celery and redis (make celery installs them): %v", py, err)
	}
	const redisURL = "redis://127.0.0.1:6379/6"
	plugins := testplugins.Core(t)
	addr := "127.0.0.1:18373"
	ctx, cancel := context.WithCancel(context.Background())
	var workerErr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"worker", "--backend", "celery", "--backend-url", redisURL, "--queues", "celery", "--health-addr", addr,
			"--plugins-dir", plugins, "--manifest", emptyManifest(t), "--cache-dir", testCache(t)}, strings.NewReader(""), io.Discard, &workerErr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the worker did not stop within 30s")
		}
	}()
	for start := time.Now(); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 3*time.Minute {
			t.Fatalf("the worker was not ready within 3 minutes; its log:\n%s", workerErr.String())
		}
	}
	script := `
import json
from celery import Celery, chain
app = Celery("client", broker="` + redisURL + `", backend="` + redisURL + `")
one = app.send_task("add", kwargs={"a": 2, "b": 3}).get(timeout=30)
two = chain(app.signature("add", kwargs={"a": 20, "b": 22}), app.signature("uppercase", kwargs={"text": "ok"})).apply_async().get(timeout=30)
print(json.dumps([one, two]))
`
	cmd := exec.Command(py, "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python client: %v\n%s\nworker log:\n%s", err, out, workerErr.String())
	}
	// The chain's second task gets the first's output with its own kwargs
	// added: {"sum": 42, "text": "ok"}.
	if got := strings.TrimSpace(string(out)); got != `[{"sum": 5}, {"text": "OK"}]` {
		t.Errorf("python client got %s", got)
	}
}
