package celery

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// outgoing is a message ready to push.
type outgoing struct {
	id, task, queue string
	list            string
	raw             []byte
}

// newMessage builds the protocol v2 message of one call of task on queue.
// h carries the id, retries and any other header already known.
func (b *backend) newMessage(h headers, queue string, priority int, bd body) (outgoing, error) {
	if h.ID == "" {
		h.ID = uuid.NewString()
	}
	if h.RootID == "" {
		h.RootID = h.ID
	}
	if h.Lang == "" {
		h.Lang = "go"
	}
	h.Origin = b.origin
	h.ArgsRepr = repr(bd.Args)
	h.KwargsRepr = repr(bd.Kwargs)
	raw, err := json.Marshal(bd)
	if err != nil {
		return outgoing{}, err
	}
	env := envelope{
		Body:            base64.StdEncoding.EncodeToString(raw),
		ContentEncoding: "utf-8",
		ContentType:     "application/json",
		Headers:         h,
		Properties: properties{
			CorrelationID: h.ID,
			DeliveryMode:  2,
			DeliveryInfo:  deliveryInfo{RoutingKey: queue},
			Priority:      priority,
			BodyEncoding:  "base64",
			DeliveryTag:   uuid.NewString(),
		},
	}
	out, err := json.Marshal(env)
	return outgoing{id: h.ID, task: h.Task, queue: queue, list: priorityList(queue, priority), raw: out}, err
}

// repr is argsrepr/kwargsrepr: the JSON text, cut at 1 KiB.
func repr(v any) string {
	b, _ := json.Marshal(v)
	if len(b) > 1024 {
		return string(b[:1021]) + "..."
	}
	return string(b)
}

// push queues messages in p, with kombu's binding of each queue.
func push(ctx context.Context, p redis.Pipeliner, msgs ...outgoing) {
	for _, m := range msgs {
		p.SAdd(ctx, bindingKey(m.queue), bindingMember(m.queue))
		p.LPush(ctx, m.list, m.raw)
	}
}

// message is the Celery message of a job: its input as kwargs or the one
// arg (ArgsOf), its retries in taskhost_max_retries, its timeout as the
// hard time limit, its RunAt as the eta, its unique key and workflow step
// in headers of this package's. A job's ID, when set, is the task id.
func (b *backend) message(j *driver.Job) (outgoing, error) {
	retries := j.MaxRetries
	limit := j.Timeout.Seconds()
	h := headers{Task: j.Task, ID: j.ID, EnqueuedAt: nowText(), MaxRetries: &retries, Unique: j.UniqueKey, Workflow: j.Flow}
	h.setMeta(j.Meta)
	h.Backoff = j.Backoff.Custom()
	h.TimeLimit[0] = &limit
	if !j.RunAt.IsZero() && j.RunAt.After(time.Now()) {
		eta := j.RunAt.UTC().Format(isoTime)
		h.ETA = &eta
	}
	args, kwargs := ArgsOf(j.Input)
	return b.newMessage(h, j.Queue, 0, body{Args: args, Kwargs: kwargs})
}

// Enqueue implements driver.Driver: the task's record and its message
// in one transaction; a unique key is claimed first (redisunique).
func (b *backend) Enqueue(ctx context.Context, j *driver.Job) (string, error) {
	m, err := b.message(j)
	if err != nil {
		return "", fmt.Errorf("celery: submit %q: %w", j.Task, err)
	}
	if j.UniqueKey != "" {
		holder, err := b.claim(ctx, j.UniqueKey, m.id, j.RunAt)
		if err != nil {
			return "", fmt.Errorf("celery: submit %q: unique key %q: %w", j.Task, j.UniqueKey, err)
		}
		if holder != "" {
			return holder, nil
		}
	}
	if err := b.enqueue(ctx, m); err != nil {
		if j.UniqueKey != "" {
			if rerr := b.unique.Release(context.WithoutCancel(ctx), b.broker, j.UniqueKey, m.id).Err(); rerr != nil {
				b.logger.Warn("celery: releasing the unique key of a task not sent failed; it is free within a minute", "key", j.UniqueKey, "err", rerr)
			}
		}
		return "", fmt.Errorf("celery: submit %q: %w", j.Task, err)
	}
	return m.id, nil
}

// enqueue records, indexes and pushes messages, in one transaction
// (MULTI/EXEC): all or none. Their index scores follow their order.
func (b *backend) enqueue(ctx context.Context, msgs ...outgoing) error {
	p := b.broker.TxPipeline()
	now := time.Now()
	text, base := now.UTC().Format(time.RFC3339Nano), score(now)
	var queues []string
	for i, m := range msgs {
		p.HSet(ctx, recordKey(m.id), "task", m.task, "queue", m.queue, "enqueued_at", text, "state", string(driver.StatusPending))
		p.Expire(ctx, recordKey(m.id), b.expires)
		index(ctx, p, m.id, m.queue, base+float64(i))
		if !slices.Contains(queues, m.queue) {
			queues = append(queues, m.queue)
		}
	}
	b.trimIndex(ctx, p, queues...)
	push(ctx, p, msgs...)
	_, err := p.Exec(ctx)
	return err
}

// claim takes the unique key for task id unless a task not done holds it,
// and then returns the holder. Our worker frees a key as its task ends; a
// Python worker leaves the holder's record pending, so a holder that
// looks live by its record is read whole (its Celery result) before it is
// believed.
func (b *backend) claim(ctx context.Context, key, id string, runAt time.Time) (string, error) {
	ttl := b.expires + max(time.Until(runAt), 0)
	holder, err := b.unique.Claim(ctx, b.broker, key, id, recordKey(id), ttl)
	if err != nil || holder == "" {
		return holder, err
	}
	r, err := b.Result(ctx, holder)
	switch {
	case errors.Is(err, driver.ErrNotFound):
		return holder, nil // being sent now: the claim script held it for that
	case err != nil:
		return "", err
	case !r.Status.Done():
		return holder, nil
	}
	return b.unique.Replace(ctx, b.broker, key, holder, id, recordKey(id), ttl)
}
