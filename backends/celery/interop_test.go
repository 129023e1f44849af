package celery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends"
	"taskhost.dev/internal/jsontest"
)

// python returns Debian's Python with Celery, or skips the test when it
// is missing (make test installs it: make celery) unless
// TASKHOST_REQUIRE_CELERY is set, as make test sets it.
func python(t *testing.T) string {
	t.Helper()
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import celery, redis").Run(); err != nil {
		if os.Getenv("TASKHOST_REQUIRE_CELERY") != "" {
			t.Fatalf("%s cannot import celery and redis: %v (make celery installs python3-celery and python3-redis)", py, err)
		}
		t.Skipf("%s cannot import celery and redis (make celery installs them): %v", py, err)
	}
	return py
}

func testdata(t *testing.T) string {
	d, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func pyEnv(t *testing.T) []string {
	return append(os.Environ(), "CELERY_TEST_REDIS="+redisURL(), "PYTHONPATH="+testdata(t))
}

func uniqueQueue(prefix string) string { return fmt.Sprintf("%s_%d", prefix, time.Now().UnixNano()) }

func open(t *testing.T, opts map[string]string) *backends.Client {
	t.Helper()
	b, err := backends.Open(context.Background(), "celery", backends.Config{URL: redisURL(), Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func register(t *testing.T, b *backends.Client, specs ...backends.TaskSpec) {
	t.Helper()
	if err := b.Register(context.Background(), specs...); err != nil {
		t.Fatal(err)
	}
}

func work(t *testing.T, b *backends.Client, h backends.Handler, opts backends.WorkerOptions) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Work(ctx, opts, h) }()
	t.Cleanup(func() { cancel(); <-done })
}

// goTasks are the tasks our worker serves for Python's client.
var goTasks = backends.HandlerFunc(func(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
	switch t.Name {
	case "g_upper":
		var in struct{ Text string }
		json.Unmarshal(t.Input, &in)
		return json.Marshal(map[string]string{"text": strings.ToUpper(in.Text)})
	case "g_wrap":
		return json.Marshal(map[string]json.RawMessage{"wrapped": t.Input})
	case "g_fail":
		return nil, &backends.TaskError{Kind: abi.KindFailed, Message: "refused on purpose"}
	case "g_flaky":
		if t.Attempt < 2 {
			return nil, &backends.TaskError{Kind: abi.KindFailed, Message: "try again", Retryable: true}
		}
		return json.Marshal(map[string]int{"attempt": t.Attempt})
	case "py_slow": // the Python task of the same name sleeps; ours need not
		return json.RawMessage(`{"ran_by":"taskhost"}`), nil
	case "g_sleep":
		var in struct{ MS int }
		json.Unmarshal(t.Input, &in)
		select {
		case <-time.After(time.Duration(in.MS) * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return json.RawMessage(`{"ran_by":"taskhost"}`), nil
	}
	return nil, &backends.TaskError{Kind: abi.KindUnknownTask, Message: t.Name}
})

// TestPythonClient: Celery's own Python client calls tasks our worker
// runs: kwargs and args, a failure, a retry, a three-task chain, a
// countdown, an expired task and the STARTED state.
func TestPythonClient(t *testing.T) {
	py := python(t)
	q := uniqueQueue("pyclient")
	b := open(t, map[string]string{"track_started": "true"})
	var specs []backends.TaskSpec
	for _, n := range []string{"g_upper", "g_wrap", "g_fail", "g_flaky", "g_sleep"} {
		specs = append(specs, backends.TaskSpec{Name: n, Queue: q, MaxRetries: 2})
	}
	register(t, b, specs...)
	work(t, b, goTasks, backends.WorkerOptions{Concurrency: 4})
	cmd := exec.Command(py, "interop.py", "client", q)
	cmd.Dir, cmd.Env = testdata(t), pyEnv(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python client: %v\n%s", err, stderr.String())
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("python client printed %q: %v", out, err)
	}
	for key, want := range map[string]string{
		"kwargs":      `{"ok":{"text":"HI"}}`,
		"args":        `{"ok":{"text":"YO"}}`,
		"fail":        `{"exc":"TaskFailed","msg":"refused on purpose"}`,
		"retry":       `{"ok":{"attempt":2}}`,
		"chain":       `{"ok":{"wrapped":{"wrapped":{"text":"X"}}}}`,
		"chain_first": `{"ok":{"text":"X"}}`,
		"countdown":   `{"ok":{"text":"LATER"}}`,
		"sleep":       `{"ok":{"ran_by":"taskhost"}}`,
	} {
		if !jsontest.Equal(got[key], want) {
			t.Errorf("%s: %s, want %s", key, got[key], want)
		}
	}
	// The client reads the state every 20 ms until it is ready: it sees
	// STARTED (track_started) while the task sleeps, and PENDING only when
	// its first read comes before our idle worker has taken the task.
	var states []string
	json.Unmarshal(got["sleep_states"], &states)
	if !slices.Contains(states, "STARTED") || slices.ContainsFunc(states, func(s string) bool { return s != "PENDING" && s != "STARTED" }) {
		t.Errorf("sleep_states: %s, want STARTED, and PENDING at most besides", got["sleep_states"])
	}
	var expired struct{ Exc, Msg string }
	if json.Unmarshal(got["expired"], &expired); expired.Exc != "TaskRevokedError" || !strings.Contains(expired.Msg, "expired") {
		t.Errorf("expired: %s, want a TaskRevokedError saying it expired", got["expired"])
	}
	var secs float64
	json.Unmarshal(got["countdown_s"], &secs)
	if secs < 1 {
		t.Errorf("a countdown=1 task finished %.2fs after it was sent", secs)
	}
}

// pythonWorker starts a Celery worker (its own process group, so that a
// SIGKILL reaches the pool's processes too) on queue q.
func pythonWorker(t *testing.T, py, q string, args ...string) *exec.Cmd {
	t.Helper()
	argv := append([]string{"-m", "celery", "-A", "interop", "worker", "-Q", q, "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"}, args...)
	cmd := exec.Command(py, argv...)
	cmd.Dir, cmd.Env = testdata(t), pyEnv(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("python worker's log:\n%s", log.String())
		}
	})
	return cmd
}

func waitFor(t *testing.T, b *backends.Client, id string, within time.Duration) backends.TaskResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	r, err := b.Wait(ctx, id)
	if err != nil {
		t.Fatalf("Wait(%s): %v (last seen %+v)", id, err, r)
	}
	return r
}

// TestPythonWorkerServesSubmit: our Submit hands work to a Python Celery
// worker, and Wait reads what it stored.
func TestPythonWorkerServesSubmit(t *testing.T) {
	py := python(t)
	q := uniqueQueue("pyworker")
	b := open(t, nil)
	register(t, b, backends.TaskSpec{Name: "py_add", Queue: q}, backends.TaskSpec{Name: "py_fail", Queue: q})
	pythonWorker(t, py, q, "--pool=solo")
	ctx := context.Background()
	id, err := b.Submit(ctx, "py_add", json.RawMessage(`{"x":2,"y":3}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, b, id, time.Minute); r.Status != backends.StatusSucceeded || string(r.Output) != "5" || r.Task != "py_add" || r.Queue != q {
		t.Errorf("py_add by a Python worker: %+v (output %s)", r, r.Output)
	}
	id, err = b.Submit(ctx, "py_fail", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, b, id, time.Minute); r.Status != backends.StatusFailed || r.Error == nil || r.Error.Message != "ValueError: bad thing" {
		t.Errorf("py_fail by a Python worker: %+v (error %+v)", r, r.Error)
	}
}

// TestUniqueKeyOfPythonRunTask: a unique key holds while a Python worker
// has yet to run its task, and is free once it has, although a Python
// worker leaves our record of the task pending: the claim reads the
// holder's Celery result before it believes the record.
func TestUniqueKeyOfPythonRunTask(t *testing.T) {
	py := python(t)
	q := uniqueQueue("pyunique")
	b := open(t, nil)
	register(t, b, backends.TaskSpec{Name: "py_add", Queue: q})
	ctx := context.Background()
	key := backends.UniqueKey("py-" + q)
	first, err := b.Submit(ctx, "py_add", json.RawMessage(`{"x":1,"y":1}`), key)
	if err != nil {
		t.Fatal(err)
	}
	if dup, err := b.Submit(ctx, "py_add", json.RawMessage(`{"x":5,"y":5}`), key); err != nil || dup != first {
		t.Fatalf("a second submission while the first waits for a worker: %s, %v; want %s", dup, err, first)
	}
	pythonWorker(t, py, q, "--pool=solo")
	if r := waitFor(t, b, first, time.Minute); r.Status != backends.StatusSucceeded || string(r.Output) != "2" {
		t.Fatalf("the first task, run by a Python worker: %+v (output %s)", r, r.Output)
	}
	again, err := b.Submit(ctx, "py_add", json.RawMessage(`{"x":2,"y":2}`), key)
	if err != nil || again == first {
		t.Fatalf("a submission once the Python worker ran the key's task: %s, %v; want a new task", again, err)
	}
	if r := waitFor(t, b, again, time.Minute); r.Status != backends.StatusSucceeded || string(r.Output) != "4" {
		t.Errorf("the task submitted after the key was freed: %+v (output %s)", r, r.Output)
	}
}

// TestKilledPythonWorkerRestored: a Python worker with acks_late is killed
// mid-task; our worker puts the message back once older than its
// visibility timeout, and runs the task.
func TestKilledPythonWorkerRestored(t *testing.T) {
	py := python(t)
	q := uniqueQueue("pykilled")
	b := open(t, map[string]string{"visibility_timeout": "2s"})
	register(t, b, backends.TaskSpec{Name: "py_slow", Queue: q})
	w := pythonWorker(t, py, q, "--pool=prefork", "-c", "1")
	id, err := b.Submit(context.Background(), "py_slow", json.RawMessage(`{"ms":20000}`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := b.Result(context.Background(), id)
		if err == nil && r.Status == backends.StatusRunning {
			break // the Python worker stored STARTED
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Python worker did not start the task within a minute: %+v, %v", r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	syscall.Kill(-w.Process.Pid, syscall.SIGKILL)
	w.Wait()
	start := time.Now()
	work(t, b, goTasks, backends.WorkerOptions{})
	r := waitFor(t, b, id, time.Minute)
	if r.Status != backends.StatusSucceeded || !jsontest.Equal(r.Output, `{"ran_by":"taskhost"}`) {
		t.Fatalf("the killed Python worker's task: %+v (output %s), want run by our worker", r, r.Output)
	}
	t.Logf("restored and run %s after the kill", time.Since(start).Round(time.Millisecond))
}

// runPy runs interop.py with args and returns what it printed.
func runPy(t *testing.T, py string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(py, append([]string{"interop.py"}, args...)...)
	cmd.Dir, cmd.Env = testdata(t), pyEnv(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python interop.py %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// countingTasks are goTasks counting the attempts per task id, telling
// when a g_sleep starts and when it returns.
type countingTasks struct {
	mu      sync.Mutex
	runs    map[string]int
	started chan string
	ended   chan time.Time
}

func (c *countingTasks) ProcessTask(ctx context.Context, t *backends.Task) (json.RawMessage, error) {
	c.mu.Lock()
	c.runs[t.ID]++
	c.mu.Unlock()
	if t.Name == "g_sleep" {
		c.started <- t.ID
		defer func() { c.ended <- time.Now() }()
	}
	return goTasks.ProcessTask(ctx, t)
}

func (c *countingTasks) count(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.runs[id]
}

// TestPythonRevoke: a Python client's app.control.revoke reaches our
// workers. A task revoked while it waits is kept revoked in Redis by the
// worker that heard the broadcast, so that a worker started afterwards
// never runs it (Celery's workers keep revokes in memory only,
// celery#8888); revoke(terminate=True) stops our worker's running task,
// which ends REVOKED for the Python client and is not retried.
func TestPythonRevoke(t *testing.T) {
	py := python(t)
	q := uniqueQueue("pyrevoke")
	b := open(t, nil)
	register(t, b, backends.TaskSpec{Name: "g_upper", Queue: q, MaxRetries: 2}, backends.TaskSpec{Name: "g_sleep", Queue: q, MaxRetries: 2})
	ctx := context.Background()
	h := &countingTasks{runs: map[string]int{}, started: make(chan string, 4), ended: make(chan time.Time, 4)}
	// A worker of ours on another queue hears the broadcast.
	work(t, b, h, backends.WorkerOptions{Queues: []string{q + "_other"}})
	early, err := b.Submit(ctx, "g_upper", json.RawMessage(`{"text":"never"}`))
	if err != nil {
		t.Fatal(err)
	}
	runPy(t, py, "revoke", early)
	if r := waitFor(t, b, early, 30*time.Second); r.Status != backends.StatusCancelled {
		t.Fatalf("a waiting task revoked by a Python client: %+v, want cancelled", r)
	}
	work(t, b, h, backends.WorkerOptions{Queues: []string{q}})

	id, err := b.Submit(ctx, "g_sleep", json.RawMessage(`{"ms":20000}`))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.started:
	case <-time.After(30 * time.Second):
		t.Fatal("g_sleep did not start within 30s")
	}
	asked := time.Now()
	var got struct {
		Exc, State string
		Replies    []map[string]map[string]string
	}
	out := runPy(t, py, "revoke", id, "--terminate", "--wait", "--reply")
	if json.Unmarshal(out, &got) != nil || got.Exc != "TaskRevokedError" || got.State != "REVOKED" {
		t.Errorf("the Python client's view of the task it revoked: %s, want REVOKED and TaskRevokedError", out)
	}
	replied := false
	for _, r := range got.Replies {
		for node, body := range r {
			replied = replied || (strings.Contains(node, q) && body["ok"] != "")
		}
	}
	if !replied {
		t.Errorf("no reply to the revoke from our workers (named after their queues, %s): %s", q, out)
	}
	select {
	case at := <-h.ended:
		t.Logf("the running attempt stopped %s after the Python client began its revoke", at.Sub(asked).Round(time.Millisecond))
	case <-time.After(10 * time.Second):
		t.Fatal("the running attempt was not stopped within 10s of the revoke")
	}
	if r := waitFor(t, b, id, 30*time.Second); r.Status != backends.StatusCancelled || r.Error == nil || r.Error.Kind != abi.KindCancelled {
		t.Fatalf("a task terminated by a Python revoke: %+v, want cancelled", r)
	}
	// Not retried (g_sleep has 2 retries, the first after 1 s), and the
	// early task never ran, though this worker started after its revoke.
	probe, err := b.Submit(ctx, "g_upper", json.RawMessage(`{"text":"probe"}`), backends.Delay(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, b, probe, 30*time.Second)
	if n := h.count(id); n != 1 {
		t.Errorf("the terminated task ran %d times, want once", n)
	}
	if n := h.count(early); n != 0 {
		t.Errorf("the task revoked before its worker started ran %d times", n)
	}
}

// TestPythonWorkerObeysCancel: our Cancel is Celery's revoke with
// terminate, which a Python worker obeys: it kills the task's process and
// stores REVOKED ("terminated"), and its one process is free for the next
// task long before the cancelled one would have ended.
func TestPythonWorkerObeysCancel(t *testing.T) {
	py := python(t)
	q := uniqueQueue("pycancel")
	b := open(t, nil)
	register(t, b, backends.TaskSpec{Name: "py_slow", Queue: q}, backends.TaskSpec{Name: "py_add", Queue: q})
	pythonWorker(t, py, q, "--pool=prefork", "-c", "1")
	ctx := context.Background()
	id, err := b.Submit(ctx, "py_slow", json.RawMessage(`{"ms":30000}`))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := b.Result(ctx, id)
		if err == nil && r.Status == backends.StatusRunning {
			break // the Python worker stored STARTED
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Python worker did not start the task within a minute: %+v, %v", r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := b.Cancel(ctx, id); err != nil {
		t.Fatalf("Cancel of a task a Python worker runs: %v", err)
	}
	asked := time.Now()
	next, err := b.Submit(ctx, "py_add", json.RawMessage(`{"x":1,"y":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if r := waitFor(t, b, next, 20*time.Second); r.Status != backends.StatusSucceeded || string(r.Output) != "3" {
		t.Fatalf("the task after the cancelled one: %+v (output %s)", r, r.Output)
	}
	t.Logf("the Python worker's process was free %s after Cancel", time.Since(asked).Round(time.Millisecond))
	r, err := b.Result(ctx, id)
	if err != nil || r.Status != backends.StatusCancelled || r.Error == nil || !strings.Contains(r.Error.Message, "terminated") {
		t.Errorf("the cancelled task: %+v, %v (error %+v); want cancelled, as the Python worker stored it (TaskRevokedError: terminated)", r, err, r.Error)
	}
}

// TestPythonReadsProgress: a task's progress on our worker is Celery's
// PROGRESS state, which a Python client reads as AsyncResult.state and
// .info, as a Python task's update_state would have it.
func TestPythonReadsProgress(t *testing.T) {
	py := python(t)
	q := uniqueQueue("pyprogress")
	b := open(t, nil)
	register(t, b, backends.TaskSpec{Name: "g_progress", Queue: q})
	reported, release := make(chan struct{}), make(chan struct{})
	work(t, b, backends.HandlerFunc(func(ctx context.Context, task *backends.Task) (json.RawMessage, error) {
		task.Progress(abi.Progress{Percent: 40, Message: "reading"})
		close(reported)
		select {
		case <-release:
			return json.RawMessage(`{"done":true}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}), backends.WorkerOptions{})
	id, err := b.Submit(context.Background(), "g_progress", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-reported:
	case <-time.After(30 * time.Second):
		t.Fatal("the task did not report progress within 30s")
	}
	out := runPy(t, py, "info", id)
	close(release)
	if !jsontest.Equal(out, `{"state":"PROGRESS","info":{"percent":40,"message":"reading"}}`) {
		t.Errorf("Python's AsyncResult of a task that reported progress: %s, want state PROGRESS and the progress as info", out)
	}
	if r := waitFor(t, b, id, 30*time.Second); r.Status != backends.StatusSucceeded || r.Progress == nil || r.Progress.Percent != 40 {
		t.Errorf("the task once done: %+v, want succeeded with its last progress", r)
	}
}
