package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends"
	"taskhost.dev/internal/jsontest"
)

var queueSeq atomic.Int64

// env is one test's backend, queue and running workers.
type env struct {
	t      *testing.T
	engine string
	cfg    backends.Config
	b      *backends.Client
	queue  string
}

func newEnv(t *testing.T, engine string, cfg backends.Config) *env {
	t.Helper()
	ctx := context.Background()
	b, err := backends.Open(ctx, engine, cfg)
	if err != nil {
		t.Fatalf("opening %s: %v", engine, err)
	}
	t.Cleanup(func() { b.Close() })
	q := fmt.Sprintf("bt_%s_%d_%d", strings.ToLower(strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())), time.Now().UnixNano()%1e6, queueSeq.Add(1))
	if len(q) > 60 {
		q = q[len(q)-60:]
	}
	if err := b.Register(ctx, taskSpecs(q)...); err != nil {
		t.Fatalf("Register: %v", err)
	}
	return &env{t: t, engine: engine, cfg: cfg, b: b, queue: q}
}

// work runs a worker on queues until the returned stop is called; stop
// returns Work's error.
func (e *env) work(h backends.Handler, opts backends.WorkerOptions) (stop func() error) {
	if opts.Queues == nil {
		opts.Queues = []string{e.queue}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	stopping := make(chan struct{})
	go func() {
		err := e.b.Work(ctx, opts, h)
		select {
		case <-stopping:
		default:
			e.t.Errorf("Work returned before the test stopped it: %v", err)
		}
		done <- err
	}()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			close(stopping)
			cancel()
			select {
			case err = <-done:
			case <-time.After(time.Minute):
				err = errors.New("Work did not return within a minute of its context ending")
			}
		})
		return err
	}
	e.t.Cleanup(func() { stop() })
	return stop
}

func (e *env) submit(task, input string, opts ...backends.SubmitOption) string {
	e.t.Helper()
	id, err := e.b.Submit(context.Background(), task, json.RawMessage(input), opts...)
	if err != nil {
		e.t.Fatalf("Submit(%s, %s): %v", task, input, err)
	}
	return id
}

func (e *env) wait(id string, within time.Duration) backends.TaskResult {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	r, err := e.b.Wait(ctx, id)
	if err != nil {
		e.t.Fatalf("Wait(%s): %v (last seen %+v)", id, err, r)
	}
	return r
}

// Run runs the conformance suite against the named engine.
func Run(t *testing.T, engine string, cfg backends.Config) {
	tests := []struct {
		name string
		fn   func(t *testing.T, engine string, cfg backends.Config)
	}{
		{"RoundTrip", testRoundTrip},
		{"TypedFailure", testTypedFailure},
		{"RetryThenSuccess", testRetryThenSuccess},
		{"RetryBackoff", testRetryBackoff},
		{"Timeout", testTimeout},
		{"QueueRouting", testQueueRouting},
		{"DelayAndUniqueKey", testDelayAndUniqueKey},
		{"UnknownTask", testUnknownTask},
		{"UnknownID", testUnknownID},
		{"UniqueKeyReleased", testUniqueKeyReleased},
		{"ConcurrencyIsTotal", testConcurrencyIsTotal},
		{"StrictPriority", testStrictPriority},
		{"Concurrent1000", testConcurrent1000},
		{"GracefulDrain", testGracefulDrain},
		{"DrainStopsEveryQueue", testDrainStopsEveryQueue},
		{"SequentialWorkflow", testSequentialWorkflow},
		{"ParallelWorkflow", testParallelWorkflow},
		{"FailedWorkflow", testFailedWorkflow},
		{"CancelQueued", testCancelQueued},
		{"CancelRunning", testCancelRunning},
		{"CancelFinished", testCancelFinished},
		{"CancelWorkflow", testCancelWorkflow},
		{"SubmitMany", testSubmitMany},
		{"ScheduleOncePerTick", testScheduleOncePerTick},
		{"Inspect", testInspect},
		{"Progress", testProgress},
		{"TracePropagation", testTracePropagation},
		{"KilledWorker", testKilledWorker},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, engine, cfg) })
	}
}

func testRoundTrip(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	e.work(newHandler(), backends.WorkerOptions{})
	before := time.Now().Add(-time.Second)
	id := e.submit("bt_echo", `{"hello":"world","n":[1,2,3]}`)
	r := e.wait(id, 30*time.Second)
	if r.Status != backends.StatusSucceeded || r.Error != nil {
		t.Fatalf("result %+v, want succeeded", r)
	}
	if !jsontest.Equal(r.Output, `{"hello":"world","n":[1,2,3]}`) {
		t.Errorf("output %s, want the input back", r.Output)
	}
	if r.ID != id || r.Task != "bt_echo" || r.Attempts != 1 || r.Engine != engine || r.Queue != e.queue {
		t.Errorf("result %+v: want id %s, task bt_echo, 1 attempt, engine %s, queue %s", r, id, engine, e.queue)
	}
	if r.EnqueuedAt.Before(before) || r.StartedAt.Before(r.EnqueuedAt) || r.FinishedAt.Before(r.StartedAt) {
		t.Errorf("times out of order: enqueued %v, started %v, finished %v", r.EnqueuedAt, r.StartedAt, r.FinishedAt)
	}
	again, err := e.b.Result(context.Background(), id)
	if err != nil || again.Status != backends.StatusSucceeded || !jsontest.Equal(again.Output, string(r.Output)) {
		t.Errorf("Result after Wait = %+v, %v", again, err)
	}
}

func testTypedFailure(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	h := newHandler()
	e.work(h, backends.WorkerOptions{})
	id := e.submit("bt_fail", `{}`)
	r := e.wait(id, 30*time.Second)
	if r.Status != backends.StatusFailed || r.Error == nil {
		t.Fatalf("result %+v, want failed with an error", r)
	}
	if r.Error.Kind != abi.KindFailed || r.Error.Retryable || !strings.Contains(r.Error.Message, "failed on purpose") {
		t.Errorf("error %+v, want a non-retryable failed error", r.Error)
	}
	if n := h.count(id); n != 1 {
		t.Errorf("a non-retryable failure ran %d times, want 1 (bt_fail has 3 retries)", n)
	}
}

func testRetryThenSuccess(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	e.work(newHandler(), backends.WorkerOptions{})
	id := e.submit("bt_flaky", `{}`)
	r := e.wait(id, 60*time.Second)
	if r.Status != backends.StatusSucceeded || r.Attempts != 2 || !jsontest.Equal(r.Output, `{"attempt":2}`) {
		t.Fatalf("result %+v (output %s), want success on attempt 2", r, r.Output)
	}
}

// testRetryBackoff: a task's own backoff (TaskSpec.Backoff, the
// manifest's retry_* keys) sets the waits between its attempts: 2 s, then
// 4 s, where the default waits 1 s, then 2 s (issue 18).
func testRetryBackoff(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	h := newHandler()
	e.work(h, backends.WorkerOptions{})
	id := e.submit("bt_backoff", `{}`)
	r := e.wait(id, 60*time.Second)
	if r.Status != backends.StatusSucceeded || r.Attempts != 3 {
		t.Fatalf("result %+v, want success on attempt 3", r)
	}
	h.mu.Lock()
	var times []time.Time
	for _, ts := range h.attempts {
		times = append(times, ts...)
	}
	h.mu.Unlock()
	if len(times) != 3 {
		t.Fatalf("%d attempts ran, want 3", len(times))
	}
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second} {
		gap := times[i+1].Sub(times[i])
		t.Logf("attempts %d and %d: %s apart", i+1, i+2, gap.Round(time.Millisecond))
		// The wait less a margin for engines that count in whole seconds,
		// and no more than a few seconds late.
		if gap < want*85/100 || gap > want+8*time.Second {
			t.Errorf("attempts %d and %d started %s apart, want about %s", i+1, i+2, gap.Round(time.Millisecond), want)
		}
	}
}

func testTimeout(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	e.work(newHandler(), backends.WorkerOptions{})
	start := time.Now()
	id := e.submit("bt_sleep", `{"ms":10000}`, backends.Timeout(500*time.Millisecond), backends.MaxRetries(0))
	r := e.wait(id, 30*time.Second)
	if r.Status != backends.StatusFailed || r.Error == nil || r.Error.Kind != abi.KindTimeout {
		t.Fatalf("result %+v (error %+v), want failed with a timeout", r, r.Error)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("a 500ms timeout ended the task after %s", took)
	}
}

func testQueueRouting(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	other := e.queue + "_b"
	h := newHandler()
	e.work(h, backends.WorkerOptions{})
	idB := e.submit("bt_echo", `{"queue":"b"}`, backends.Queue(other))
	idA := e.submit("bt_echo", `{"queue":"a"}`)
	if r := e.wait(idA, 30*time.Second); r.Status != backends.StatusSucceeded {
		t.Fatalf("queue A task: %+v", r)
	}
	time.Sleep(300 * time.Millisecond)
	r, err := e.b.Result(context.Background(), idB)
	if err != nil || r.Status != backends.StatusPending || h.count(idB) != 0 {
		t.Fatalf("queue B task with only a queue A worker: %+v, %v, ran %d times; want pending and never run", r, err, h.count(idB))
	}
	e.work(newHandler(), backends.WorkerOptions{Queues: []string{other}})
	if r := e.wait(idB, 30*time.Second); r.Status != backends.StatusSucceeded || r.Queue != other {
		t.Fatalf("queue B task with a queue B worker: %+v", r)
	}
}

func testDelayAndUniqueKey(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	e.work(newHandler(), backends.WorkerOptions{})
	start := time.Now()
	id := e.submit("bt_echo", `{"delayed":true}`, backends.Delay(1500*time.Millisecond), backends.UniqueKey("bt-key-1-"+e.queue))
	again := e.submit("bt_echo", `{"delayed":true}`, backends.Delay(1500*time.Millisecond), backends.UniqueKey("bt-key-1-"+e.queue))
	if again != id {
		t.Errorf("a second submission with the same unique key made task %s beside %s", again, id)
	}
	other := e.submit("bt_echo", `{"delayed":true}`, backends.UniqueKey("bt-key-2-"+e.queue))
	if other == id {
		t.Errorf("a different unique key returned the same task %s", id)
	}
	if r, err := e.b.Result(context.Background(), id); err != nil || r.Status != backends.StatusPending {
		t.Errorf("a delayed task right after submission: %+v, %v; want pending", r, err)
	}
	r := e.wait(id, 30*time.Second)
	if r.Status != backends.StatusSucceeded || r.StartedAt.Sub(start) < 1400*time.Millisecond {
		t.Errorf("delayed task: %+v; want it started 1.5s after submission, not %s", r, r.StartedAt.Sub(start))
	}
}

func testUnknownTask(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	_, err := e.b.Submit(context.Background(), "bt_no_such_task", json.RawMessage(`{}`))
	var ute *backends.UnknownTaskError
	if !errors.As(err, &ute) || !strings.Contains(err.Error(), "bt_echo") {
		t.Fatalf("Submit of an unknown task: %v, want an UnknownTaskError listing the known tasks", err)
	}
	if _, err := e.b.Submit(context.Background(), "bt_echo", json.RawMessage(`{not json`)); err == nil {
		t.Fatal("Submit with an invalid JSON input succeeded")
	}
}

func testUnknownID(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	// Ids of every engine's form, and ones of none.
	for _, id := range []string{"987654321987", "no-such-id", "", "bt_nosuch/3f2c6c1e-5a7e-4f0e-9d0a-6b9b4c1d2e3f",
		"3f2c6c1e-5a7e-4f0e-9d0a-6b9b4c1d2e3f", "task-5a7e4f0e9d0a6b9b4c1d"} {
		if _, err := e.b.Result(context.Background(), id); !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Result(%q) = %v, want ErrNotFound", id, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		_, err := e.b.Wait(ctx, id)
		cancel()
		if !errors.Is(err, backends.ErrNotFound) {
			t.Errorf("Wait(%q) = %v, want ErrNotFound", id, err)
		}
		// The client promises ErrNotFound within a second; the margin is
		// for a loaded machine.
		if took := time.Since(start); took > 1500*time.Millisecond {
			t.Errorf("Wait(%q) took %s to say it is unknown, want within a second", id, took)
		}
	}
}

func testConcurrent1000(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	h := newHandler()
	e.work(h, backends.WorkerOptions{Concurrency: 16})
	const n = 1000
	ids := make([]string, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				id, err := e.b.Submit(context.Background(), "bt_echo", json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)))
				if err != nil {
					errs <- err
					return
				}
				ids[i] = id
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Submit: %v", err)
	}
	seen := map[string]bool{}
	for i, id := range ids {
		if seen[id] {
			t.Fatalf("id %s returned twice", id)
		}
		seen[id] = true
		r := e.wait(id, 2*time.Minute)
		if r.Status != backends.StatusSucceeded || !jsontest.Equal(r.Output, fmt.Sprintf(`{"i":%d}`, i)) {
			t.Fatalf("task %d (%s): %+v, output %s", i, id, r, r.Output)
		}
		if c := h.count(id); c != 1 {
			t.Fatalf("task %d (%s) ran %d times, want once", i, id, c)
		}
	}
}

func testGracefulDrain(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	h := newHandler()
	h.start = make(chan string, 1)
	stop := e.work(h, backends.WorkerOptions{Grace: 20 * time.Second})
	id := e.submit("bt_sleep", `{"ms":1500}`)
	select {
	case <-h.start:
	case <-time.After(30 * time.Second):
		t.Fatal("the task did not start within 30s")
	}
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Work: %v", err)
	}
	if took := time.Since(start); took < time.Second {
		t.Errorf("Work returned %s after its context ended, before the running task could finish", took)
	}
	r, err := e.b.Result(context.Background(), id)
	if err != nil || r.Status != backends.StatusSucceeded || r.Attempts != 1 {
		t.Fatalf("the task running at shutdown: %+v, %v; want it finished (succeeded, 1 attempt)", r, err)
	}
}

func testKilledWorker(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	// The tasks' timeout is short so that the engine's rescue of a dead
	// worker's tasks (keyed to the timeout) comes soon; the worker process
	// registers the tasks as this one does.
	spec := taskSpecs(e.queue)
	for i := range spec {
		spec[i].Timeout = 3 * time.Second
		spec[i].MaxRetries = 3
	}
	if err := e.b.Register(context.Background(), spec...); err != nil {
		t.Fatal(err)
	}
	child := startChild(t, engine, cfg, e.queue, spec)
	var ids []string
	for i := 0; i < 5; i++ {
		ids = append(ids, e.submit("bt_sleep", `{"ms":2000}`, backends.MaxRetries(3)))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := e.b.Result(context.Background(), ids[0])
		if err == nil && r.Status == backends.StatusRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the worker process did not start the tasks within 30s: %+v, %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	child.Wait()
	h := newHandler()
	e.work(h, backends.WorkerOptions{})
	for i, id := range ids {
		r := e.wait(id, 3*time.Minute)
		if r.Status != backends.StatusSucceeded {
			t.Errorf("task %s after the worker was killed and another started: %+v, %+v", id, r, r.Error)
			continue
		}
		// Attempts as recorded: the runs here, plus the one the killed
		// worker had started (certainly for the first task, which was
		// running; perhaps for the others).
		ran := h.count(id)
		if ran != 1 {
			t.Errorf("task %s ran %d times after the kill, want once", id, ran)
		}
		lo, hi := ran, ran+1
		if i == 0 {
			lo = ran + 1
		}
		if r.Attempts < lo || r.Attempts > hi {
			t.Errorf("task %s: %d attempts recorded, want %d to %d (%d run here, one perhaps killed)", id, r.Attempts, lo, hi, ran)
		}
	}
}
