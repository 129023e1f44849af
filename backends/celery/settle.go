package celery

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// How a delivery ends: its outcome stored, what follows it sent and the
// message acknowledged in one transaction (finish), or the message put
// back on its queue (requeue). Every way forgets the delivery, so that
// no delivery is left unsettled and kept fresh by its worker.

// recState is this package's record state of a Celery state.
var recState = map[string]driver.Status{stateSuccess: driver.StatusSucceeded, stateFailure: driver.StatusFailed,
	stateRetry: driver.StatusRetrying, stateRevoked: driver.StatusCancelled}

// retry sends the task again after the task's backoff (driver.RetryDelay
// by default) of the retries done
// so far, with its retries one more when counted, stores the RETRY state
// and acknowledges the attempt: one transaction.
func (w *worker) retry(bg context.Context, d *delivery, bd body, te *driver.TaskError, counted bool) {
	h := d.env.Headers
	delay := driver.RetryDelay(h.Retries)
	if h.Backoff != nil {
		delay = h.Backoff.Delay(h.Retries)
	}
	eta := time.Now().Add(delay).UTC().Format(isoTime)
	if counted {
		h.Retries++
	}
	h.Redelivered = false
	h.ETA = &eta
	m, err := w.b.newMessage(h, queueOfList(d.list), d.env.Properties.Priority, bd)
	if err != nil {
		w.settle(bg, d, "", te)
		return
	}
	exc, _ := json.Marshal(excOf(te))
	w.finish(bg, d, stateRetry, exc, m)
}

// settle ends a delivery that failed for good (state FAILURE, or the one
// given), or one whose task id is unknown: then the message is kept in the
// dead list.
func (w *worker) settle(bg context.Context, d *delivery, state string, te *driver.TaskError) {
	if state == "" {
		state = stateFailure
	}
	if d.env.Headers.ID == "" {
		w.b.logger.Error("celery: a message without a task id was moved to "+deadList, "reason", te.Message, "message", clip(d.raw))
		p := w.b.broker.TxPipeline()
		p.LPush(bg, deadList, d.raw)
		ack(bg, p, d.tag)
		if _, err := p.Exec(bg); err != nil {
			w.b.logger.Error("celery: moving a message to the dead list failed; it stays unacknowledged", "err", err)
		}
		w.forget(d.tag)
		return
	}
	if te.Kind == abi.KindBadInput || te.Kind == abi.KindUnknownTask {
		w.b.logger.Error("celery: task refused", "task", d.env.Headers.Task, "id", d.env.Headers.ID, "reason", te.Message)
	}
	exc, _ := json.Marshal(excOf(te))
	w.finish(bg, d, state, exc)
}

// finish stores the attempt's state, frees the task's unique key once it
// is done, sends the messages that follow it and acknowledges the
// delivery, in one transaction (or two, when results live in another
// Redis).
func (w *worker) finish(bg context.Context, d *delivery, state string, result json.RawMessage, next ...outgoing) {
	b := w.b
	h := &d.env.Headers
	queue := queueOfList(d.list)
	p := b.broker.TxPipeline()
	rk := recordKey(h.ID)
	p.HSet(bg, rk, "state", string(recState[state]), "finished_at", nowText(), "task", h.Task, "queue", queue)
	p.HSetNX(bg, rk, "attempt", h.Retries+1)
	if state == stateFailure || state == stateRevoked {
		p.HSet(bg, rk, "message", d.raw) // for Retry
	}
	p.Expire(bg, rk, b.expires)
	if h.Unique != "" && state != stateRetry {
		b.unique.Release(bg, p, h.Unique, h.ID)
	}
	at := time.Now()
	now, base := at.UTC().Format(time.RFC3339Nano), score(at)
	for i, m := range next {
		rec := recordKey(m.id)
		p.HSetNX(bg, rec, "task", m.task)
		p.HSetNX(bg, rec, "queue", m.queue)
		p.HSetNX(bg, rec, "enqueued_at", now)
		p.HSetNX(bg, rec, "state", string(driver.StatusPending))
		p.Expire(bg, rec, b.expires)
		index(bg, p, m.id, m.queue, base+float64(i))
	}
	push(bg, p, next...)
	if b.results == b.broker && !h.IgnoreResult {
		b.queueMeta(bg, p, h, queue, state, result)
	}
	ack(bg, p, d.tag)
	if _, err := p.Exec(bg); err != nil {
		// Not acknowledged, and forgotten: put back after the visibility
		// timeout by any worker, this one too, and run again then.
		b.logger.Error("celery: storing a task's outcome failed; it stays unacknowledged and runs again after the visibility timeout", "task", h.ID, "err", err)
		w.forget(d.tag)
		return
	}
	if b.results != b.broker && !h.IgnoreResult {
		b.storeMeta(bg, b.results, h, queue, state, result)
	}
	w.forget(d.tag)
}

// queueMeta adds storing and announcing a task's state, as Celery's Redis
// result backend does (SETEX, then PUBLISH on the same name), to p.
func (b *backend) queueMeta(ctx context.Context, p redis.Pipeliner, h *headers, queue, state string, result json.RawMessage) {
	if len(result) == 0 {
		result = json.RawMessage("null")
	}
	m := meta{Status: state, Result: result, Children: []any{}, TaskID: h.ID, Name: h.Task, Retries: h.Retries, Queue: queue}
	if state == stateSuccess || state == stateFailure || state == stateRevoked {
		done := isoUTC(time.Now())
		m.DateDone = &done
	}
	raw, _ := json.Marshal(m)
	p.SetEx(ctx, metaKey(h.ID), raw, b.expires)
	p.Publish(ctx, metaKey(h.ID), raw)
}

func (b *backend) storeMeta(ctx context.Context, rc *redis.Client, h *headers, queue, state string, result json.RawMessage) {
	p := rc.TxPipeline()
	b.queueMeta(ctx, p, h, queue, state, result)
	if _, err := p.Exec(ctx); err != nil {
		b.logger.Error("celery: storing a task's state failed", "task", h.ID, "state", state, "err", err)
	}
}

// ack is kombu's QoS.ack.
func ack(ctx context.Context, p redis.Pipeliner, tag string) {
	p.ZRem(ctx, unackedIndexKey, tag)
	p.HDel(ctx, unackedKey, tag)
}

func (w *worker) forget(tag string) {
	w.mu.Lock()
	delete(w.inflight, tag)
	w.mu.Unlock()
}

// requeue puts a delivery back on its queue now.
func (w *worker) requeue(bg context.Context, d *delivery) {
	if err := w.b.restore(bg, d.tag, ""); err != nil {
		w.b.logger.Error("celery: putting a message back failed; it is put back after the visibility timeout", "task", d.env.Headers.ID, "err", err)
	}
	w.forget(d.tag)
}
