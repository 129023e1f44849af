package backendtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/internal/jsontest"
)

// The tests of cancellation, batch submission and schedules (issue 16).
// An engine that truly lacks one says so with ErrUnsupported (and the
// README's table); the test then skips, naming it.

// unsupported skips the test when err says the engine lacks the power.
func unsupported(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, backends.ErrUnsupported) {
		t.Skipf("unsupported on this engine: %v", err)
	}
}

// cancelBound is how soon a running task's attempt must stop after Cancel
// returns: 100 ms is the promise; the rest is margin for a loaded
// two-core machine running other test packages.
const cancelBound = 100*time.Millisecond + 400*time.Millisecond

func testCancelQueued(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	ctx := context.Background()
	delayed := e.submit("bt_echo", `{"c":"delayed"}`, backends.Delay(3*time.Second))
	queued := e.submit("bt_echo", `{"c":"queued"}`, backends.Queue(e.queue+"_idle"))
	for _, id := range []string{delayed, queued} {
		err := e.b.Cancel(ctx, id)
		unsupported(t, err)
		if err != nil {
			t.Fatalf("Cancel(%s) of a task not yet run: %v", id, err)
		}
	}
	h := newHandler()
	e.work(h, backends.WorkerOptions{Queues: []string{e.queue, e.queue + "_idle"}})
	for _, id := range []string{delayed, queued} {
		r := e.wait(id, 30*time.Second)
		if r.Status != backends.StatusCancelled {
			t.Errorf("a cancelled task: %+v, want cancelled", r)
		}
	}
	// Past the delayed task's time, with a worker on both queues.
	probe := e.submit("bt_echo", `{"c":"probe"}`, backends.Delay(3500*time.Millisecond))
	e.wait(probe, 30*time.Second)
	for _, id := range []string{delayed, queued} {
		if n := h.count(id); n != 0 {
			t.Errorf("cancelled task %s ran %d times", id, n)
		}
	}
}

func testCancelRunning(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	h := newHandler()
	h.start = make(chan string, 1)
	h.ended = make(chan time.Time, 1)
	e.work(h, backends.WorkerOptions{})
	id := e.submit("bt_slow", `{"ms":20000}`)
	select {
	case <-h.start:
	case <-time.After(30 * time.Second):
		t.Fatal("the task did not start within 30s")
	}
	err := e.b.Cancel(context.Background(), id)
	unsupported(t, err)
	if err != nil {
		t.Fatalf("Cancel of a running task: %v", err)
	}
	asked := time.Now()
	select {
	case at := <-h.ended:
		if took := at.Sub(asked); took > cancelBound {
			t.Errorf("the running attempt stopped %s after Cancel returned; want within 100 ms", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the running attempt was not stopped within 10 s of Cancel")
	}
	r := e.wait(id, 30*time.Second)
	if r.Status != backends.StatusCancelled {
		t.Fatalf("a task cancelled while running: %+v, want cancelled", r)
	}
	// Not retried: bt_slow has 3 retries.
	probe := e.submit("bt_echo", `{}`, backends.Delay(2*time.Second))
	e.wait(probe, 30*time.Second)
	if n := h.count(id); n != 1 {
		t.Errorf("a task cancelled while running ran %d times, want once", n)
	}
}

func testCancelFinished(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	e.work(newHandler(), backends.WorkerOptions{})
	id := e.submit("bt_echo", `{"done":true}`)
	e.wait(id, 30*time.Second)
	err := e.b.Cancel(context.Background(), id)
	unsupported(t, err)
	if !errors.Is(err, backends.ErrFinished) {
		t.Errorf("Cancel of a finished task: %v, want ErrFinished", err)
	}
	if r, err := e.b.Result(context.Background(), id); err != nil || r.Status != backends.StatusSucceeded || !jsontest.Equal(r.Output, `{"done":true}`) {
		t.Errorf("a finished task after Cancel: %+v, %v; want it left as it was", r, err)
	}
	if err := e.b.Cancel(context.Background(), "987654321987"); !errors.Is(err, backends.ErrNotFound) {
		t.Errorf("Cancel of an unknown id: %v, want ErrNotFound", err)
	}
}

func testCancelWorkflow(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	wf := backends.NewWorkflow("bt_cancel").Then("bt_sleep", `{"ms":20000}`).Then("bt_echo")
	e.declare(wf)
	h := newHandler()
	h.start = make(chan string, 1)
	e.work(h, backends.WorkerOptions{})
	id, err := e.b.SubmitWorkflow(context.Background(), *wf, json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.start:
	case <-time.After(30 * time.Second):
		t.Fatal("the first step did not start within 30s")
	}
	err = e.b.CancelWorkflow(context.Background(), id)
	unsupported(t, err)
	if err != nil {
		t.Fatalf("CancelWorkflow: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := e.b.WaitWorkflow(ctx, id)
	if err != nil || r.Status != backends.StatusCancelled {
		t.Fatalf("a cancelled workflow: %+v, %v; want cancelled", r, err)
	}
	for _, s := range r.Steps {
		if s.TaskID != "" {
			s.Status = e.wait(s.TaskID, 30*time.Second).Status
		}
		if s.Status != backends.StatusCancelled {
			t.Errorf("step %d.%d (%s) of a cancelled workflow: %s, want cancelled", s.Stage+1, s.Index+1, s.Task, s.Status)
		}
	}
}

func testSubmitMany(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	e.work(newHandler(), backends.WorkerOptions{})
	var batch []backends.Submission
	for i := range 50 {
		batch = append(batch, backends.Submission{Task: "bt_echo", Input: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))})
	}
	ids, err := e.b.SubmitMany(context.Background(), batch)
	if err != nil || len(ids) != len(batch) {
		t.Fatalf("SubmitMany: %d ids, %v", len(ids), err)
	}
	for i, id := range ids {
		if r := e.wait(id, time.Minute); r.Status != backends.StatusSucceeded || !jsontest.Equal(r.Output, fmt.Sprintf(`{"i":%d}`, i)) {
			t.Fatalf("entry %d (%s): %+v, output %s; want its own input back", i, id, r, r.Output)
		}
	}
	bad := append(batch[:3:3], backends.Submission{Task: "bt_nope", Input: json.RawMessage(`{}`)})
	_, err = e.b.SubmitMany(context.Background(), bad)
	var be *backends.BatchError
	if !errors.As(err, &be) || be.Index != 3 {
		t.Fatalf("a batch with an unknown task at index 3: %v, want a *BatchError naming index 3", err)
	}
}

// testScheduleOncePerTick: two workers of one deployment, a schedule every
// second: each tick runs exactly once; deleted, it stops.
func testScheduleOncePerTick(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	ctx := context.Background()
	second, err := backends.Open(ctx, engine, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Close() })
	if err := second.Register(ctx, taskSpecs(e.queue)...); err != nil {
		t.Fatal(err)
	}
	h := newHandler()
	h.order = make(chan string, 100)
	e.work(h, backends.WorkerOptions{})
	wctx, stopSecond := context.WithCancel(ctx)
	secondDone := make(chan error, 1)
	go func() { secondDone <- second.Work(wctx, backends.WorkerOptions{Queues: []string{e.queue}}, h) }()
	// The second worker stops before its client closes (Cleanup runs
	// after the test's defers).
	defer func() { stopSecond(); <-secondDone }()
	name := "bt_" + e.queue
	input := fmt.Sprintf(`{"q":%q}`, name)
	err = e.b.CreateSchedule(ctx, backends.Schedule{Name: name, Task: "bt_echo", Input: json.RawMessage(input), Every: time.Second})
	unsupported(t, err)
	if err != nil {
		t.Fatalf("CreateSchedule: %v", err)
	}
	start := time.Now()
	var runs []time.Time
	for len(runs) < 4 {
		select {
		case <-h.order:
			runs = append(runs, time.Now())
		case <-time.After(20 * time.Second):
			t.Fatalf("after %d runs, no tick for 20 s", len(runs))
		}
	}
	list, err := e.b.Schedules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range list {
		if s.Name == name {
			found = true
			if s.LastID == "" || s.NextRun.IsZero() {
				t.Errorf("schedule listing %+v: want its last run's task id and its next run", s)
			}
		}
	}
	if !found {
		t.Errorf("Schedules() does not list %s: %+v", name, list)
	}
	if err := e.b.DeleteSchedule(ctx, name); err != nil {
		t.Fatalf("DeleteSchedule: %v", err)
	}
	elapsed := time.Since(start)
	for i := 1; i < len(runs); i++ {
		if gap := runs[i].Sub(runs[i-1]); gap < 500*time.Millisecond {
			t.Errorf("ticks %d and %d ran %s apart: a tick ran twice (two workers)", i, i+1, gap)
		}
	}
	// After the delete, at most the tick in flight runs.
	late := 0
	deadline := time.After(3 * time.Second)
	for done := false; !done; {
		select {
		case <-h.order:
			late++
		case <-deadline:
			done = true
		}
	}
	if late > 1 {
		t.Errorf("%d ticks ran after DeleteSchedule (%s after the first)", late, elapsed)
	}
}
