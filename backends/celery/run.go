package celery

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"time"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// delivery is one message taken by this worker.
type delivery struct {
	list string
	raw  string // the message as taken
	env  envelope
	tag  string
}

// handle runs one delivery holding a slot, and always settles it:
// acknowledged with its outcome, sent again, or put back.
func (w *worker) handle(list, raw string) {
	defer w.wg.Done()
	held := true
	defer func() {
		if held {
			w.release(1)
		}
	}()
	d := &delivery{list: list, raw: raw}
	bg := context.WithoutCancel(w.runCtx)
	if err := json.Unmarshal([]byte(raw), &d.env); err != nil {
		d.tag = tagOf(raw)
		w.settle(bg, d, "", failed(abi.KindBadInput, "the message's envelope is not kombu's: "+err.Error()))
		return
	}
	d.tag = d.env.Properties.DeliveryTag
	w.mu.Lock()
	w.inflight[d.tag] = true
	w.mu.Unlock()
	h := &d.env.Headers
	if h.ID == "" || h.Task == "" {
		w.settle(bg, d, "", failed(abi.KindBadInput, "the message has no task name or id in its headers (protocol 1 messages are not supported; use Celery 4 or later)"))
		return
	}
	// Registered before its task id is checked for a revoke (startScript),
	// so that a revoke is seen there or reaches the registered attempt.
	actx, at, done := w.attempts.add(w.runCtx, h.ID)
	defer done()
	if h.Expires != nil && *h.Expires != "" {
		if t, err := parseISO(*h.Expires); err == nil && time.Now().After(t) {
			w.settle(bg, d, stateRevoked, failed(abi.KindCancelled, "the task expired at "+*h.Expires+" before it ran"))
			return
		}
	}
	if h.ETA != nil && *h.ETA != "" {
		if t, err := parseISO(*h.ETA); err == nil && time.Until(t) > 0 && !w.b.revoked(bg, h.ID) {
			// Held, as Celery does, in memory and in unacked (refreshed, so
			// not put back while it waits), without taking a slot.
			// A stopping worker puts it back at once; a revoke ends the
			// wait, and the task is discarded.
			w.release(1)
			held = false
			select {
			case <-time.After(time.Until(t)):
			case <-w.stop.Done():
			case <-actx.Done():
			}
			if w.stop.Err() == nil {
				select {
				case w.slots <- struct{}{}:
					held = true
				case <-w.stop.Done():
				}
			}
			if !held || w.stop.Err() != nil {
				w.requeue(bg, d)
				return
			}
		}
	}
	w.run(bg, actx, at, d)
}

func failed(kind abi.Kind, msg string) *driver.TaskError {
	return &driver.TaskError{Kind: kind, Message: msg}
}

// tagOf digs the delivery tag out of a message whose envelope did not
// decode.
func tagOf(raw string) string {
	var m struct {
		Properties struct {
			DeliveryTag string `json:"delivery_tag"`
		} `json:"properties"`
	}
	json.Unmarshal([]byte(raw), &m)
	return m.Properties.DeliveryTag
}

// run calls the handler for a delivery and settles it; actx is the
// attempt's registered context (a revoke with terminate cancels it), at
// its registration.
func (w *worker) run(bg, actx context.Context, at *attempt, d *delivery) {
	b := w.b
	h := &d.env.Headers
	bd, err := decodeBody(&d.env)
	if err != nil {
		w.settle(bg, d, "", failed(abi.KindBadInput, "task "+h.Task+": "+err.Error()))
		return
	}
	spec, err := b.tasks.Spec(h.Task)
	if err != nil {
		w.settle(bg, d, "", failed(abi.KindUnknownTask, err.Error()+"; route it to a queue served by a worker that has it"))
		return
	}
	input, err := InputOf(bd.Args, bd.Kwargs)
	if err != nil {
		w.settle(bg, d, "", failed(abi.KindBadInput, "task "+h.Task+": args and kwargs: "+err.Error()))
		return
	}
	// A message of ours carries the task's resolved timeout and retries; a
	// Python client's may carry a time limit, and gets the registered
	// retries.
	timeout := spec.Timeout
	if hard := h.TimeLimit[0]; hard != nil && *hard > 0 {
		timeout = time.Duration(*hard * float64(time.Second))
	} else if soft := h.TimeLimit[1]; soft != nil && *soft > 0 {
		timeout = time.Duration(*soft * float64(time.Second))
	}
	maxRetries := spec.MaxRetries
	if h.MaxRetries != nil {
		maxRetries = *h.MaxRetries
	}
	queue := queueOfList(d.list)
	at.running.Store(true)
	attempt := w.start(bg, d, queue, h.Retries+1)
	if attempt == 0 {
		return
	}
	if b.trackStarted && !h.IgnoreResult {
		host, _ := os.Hostname()
		started, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "hostname": w.name + "@" + host})
		b.storeMeta(bg, b.results, h, queue, stateStarted, started)
	}

	progress, stopProgress := w.progress(bg, h, queue)
	ctx, cancel := context.WithTimeout(actx, timeout)
	out, herr := w.h.ProcessTask(ctx, &driver.Task{ID: h.ID, Name: h.Task, Queue: queue, Input: input,
		Attempt: attempt, MaxRetries: maxRetries, Heartbeat: func() {}, Progress: progress, Flow: h.Workflow, Meta: h.meta()})
	cancel()
	stopProgress()
	switch {
	case herr != nil && errors.Is(context.Cause(actx), errRevoked):
		// Revoked with terminate while it ran: cancelled, not retried.
		w.settle(bg, d, stateRevoked, failed(abi.KindCancelled, "terminated: the task was revoked while it ran"))
	case herr != nil && w.runCtx.Err() != nil:
		// Cancelled at the end of the grace period: back to the queue.
		w.requeue(bg, d)
	case errors.Is(herr, driver.ErrFlowAdvance):
		// The task succeeded, but the client's runner could not record it
		// in its workflow: the step is sent again, as a retry that does not
		// count (its retries stay as they were), and runs again after
		// driver.RetryDelay; the runner counts a step once.
		b.logger.Warn("celery: a workflow step ran but its workflow could not be advanced; it runs again", "task", h.ID, "err", herr)
		w.retry(bg, d, bd, driver.ErrorOf(herr), false)
	case herr != nil:
		te := driver.ErrorOf(herr)
		if te.Retryable && h.Retries < maxRetries {
			w.retry(bg, d, bd, te, true)
			return
		}
		if len(bd.Embed.Errbacks) > 0 {
			b.logger.Warn("celery: a failed task's errbacks (link_error) are not run by this worker", "task", h.ID)
		}
		w.settle(bg, d, "", te)
	default:
		if len(out) == 0 {
			out = json.RawMessage("null")
		}
		next, err := w.links(h, queue, bd, out)
		if err != nil {
			b.logger.Error("celery: a chained task could not be sent", "task", h.ID, "err", err)
		}
		w.finish(bg, d, stateSuccess, out, next...)
	}
}

// start records an attempt's start, or discards its delivery if its task
// id is revoked (startScript); it returns the attempt's number, 0 when it
// may not run.
func (w *worker) start(bg context.Context, d *delivery, queue string, attempt int) int {
	b := w.b
	h := &d.env.Headers
	now := time.Now()
	enq, at := h.EnqueuedAt, now
	if t, err := time.Parse(time.RFC3339Nano, enq); err == nil {
		at = t
	} else {
		enq = now.UTC().Format(time.RFC3339Nano)
	}
	unique, claimKey := "", recordKey(h.ID)
	if h.Unique != "" {
		unique, claimKey = "1", b.unique.Prefix+h.Unique
	}
	keys := []string{recordKey(h.ID), revokedKey(h.ID), indexKey, queueIndexKey(queue), queuesKey, unackedKey, unackedIndexKey, claimKey}
	if b.results == b.broker && !h.IgnoreResult {
		keys = append(keys, metaKey(h.ID))
	}
	exc := revokedExc("revoked")
	ok, err := startScript.Run(bg, b.broker, keys, enq, h.Task, queue, now.UTC().Format(time.RFC3339Nano), attempt,
		int(b.expires.Seconds()), strconv.FormatInt(int64(score(at)), 10), d.tag, d.raw, h.ID, string(exc), isoUTC(now), unique).Int()
	if err != nil {
		b.logger.Warn("celery: recording a task's start failed", "task", h.ID, "err", err)
		return attempt
	}
	if ok > 0 {
		return ok
	}
	b.logger.Info("celery: discarding a revoked task", "task", h.ID, "name", h.Task)
	if b.results != b.broker && !h.IgnoreResult {
		b.storeMeta(bg, b.results, h, queue, stateRevoked, exc)
	}
	w.forget(d.tag)
	return 0
}

// revoked reports whether task id is kept revoked.
func (b *backend) revoked(ctx context.Context, id string) bool {
	n, err := b.broker.Exists(ctx, revokedKey(id)).Result()
	return err == nil && n > 0
}
