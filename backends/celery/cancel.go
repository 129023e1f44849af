package celery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// Cancellation is Celery's revoke: Cancel broadcasts revoke with terminate
// on celery.pidbox (control.go), which Python workers and ours obey, and
// keeps the revoked id in Redis (taskhost:celery:revoked:ID, for the
// result expiry), which Celery keeps in each worker's memory only: a
// worker of ours that starts after the broadcast still finds it when it
// takes the task's message, and discards the message with the REVOKED
// state, as a Python worker does a revoked task it knows of.

// revokedPrefix starts the key of a revoked task id; its value is
// revokeTerminate when a running attempt is to be stopped too.
const revokedPrefix = "taskhost:celery:revoked:"

const (
	revokeOnly      = "revoke"
	revokeTerminate = "terminate"
)

func revokedKey(id string) string { return revokedPrefix + id }

// errRevoked is the cause of an attempt's context cancelled by a revoke.
var errRevoked = errors.New("the task was revoked")

// revokedExc is the exception a revoked task's result holds, as a Python
// worker stores it (TaskRevokedError(reason)).
func revokedExc(reason string) json.RawMessage {
	exc, _ := json.Marshal(excOf(&driver.TaskError{Kind: abi.KindCancelled, Message: reason}))
	return exc
}

// Cancel implements driver.Canceler with Celery's revoke(id,
// terminate=True): the id is kept revoked in Redis, a task not running
// yet is marked REVOKED at once (our record cancelled, and Celery's
// result), and the revoke is broadcast so that the worker running the
// task, ours or a Python one, stops it. A finished task is ErrFinished. An
// id neither our record nor Celery's result backend knows is ErrNotFound:
// a Python client's task that no worker has taken yet looks so too (Celery
// says PENDING of any id), so such an id is revoked and broadcast all the
// same, and a worker that takes it later discards it.
func (b *backend) Cancel(ctx context.Context, id string) error {
	r, err := b.Result(ctx, id)
	known := err == nil
	switch {
	case err != nil && !errors.Is(err, driver.ErrNotFound):
		return fmt.Errorf("celery: cancel %s: %w", id, err)
	case known && r.Status.Done():
		return fmt.Errorf("celery: cancel %s: the task is %s: %w", id, r.Status, driver.ErrFinished)
	}
	state, err := b.markRevoked(ctx, id, revokeTerminate)
	if err != nil {
		return fmt.Errorf("celery: cancel %s: %w", id, err)
	}
	if s := driver.Status(state); s.Done() {
		return fmt.Errorf("celery: cancel %s: the task is %s: %w", id, s, driver.ErrFinished)
	}
	if err := b.broadcastRevoke(ctx, id); err != nil {
		return fmt.Errorf("celery: cancel %s: broadcasting the revoke: %w", id, err)
	}
	if !known {
		return fmt.Errorf("celery: cancel %s: no task with this id is known (revoked all the same, should a Python client have sent it): %w", id, driver.ErrNotFound)
	}
	return nil
}

// cancelScript keeps an id revoked and marks its task cancelled if it is
// waiting (pending or retrying by our record): KEYS the revoked key, the
// record, then the result's key when it is on the broker; ARGV the mode
// (revokeTerminate is never downgraded), the expiry (s), now, the
// exception, date_done, the id. It returns the record's state before
// ("marked" when it marked it), the task and its queue.
var cancelScript = redis.NewScript(`
if ARGV[1] == 'terminate' or redis.call('EXISTS', KEYS[1]) == 0 then
	redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
	redis.call('EXPIRE', KEYS[1], ARGV[2])
end
local rec = redis.call('HMGET', KEYS[2], 'state', 'task', 'queue')
local state, task, queue = rec[1] or '', rec[2] or '', rec[3] or ''
if state ~= 'pending' and state ~= 'retrying' then return {state, task, queue} end
redis.call('HSET', KEYS[2], 'state', 'cancelled', 'finished_at', ARGV[3])
if #KEYS > 2 then
	local meta = '{"status":"REVOKED","result":' .. ARGV[4] .. ',"traceback":null,"children":[],"date_done":"' .. ARGV[5] ..
		'","task_id":' .. cjson.encode(ARGV[6]) .. ',"name":' .. cjson.encode(task) .. ',"queue":' .. cjson.encode(queue) .. '}'
	redis.call('SET', KEYS[3], meta, 'EX', ARGV[2])
	redis.call('PUBLISH', KEYS[3], meta)
end
return {'marked', task, queue}
`)

// markRevoked keeps id revoked (mode revokeOnly or revokeTerminate) and
// marks its task REVOKED if it waits; it returns the record's state
// before, "marked" when it marked it.
func (b *backend) markRevoked(ctx context.Context, id, mode string) (string, error) {
	keys := []string{revokedKey(id), recordKey(id)}
	if b.results == b.broker {
		keys = append(keys, metaKey(id))
	}
	exc := revokedExc("revoked")
	res, err := cancelScript.Run(ctx, b.broker, keys, mode, int(b.expires.Seconds()), nowText(), string(exc), isoUTC(time.Now()), id).StringSlice()
	if err != nil || len(res) != 3 {
		return "", fmt.Errorf("revoking: %v", err)
	}
	if res[0] == "marked" && b.results != b.broker {
		b.storeMeta(ctx, b.results, &headers{ID: id, Task: res[1]}, res[2], stateRevoked, exc)
	}
	return res[0], nil
}

// attempt is a delivery a worker holds: waiting for its ETA, or running.
type attempt struct {
	cancel  context.CancelCauseFunc
	running atomic.Bool
}

// attempts are a worker's deliveries by task id, so that a revoke finds
// them: a revoke wakes a held one (which then finds its id revoked and is
// discarded), a revoke with terminate stops a running one.
type attempts struct {
	mu sync.Mutex
	by map[string]map[*attempt]struct{}
}

// add registers a delivery of task id under ctx; done unregisters it.
func (a *attempts) add(ctx context.Context, id string) (actx context.Context, at *attempt, done func()) {
	actx, cancel := context.WithCancelCause(ctx)
	at = &attempt{cancel: cancel}
	a.mu.Lock()
	if a.by[id] == nil {
		a.by[id] = map[*attempt]struct{}{}
	}
	a.by[id][at] = struct{}{}
	a.mu.Unlock()
	return actx, at, func() {
		a.mu.Lock()
		delete(a.by[id], at)
		if len(a.by[id]) == 0 {
			delete(a.by, id)
		}
		a.mu.Unlock()
		cancel(nil)
	}
}

// stop cancels the running attempts of task id; it reports whether there
// was one.
func (a *attempts) stop(id string) (stopped bool) {
	return a.cancel(id, true)
}

// wake ends the waits of the held deliveries of task id (which then find
// it revoked and are discarded).
func (a *attempts) wake(id string) {
	a.cancel(id, false)
}

func (a *attempts) cancel(id string, running bool) (found bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for at := range a.by[id] {
		if at.running.Load() == running {
			at.cancel(errRevoked)
			found = true
		}
	}
	return found
}

func (a *attempts) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.by))
	for id := range a.by {
		out = append(out, id)
	}
	return out
}

// revokePoll is how often a worker looks in Redis for revokes of the
// tasks it holds, should it have missed a broadcast (its subscription
// reconnecting).
const revokePoll = time.Second

// control, until stop is closed, obeys the pidbox commands sent to this
// worker (revoke; ping and revoke are answered when the sender asks) and
// looks every revokePoll for revoked ids among its deliveries. ps is
// subscribed already.
func (w *worker) control(ps *redis.PubSub, stop <-chan struct{}) {
	bg := context.WithoutCancel(w.runCtx)
	msgs := ps.Channel()
	t := time.NewTicker(revokePoll)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case m, ok := <-msgs:
			if !ok {
				return
			}
			w.command(bg, m.Payload)
		case <-t.C:
			w.pollRevoked(bg)
		}
	}
}

// command obeys one pidbox message.
func (w *worker) command(ctx context.Context, payload string) {
	b := w.b
	c, err := decodeControl(payload)
	if err != nil {
		b.logger.Warn("celery: a message on "+b.control+" is not a control command", "err", err, "message", clip(payload))
		return
	}
	if !c.addressed(w.node) {
		return
	}
	var reply any
	switch c.Method {
	case "ping":
		reply = map[string]string{"ok": "pong"}
	case "revoke":
		var args revokeArgs
		if err := json.Unmarshal(c.Arguments, &args); err != nil {
			b.logger.Warn("celery: a revoke command's arguments are not Celery's", "err", err)
			return
		}
		mode := revokeOnly
		if args.Terminate {
			mode = revokeTerminate
		}
		var stopped []string
		for _, id := range args.ids() {
			if args.Terminate && w.attempts.stop(id) {
				stopped = append(stopped, id)
				b.logger.Info("celery: stopping a revoked task", "task", id)
			}
			// Kept in Redis (for the workers that start later, and before a
			// held delivery is woken to find it).
			if _, err := b.markRevoked(ctx, id, mode); err != nil {
				b.logger.Error("celery: keeping a revoked task id failed", "task", id, "err", err)
			}
			w.attempts.wake(id)
		}
		reply = map[string]string{"ok": fmt.Sprintf("tasks %v flagged as revoked", args.ids())}
		if args.Terminate {
			reply = map[string]string{"ok": fmt.Sprintf("terminate: %v", stopped)}
		}
	default:
		return // Celery's other commands are not served by this worker
	}
	if err := b.reply(ctx, c, w.node, reply); err != nil {
		b.logger.Warn("celery: replying to a control command failed", "method", c.Method, "err", err)
	}
}

// pollRevoked applies the revokes kept in Redis to the worker's
// deliveries.
func (w *worker) pollRevoked(ctx context.Context) {
	ids := w.attempts.ids()
	if len(ids) == 0 {
		return
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = revokedKey(id)
	}
	vals, err := w.b.broker.MGet(ctx, keys...).Result()
	if err != nil {
		w.b.logger.Warn("celery: looking for revoked tasks failed", "err", err)
		return
	}
	for i, v := range vals {
		if mode, ok := v.(string); ok {
			if mode == revokeTerminate {
				w.attempts.stop(ids[i])
			}
			w.attempts.wake(ids[i])
		}
	}
}
