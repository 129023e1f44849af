package hatchet

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"taskhost.dev/backends/driver"
)

// worker is one Work call. Its Hatchet registration can be replaced while
// it runs (see register), which is how tasks registered after the start
// are served: Hatchet does not add workflows to a started worker
// (hatchet-dev/hatchet#1353).
type worker struct {
	b      *backend
	h      driver.Handler
	cfg    driver.WorkerConfig
	runCtx context.Context // cancelled when the grace period ends
	// slots bounds the tasks running at once over every registration of
	// the worker: each registration has cfg.Concurrency Hatchet slots,
	// and while one replaces another both may hold tasks.
	slots chan struct{}
	// registering is held by one registration at a time (a semaphore that
	// honours ctx); the drain never takes it.
	registering chan struct{}
	key         string // what the current registration serves (under registering)

	mu       sync.Mutex
	stopSDK  func() error    // the current registration's stop; nil before the first
	stopping bool            // the drain has started: no registration is kept
	pending  sync.WaitGroup  // registrations not yet decided (kept or stopped)
	running  int             // tasks and steps running now
	idle     chan struct{}   // closed when running drops to 0, if someone waits
	runs     map[string]bool // the runs of tasks running now
	finished []string        // the runs of tasks that ended during the drain
}

// Work implements driver.Driver: one Hatchet worker registration with
// every registered task on each of cfg.Queues and every declared
// workflow's DAG, cfg.Concurrency Hatchet slots, until ctx ends; then it
// stops taking tasks (on every queue at once: it is one registration),
// lets running ones finish within the grace and waits until the engine
// has recorded their outcomes.
func (b *backend) Work(ctx context.Context, cfg driver.WorkerConfig, h driver.Handler) error {
	if cfg.Priorities != nil || cfg.StrictPriority {
		return &driver.UnsupportedError{Engine: Engine, What: "queue priorities", Hint: "Hatchet orders runs by run priority, not by queue; run one worker per queue instead"}
	}
	runCtx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuns()
	w := &worker{b: b, h: h, cfg: cfg, runCtx: runCtx, slots: make(chan struct{}, cfg.Concurrency),
		registering: make(chan struct{}, 1), runs: map[string]bool{}}
	b.mu.Lock()
	b.workers[w] = true
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.workers, w)
		b.mu.Unlock()
	}()
	err := w.register(ctx)
	if err != nil && ctx.Err() == nil {
		w.drain(stopRuns)
		return err
	}
	<-ctx.Done()
	w.drain(stopRuns)
	return nil
}

// drain stops the current registration (no new tasks), then any that
// were being made (once the engine has them: the SDK panics when a
// registration is stopped before), lets the running tasks finish within
// the grace, and waits until the engine has recorded their outcomes: the
// SDK reports a result on a call of its own after the task returned, and
// the engine records it a moment later.
func (w *worker) drain(stopRuns context.CancelFunc) {
	w.mu.Lock()
	w.stopping = true
	stop := w.stopSDK
	w.stopSDK = nil
	w.mu.Unlock()
	if stop != nil {
		if err := stop(); err != nil {
			w.b.logger.Warn("hatchet: stopping the worker", "err", err)
		}
	}
	graceOver := make(chan struct{})
	grace := time.AfterFunc(w.cfg.Grace, func() { stopRuns(); close(graceOver) })
	defer grace.Stop()
	decided := make(chan struct{})
	go func() { w.pending.Wait(); close(decided) }()
	select {
	case <-decided:
	case <-graceOver:
		select {
		case <-decided:
		case <-time.After(registerWithin):
			w.b.logger.Warn("hatchet: a worker registration was still being made when the drain ended; it stops itself once the engine has it", "worker", w.cfg.Name)
		}
	}
	<-w.idleCh() // once the grace is over, the running tasks are cancelled
	w.mu.Lock()
	last := w.finished
	for run := range w.runs {
		last = append(last, run)
	}
	w.mu.Unlock()
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, run := range last {
		for wctx.Err() == nil {
			if d, err := w.b.details(wctx, run); err != nil || d.Done {
				break
			}
			driver.Pause(wctx, 20*time.Millisecond, nil)
		}
	}
}

// begin counts a task or step as running (run, if set, is its run id).
func (w *worker) begin(run string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running++
	if run != "" {
		w.runs[run] = true
	}
}

// end undoes begin.
func (w *worker) end(run string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.running--
	if run != "" {
		delete(w.runs, run)
		if w.stopping {
			w.finished = append(w.finished, run)
		}
	}
	if w.running == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// idleCh is closed once no task runs.
func (w *worker) idleCh() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running == 0 {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	return w.idle
}

// slot takes one of the worker's slots for a task, until ctx ends; the
// returned release gives it back.
func (w *worker) slot(ctx context.Context) (release func(), err error) {
	select {
	case w.slots <- struct{}{}:
		return func() { <-w.slots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for one of the worker's %d slots: %w", w.cfg.Concurrency, ctx.Err())
	}
}

// TasksChanged implements driver.TaskRegistrar: each running worker of
// this process registers again with the engine, if what it would serve
// changed (Hatchet takes no new workflows on a started worker,
// hatchet-dev/hatchet#1353). It returns when the engine has the new
// registrations, or with ctx's error: a registration still being made
// then is kept or stopped on its own (see register).
func (b *backend) TasksChanged(ctx context.Context) error {
	b.mu.Lock()
	ws := make([]*worker, 0, len(b.workers))
	for w := range b.workers {
		ws = append(ws, w)
	}
	b.mu.Unlock()
	var errs []error
	for _, w := range ws {
		if err := w.register(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
