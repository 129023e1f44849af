package hatchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	pkgworker "github.com/hatchet-dev/hatchet/pkg/worker"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// taskFn runs a task's runs for the handler.
func (w *worker) taskFn(spec driver.TaskSpec) func(hctx hatchet.Context, in envelope) (output, error) {
	return func(hctx hatchet.Context, in envelope) (output, error) {
		t := &driver.Task{ID: hctx.WorkflowRunId(), Name: in.Task, Queue: in.Queue, Input: in.Input, MaxRetries: spec.MaxRetries, Meta: in.Meta}
		if t.Name == "" {
			t.Name = spec.Name
		}
		if in.MaxRetries != nil {
			t.MaxRetries = *in.MaxRetries
		}
		// The engine times the attempt out at the registered timeout; a
		// job's own timeout applies here, and a longer one pushes the
		// engine's back.
		timeout, own := spec.Timeout, time.Duration(in.TimeoutMS)*time.Millisecond
		if own > 0 {
			if own > spec.Timeout {
				if err := hctx.RefreshTimeout((own - spec.Timeout).String()); err != nil {
					w.b.logger.Warn("hatchet: extending a run's timeout", "run", hctx.WorkflowRunId(), "err", err)
				}
			}
			timeout = own
		}
		if token := hctx.AdditionalMetadata()[delayedMeta]; token != "" {
			// A delayed task cancelled just before its time (see Cancel).
			if dead, err := w.b.tombstoned(hctx, token); err != nil {
				return output{}, failure(fmt.Errorf("looking for the delayed task's tombstone: %w", err), attemptInfo{Attempt: hctx.RetryCount() + 1}, false)
			} else if dead {
				return output{}, w.b.cancelSelf(hctx)
			}
		}
		return w.run(hctx, t, hctx.WorkflowRunId(), timeout, own)
	}
}

// stepFn runs one step of a DAG: its input is the workflow's input (first
// stage) or its parents' outputs, by the workflow input rule.
func (w *worker) stepFn(spec driver.TaskSpec, step driver.Step, stage int, parents []*hatchet.Task) func(hctx hatchet.Context, in wfInput) (output, error) {
	return func(hctx hatchet.Context, in wfInput) (output, error) {
		value := in.Input
		if stage > 0 {
			outs := make([]json.RawMessage, len(parents))
			for i, p := range parents {
				var o output
				if err := hctx.ParentOutput(p, &o); err != nil {
					return output{}, failure(fmt.Errorf("reading the output of step %s: %w", p.GetName(), err), attemptInfo{}, true)
				}
				outs[i] = o.Output
			}
			value = driver.StageOutput(outs)
		}
		input, err := driver.StepInput(value, step.Params)
		if err != nil {
			return output{}, failure(&driver.TaskError{Kind: abi.KindBadInput, Message: err.Error()}, attemptInfo{}, true)
		}
		t := &driver.Task{ID: hctx.StepRunId(), Name: step.Task, Queue: spec.Queue, Input: input, MaxRetries: spec.MaxRetries}
		return w.run(hctx, t, "", spec.Timeout, 0)
	}
}

// run runs one attempt of t through the handler in one of the worker's
// slots, and turns its outcome into the run's output or error. The engine
// times the attempt out after timeout (which a heartbeat pushes back);
// own, when set, is the job's own timeout, applied here. The grace
// period's end cancels it. run, when set, is the task's run, whose
// outcome the drain waits for the engine to record.
func (w *worker) run(hctx hatchet.Context, t *driver.Task, run string, timeout, own time.Duration) (output, error) {
	w.begin(run)
	defer w.end(run)
	ctx, cancel := context.WithCancel(hctx)
	defer cancel()
	if own > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, own)
		defer c()
	}
	stopAfter := context.AfterFunc(w.runCtx, cancel)
	defer stopAfter()
	t.Attempt = hctx.RetryCount() + 1
	release, err := w.slot(ctx)
	if err != nil {
		return output{}, failure(err, attemptInfo{Attempt: t.Attempt}, t.Last())
	}
	defer release()
	t.Heartbeat = w.heartbeat(hctx, timeout)
	t.Progress = func(p abi.Progress) {
		line, _ := json.Marshal(p)
		hctx.Log(progressPrefix + string(line))
		t.Heartbeat()
	}
	info := attemptInfo{Attempt: t.Attempt, StartedAt: time.Now().UTC()}
	out, err := w.h.ProcessTask(ctx, t)
	info.FinishedAt = time.Now().UTC()
	if err != nil {
		return output{}, failure(err, info, t.Last())
	}
	if len(out) == 0 {
		out = []byte("null")
	}
	return output{Output: out, attemptInfo: info}, nil
}

// failure is the error a run returns: the task error's JSON with the
// attempt (so that its kind and verdict survive in the engine's error
// message, an attemptError), non-retryable when the task said so or no
// retry is left.
func failure(err error, info attemptInfo, last bool) error {
	te := driver.ErrorOf(err)
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
