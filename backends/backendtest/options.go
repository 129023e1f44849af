package backendtest

import (
	"context"
	"errors"
	"testing"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/internal/jsontest"
)

// The tests of what an option means on every engine: unique keys,
// concurrency, queue priorities, the drain.

// testUniqueKeyReleased: a unique key holds while its task is pending or
// running, a duplicate leaves the first task's record alone, and once the
// task is done the key is free.
func testUniqueKeyReleased(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	h := newHandler()
	e.work(h, backends.WorkerOptions{})
	first := e.submit("bt_sleep", `{"ms":400}`, backends.UniqueKey("bt-held-"+e.queue))
	dup := e.submit("bt_sleep", `{"ms":1}`, backends.UniqueKey("bt-held-"+e.queue))
	if dup != first {
		t.Errorf("a submission with a held key made task %s beside %s", dup, first)
	}
	r := e.wait(first, 30*time.Second)
	if r.Status != backends.StatusSucceeded || !jsontest.Equal(r.Output, `{"slept_ms":400}`) || h.count(first) != 1 {
		t.Fatalf("the first task: %+v (output %s, ran %d times); want it run once with its own input", r, r.Output, h.count(first))
	}
	again := e.submit("bt_sleep", `{"ms":2}`, backends.UniqueKey("bt-held-"+e.queue))
	if again == first {
		t.Fatalf("the key of a finished task still deduplicates: got %s again", first)
	}
	if r := e.wait(again, 30*time.Second); r.Status != backends.StatusSucceeded || !jsontest.Equal(r.Output, `{"slept_ms":2}`) {
		t.Errorf("the task submitted after the key was freed: %+v (output %s)", r, r.Output)
	}
	if r, err := e.b.Result(context.Background(), first); err != nil || r.Status != backends.StatusSucceeded || !jsontest.Equal(r.Output, `{"slept_ms":400}`) || r.Attempts != 1 {
		t.Errorf("the first task's record after a second use of its key: %+v (output %s), %v; want it unchanged", r, r.Output, err)
	}
}

// testConcurrencyIsTotal: WorkerOptions.Concurrency bounds the tasks
// running at once over all of a worker's queues.
func testConcurrencyIsTotal(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	other := e.queue + "_b"
	h := newHandler()
	e.work(h, backends.WorkerOptions{Queues: []string{e.queue, other}, Concurrency: 3})
	var ids []string
	for i := range 12 {
		q := e.queue
		if i%2 == 1 {
			q = other
		}
		ids = append(ids, e.submit("bt_sleep", `{"ms":300}`, backends.Queue(q)))
	}
	for _, id := range ids {
		if r := e.wait(id, time.Minute); r.Status != backends.StatusSucceeded {
			t.Fatalf("task %s: %+v", id, r)
		}
	}
	if peak := h.peak(); peak > 3 || peak < 2 {
		t.Errorf("at most %d tasks ran at once with Concurrency 3 over two queues; want 3 (2 at the least), never more", peak)
	}
}

// testStrictPriority: where the engine offers queue priorities, a strict
// worker empties the higher queue first; elsewhere priorities are refused
// with ErrUnsupported.
func testStrictPriority(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	high, low := e.queue+"_hi", e.queue
	var ids []string
	for range 5 {
		ids = append(ids, e.submit("bt_echo", `{"q":"low"}`, backends.Queue(low)))
	}
	for range 5 {
		ids = append(ids, e.submit("bt_echo", `{"q":"high"}`, backends.Queue(high)))
	}
	h := newHandler()
	h.order = make(chan string, len(ids))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- e.b.Work(ctx, backends.WorkerOptions{Queues: []string{high, low}, Priorities: map[string]int{high: 9, low: 1}, StrictPriority: true, Concurrency: 1}, h)
	}()
	for range ids {
		select {
		case err := <-done:
			if errors.Is(err, backends.ErrUnsupported) {
				t.Logf("%s has no queue priorities: %v", engine, err)
				return
			}
			t.Fatalf("Work returned early: %v", err)
		case <-h.order:
		case <-time.After(time.Minute):
			t.Fatal("the tasks did not all run within a minute")
		}
	}
	h.mu.Lock()
	seq := append([]string(nil), h.seq...)
	h.mu.Unlock()
	for i, q := range seq {
		if want := map[bool]string{true: "high", false: "low"}[i < 5]; q != want {
			t.Fatalf("queues in the order run: %v; want the five high ones first", seq)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Work: %v", err)
	}
}

// testDrainStopsEveryQueue: once a worker's drain starts, it takes no task
// from any of its queues, while the running ones finish.
func testDrainStopsEveryQueue(t *testing.T, engine string, cfg backends.Config) {
	e := newEnv(t, engine, cfg)
	other := e.queue + "_b"
	h := newHandler()
	h.start = make(chan string, 1)
	stop := e.work(h, backends.WorkerOptions{Queues: []string{e.queue, other}, Grace: 20 * time.Second})
	running := e.submit("bt_sleep", `{"ms":2000}`)
	select {
	case <-h.start:
	case <-time.After(30 * time.Second):
		t.Fatal("the task did not start within 30s")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Well into the drain (the running task has 2 s to go), work arrives
	// on both queues.
	time.Sleep(300 * time.Millisecond)
	late := []string{e.submit("bt_echo", `{"late":1}`), e.submit("bt_echo", `{"late":2}`, backends.Queue(other))}
	if err := <-stopped; err != nil {
		t.Fatalf("Work: %v", err)
	}
	if r, err := e.b.Result(context.Background(), running); err != nil || r.Status != backends.StatusSucceeded {
		t.Errorf("the task running at the drain: %+v, %v; want it finished", r, err)
	}
	for _, id := range late {
		if n := h.count(id); n != 0 {
			t.Errorf("task %s submitted during the drain ran %d times; a draining worker takes no new task on any queue", id, n)
		}
	}
}
