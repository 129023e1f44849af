package temporal_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/backends/backendtest"
	_ "taskhost.dev/backends/temporal"
)

func TestMain(m *testing.M) { backendtest.Main(m) }

// config is the dev server scripts/temporal-up.sh starts (make test does).
func config(t *testing.T) backends.Config {
	addr := os.Getenv("TEMPORAL_ADDRESS")
	if addr == "" {
		addr = "127.0.0.1:7233"
	}
	return backends.Config{URL: addr, Namespace: "default"}
}

func TestConformance(t *testing.T) {
	backendtest.Run(t, "temporal", config(t))
}

// cli is the Temporal CLI that scripts/temporal-up.sh installed.
func cli(t *testing.T) string {
	if p := os.Getenv("TEMPORAL_CLI"); p != "" {
		return p
	}
	dir := os.Getenv("TASKHOST_TOOLS_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(cache, "taskhost", "tools")
	}
	p := filepath.Join(dir, "temporal-v1.5.1")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no Temporal CLI at %s: run scripts/temporal-up.sh (make test does)", p)
	}
	return p
}

// TestHistoryShownByTemporalCLI runs a task and a workflow and reads their
// histories back with the Temporal CLI, a client this project did not write.
func TestHistoryShownByTemporalCLI(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	b, err := backends.Open(ctx, "temporal", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	queue := "cli_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "_")
	if err := b.Register(ctx, backends.TaskSpec{Name: "shout", Queue: queue, Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.Work(wctx, backends.WorkerOptions{Queues: []string{queue}}, backends.HandlerFunc(func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
			return json.RawMessage(`{"said":"HELLO"}`), nil
		}))
	}()
	defer func() { stop(); <-done }()
	id, err := b.Submit(ctx, "shout", json.RawMessage(`{"say":"hello"}`))
	if err != nil {
		t.Fatal(err)
	}
	wctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if r, err := b.Wait(wctx2, id); err != nil || r.Status != backends.StatusSucceeded {
		t.Fatalf("task: %+v, %v", r, err)
	}
	wfID, err := b.SubmitWorkflow(ctx, *backends.NewWorkflow("twice").Then("shout").Then("shout"), json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if r, err := b.WaitWorkflow(wctx2, wfID); err != nil || r.Status != backends.StatusSucceeded {
		t.Fatalf("workflow: %+v, %v", r, err)
	}
	for _, c := range []struct{ id, want string }{
		{id, "EVENT_TYPE_ACTIVITY_TASK_COMPLETED"},
		{wfID, `"activityId": "1.0"`},
	} {
		out, err := exec.Command(cli(t), "workflow", "show", "--workflow-id", c.id, "--address", cfg.URL, "--namespace", cfg.Namespace, "--output", "json").CombinedOutput()
		if err != nil {
			t.Fatalf("temporal workflow show %s: %v\n%s", c.id, err, out)
		}
		text := string(out)
		for _, want := range []string{c.want, `"name": "shout"`, "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED"} {
			if !strings.Contains(text, want) {
				t.Errorf("temporal workflow show %s does not mention %s:\n%.3000s", c.id, want, text)
			}
		}
	}
}

// TestUnregisteredTaskRuns: a worker serves a task it was never told of (as
// for a .wasm dropped in after it started): it registers no activity by
// name, only the dynamic one.
func TestUnregisteredTaskRuns(t *testing.T) {
	ctx := context.Background()
	cfg := config(t)
	worker, err := backends.Open(ctx, "temporal", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer worker.Close()
	queue := "late_" + strings.ReplaceAll(time.Now().Format("150405.000000"), ".", "_")
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- worker.Work(wctx, backends.WorkerOptions{Queues: []string{queue}}, backends.HandlerFunc(func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
			return json.Marshal(map[string]string{"ran": t.Name})
		}))
	}()
	defer func() { stop(); <-done }()
	client, err := backends.Open(ctx, "temporal", cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if err := client.Register(ctx, backends.TaskSpec{Name: "dropped_in_later", Queue: queue, Timeout: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	id, err := client.Submit(ctx, "dropped_in_later", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	wctx2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	r, err := client.Wait(wctx2, id)
	if err != nil || r.Status != backends.StatusSucceeded || string(r.Output) != `{"ran":"dropped_in_later"}` {
		t.Fatalf("%+v (output %s), %v; want it run by the worker", r, r.Output, err)
	}
}

// TestConcurrencyBelowQueuesRefused: each queue's poller holds a slot
// while it waits, so a worker needs a slot per queue; fewer is an error
// that says so, not a queue that starves.
func TestConcurrencyBelowQueuesRefused(t *testing.T) {
	b, err := backends.Open(context.Background(), "temporal", config(t))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Work(context.Background(), backends.WorkerOptions{Queues: []string{"a", "b", "c"}, Concurrency: 2}, nil)
	if err == nil || !strings.Contains(err.Error(), "concurrency 2 is below its 3 queues") {
		t.Fatalf("Work with concurrency 2 over 3 queues: %v; want a refusal naming both", err)
	}
}
