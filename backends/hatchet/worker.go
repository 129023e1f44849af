package hatchet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	pkgworker "github.com/hatchet-dev/hatchet/pkg/worker"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"
	"github.com/rs/zerolog"

	"taskhost.dev/backends"
)

// DefaultConcurrency is the number of tasks a worker runs at once (its
// Hatchet slots) when WorkerOptions.Concurrency is zero.
const DefaultConcurrency = 10

// worker is one Work call. Its Hatchet registration can be replaced
// while it runs (restart), which is how tasks registered after the start
// are served: Hatchet does not add workflows to a started worker
// (hatchet-dev/hatchet#1353).
type worker struct {
	b       *backend
	h       backends.Handler
	queues  []string
	conc    int
	name    string
	runCtx  context.Context // cancelled when the grace period ends
	running sync.WaitGroup

	mu   sync.Mutex
	runs map[string]bool // the runs of tasks running now

	swap    sync.Mutex
	stopSDK func() error // the current Hatchet worker's stop; nil once Work stops
}

// Work registers a Hatchet worker for every registered task on each of
// opts.Queues (and the declared workflows' DAGs), runs tasks until ctx
// ends, then stops taking tasks and lets running ones finish within the
// grace period. Tasks registered while it runs are served by a new
// Hatchet worker that replaces the first (see restart).
func (b *backend) Work(ctx context.Context, opts backends.WorkerOptions, h backends.Handler) error {
	if len(opts.Priorities) > 0 || opts.StrictPriority {
		return &backends.UnsupportedError{Engine: Engine, What: "queue priorities", Hint: "Hatchet orders runs by run priority, not by queue; run one worker per queue instead"}
	}
	queues := b.tasks.WorkerQueues(opts, DefaultQueue)
	opts = opts.WithDefaults(DefaultConcurrency)
	conc, grace := opts.Concurrency, opts.Grace
	name := opts.Name
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("taskhost-%d@%s", os.Getpid(), host)
	}
	runCtx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuns()
	w := &worker{b: b, h: h, queues: queues, conc: conc, name: name, runCtx: runCtx, runs: map[string]bool{}}
	if err := w.restart(); err != nil {
		return err
	}
	b.mu.Lock()
	b.workers[w] = true
	b.mu.Unlock()
	<-ctx.Done()
	b.mu.Lock()
	delete(b.workers, w)
	b.mu.Unlock()
	// Stop listening (no new tasks), then let the running ones finish:
	// their results go back on calls of their own.
	w.swap.Lock()
	if err := w.stopSDK(); err != nil {
		b.logger.Warn("hatchet: stopping the worker", "err", err)
	}
	w.stopSDK = nil
	w.swap.Unlock()
	w.mu.Lock()
	var last []string
	for run := range w.runs {
		last = append(last, run)
	}
	w.mu.Unlock()
	drained := make(chan struct{})
	go func() { w.running.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(grace):
		stopRuns()
		<-drained
	}
	// The SDK reports a result on a call of its own, after the task
	// returned, and the engine records it a moment later: Work returns
	// once the engine has the outcome of the tasks that were running.
	wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, run := range last {
		for wctx.Err() == nil {
			if d, err := b.details(wctx, run); err != nil || d.Done {
				break
			}
			sleepCtx(wctx, 20*time.Millisecond)
		}
	}
	return nil
}

// restart registers a Hatchet worker for every task registered now (on
// each of the worker's queues) and every declared workflow, waits until
// the engine lists it, then stops the one it replaces, which takes no
// more tasks while its running ones finish.
func (w *worker) restart() error {
	b := w.b
	var flows []hatchet.WorkflowBase
	for _, spec := range b.tasks.All() {
		for _, q := range w.queues {
			flows = append(flows, b.taskWorkflow(spec, q, w.taskFn(spec)))
		}
	}
	dags, err := b.dagWorkflows(w)
	if err != nil {
		return err
	}
	flows = append(flows, dags...)
	if len(flows) == 0 {
		return errors.New("hatchet: nothing to serve: register tasks before Work")
	}
	w.swap.Lock()
	defer w.swap.Unlock()
	first := w.stopSDK == nil
	// A suffix tells this registration from others of the same name.
	name := hatchetName(fmt.Sprintf("%s-%s", w.name, uuid.NewString()[:8]))
	hw, err := b.c.NewWorker(name, hatchet.WithWorkflows(flows...), hatchet.WithSlots(w.conc), hatchet.WithLogger(sdkLogger()))
	if err != nil {
		return fmt.Errorf("hatchet: registering the worker's workflows: %w", err)
	}
	stop, err := hw.Start()
	if err != nil {
		return fmt.Errorf("hatchet: starting the worker: %w", err)
	}
	// The SDK panics when a worker is stopped before the engine has
	// registered it, so nothing stops it before that.
	registered := b.waitRegistered(name, 30*time.Second)
	<-registered
	if !first {
		if err := w.stopSDK(); err != nil {
			b.logger.Warn("hatchet: stopping the replaced worker", "err", err)
		}
	}
	w.stopSDK = stop
	return nil
}

// restartWorkers gives the running workers of this process a new Hatchet
// registration, after tasks or workflows were added.
func (b *backend) restartWorkers() error {
	b.mu.Lock()
	var ws []*worker
	for w := range b.workers {
		ws = append(ws, w)
	}
	b.mu.Unlock()
	for _, w := range ws {
		w.swap.Lock()
		running := w.stopSDK != nil
		w.swap.Unlock()
		if !running {
			continue
		}
		if err := w.restart(); err != nil {
			return err
		}
		b.logger.Info("hatchet: the worker registered again to serve tasks added since it started", "worker", w.name)
	}
	return nil
}

// sdkLogger is the SDK worker's logger: warnings and errors to standard
// error, without the line it writes for every failed attempt (the task's
// outcome is the engine's and the host's to report).
func sdkLogger() *zerolog.Logger {
	l := zerolog.New(dropWriter{os.Stderr, "could not execute action"}).Level(zerolog.WarnLevel).With().Timestamp().Logger()
	return &l
}

// dropWriter drops the log lines that contain drop.
type dropWriter struct {
	w    io.Writer
	drop string
}

func (d dropWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(d.drop)) {
		return len(p), nil
	}
	return d.w.Write(p)
}

// waitRegistered returns a channel closed once the engine lists the
// named worker as active, or after within.
func (b *backend) waitRegistered(name string, within time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		for ctx.Err() == nil {
			if l, err := b.c.Workers().List(ctx); err == nil && l.Rows != nil {
				for _, w := range *l.Rows {
					if w.Name == name && w.Status != nil && *w.Status == rest.ACTIVE {
						return
					}
				}
			}
			sleepCtx(ctx, 50*time.Millisecond)
		}
		b.logger.Warn("hatchet: the engine did not list the worker as active", "worker", name, "within", within)
	}()
	return done
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// taskFn runs a task's runs for the handler.
func (w *worker) taskFn(spec backends.TaskSpec) func(hctx hatchet.Context, in envelope) (output, error) {
	return func(hctx hatchet.Context, in envelope) (output, error) {
		w.running.Add(1)
		defer w.running.Done()
		run := hctx.WorkflowRunId()
		w.mu.Lock()
		w.runs[run] = true
		w.mu.Unlock()
		defer func() {
			w.mu.Lock()
			delete(w.runs, run)
			w.mu.Unlock()
		}()
		ctx, cancel := context.WithCancel(hctx)
		defer cancel()
		stopAfter := context.AfterFunc(w.runCtx, cancel)
		defer stopAfter()
		// The engine times the attempt out at the registered timeout; a
		// submission's own timeout applies here, and a longer one pushes
		// the engine's back.
		timeout := spec.Timeout
		if in.TimeoutMS > 0 {
			own := time.Duration(in.TimeoutMS) * time.Millisecond
			if spec.Timeout > 0 && own > spec.Timeout {
				if err := hctx.RefreshTimeout((own - spec.Timeout).String()); err != nil {
					w.b.logger.Warn("hatchet: extending a run's timeout", "run", hctx.WorkflowRunId(), "err", err)
				}
			}
			timeout = own
			var c context.CancelFunc
			ctx, c = context.WithTimeout(ctx, own)
			defer c()
		}
		info := attemptInfo{Attempt: hctx.RetryCount() + 1, StartedAt: time.Now().UTC()}
		task := in.Task
		if task == "" {
			task = spec.Name
		}
		out, err := w.h.ProcessTask(ctx, &backends.Task{ID: hctx.WorkflowRunId(), Name: task, Input: in.Input, Attempt: info.Attempt, Heartbeat: w.heartbeat(hctx, timeout)})
		info.FinishedAt = time.Now().UTC()
		if err != nil {
			max := spec.MaxRetries
			if in.MaxRetries != nil {
				max = *in.MaxRetries
			}
			return output{}, w.failure(err, info, info.Attempt > max)
		}
		if len(out) == 0 {
			out = []byte("null")
		}
		return output{Output: out, attemptInfo: info}, nil
	}
}

// failure is the error a run returns: the task error's JSON with the
// attempt (so that its kind and verdict survive in the engine's error
// message, an attemptError), non-retryable
// when the task said so or no retry is left.
func (w *worker) failure(err error, info attemptInfo, last bool) error {
	te := backends.ErrorOf(err)
	msg, _ := json.Marshal(attemptError{TaskError: te, attemptInfo: info})
	e := errors.New(string(msg))
	if !te.Retryable || last {
		return pkgworker.NewNonRetryableError(e)
	}
	return e
}

// heartbeat is a task's Heartbeat: it pushes the engine's timeout of the
// attempt back to a full timeout from now, at most every quarter of it.
func (w *worker) heartbeat(hctx hatchet.Context, timeout time.Duration) func() {
	if timeout <= 0 {
		return func() {}
	}
	var mu sync.Mutex
	deadline := time.Now().Add(timeout)
	last := time.Now()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if now.Sub(last) < timeout/4 {
			return
		}
		last = now
		by := now.Add(timeout).Sub(deadline).Round(time.Second)
		if by < time.Second {
			return
		}
		if err := hctx.RefreshTimeout(by.String()); err != nil {
			w.b.logger.Warn("hatchet: refreshing a run's timeout", "run", hctx.WorkflowRunId(), "err", err)
			return
		}
		deadline = deadline.Add(by)
	}
}
