package backendtest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"

	"taskhost.dev/backends"
)

const childEnv = "BACKENDTEST_CHILD"

type childSpec struct {
	Engine string              `json:"engine"`
	Config backends.Config     `json:"config"`
	Queue  string              `json:"queue"`
	Tasks  []backends.TaskSpec `json:"tasks"`
}

// Main runs the tests, or, when the suite started this process as a worker,
// runs that worker until it is killed.
func Main(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

func runChild(spec string) int {
	var c childSpec
	if err := json.Unmarshal([]byte(spec), &c); err != nil {
		fmt.Fprintln(os.Stderr, "backendtest child:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	b, err := backends.Open(ctx, c.Engine, c.Config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "backendtest child:", err)
		return 1
	}
	defer b.Close()
	if err := b.Register(ctx, c.Tasks...); err != nil {
		fmt.Fprintln(os.Stderr, "backendtest child:", err)
		return 1
	}
	fmt.Println("worker ready")
	if err := b.Work(ctx, backends.WorkerOptions{Queues: []string{c.Queue}, Name: "backendtest-child"}, newHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "backendtest child:", err)
		return 1
	}
	return 0
}

// startChild starts the test binary as a worker on queue q, with the
// tasks registered as the test registered them.
func startChild(t *testing.T, engine string, cfg backends.Config, q string, tasks []backends.TaskSpec) *exec.Cmd {
	t.Helper()
	spec, _ := json.Marshal(childSpec{Engine: engine, Config: backends.Config{URL: cfg.URL, Namespace: cfg.Namespace, Options: cfg.Options}, Queue: q, Tasks: tasks})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(spec))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting a worker process: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd
}
