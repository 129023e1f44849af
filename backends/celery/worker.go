package celery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
)

// DefaultConcurrency is the number of tasks a worker runs at once when
// WorkerOptions.Concurrency is zero.
const DefaultConcurrency = 10

// kombu's acknowledgement bookkeeping: a message taken from a queue is
// kept in the hash unacked (tag -> [message, exchange, routing key]) and
// the sorted set unacked_index (tag -> time taken) until acknowledged;
// unacked_mutex guards putting old ones back.
const (
	unackedKey      = "unacked"
	unackedIndexKey = "unacked_index"
	unackedMutexKey = "unacked_mutex"
)

// trackLua records a message taken from list m's queue as unacknowledged
// (kombu's QoS.append), or moves a message that is not kombu JSON to the
// dead list. KEYS[1..3] are unacked, unacked_index and the dead list.
const trackLua = `
local function track(list, m, now)
	local ok, msg = pcall(cjson.decode, m)
	local props = ok and type(msg) == 'table' and msg.properties
	local tag = type(props) == 'table' and props.delivery_tag
	if type(tag) ~= 'string' or tag == '' then
		redis.call('LPUSH', KEYS[3], m)
		return false
	end
	local queue = list
	local p = string.find(list, '\6\22', 1, true)
	if p then queue = string.sub(list, 1, p - 1) end
	local ex, rk = '', queue
	local di = props.delivery_info
	if type(di) == 'table' then
		if type(di.exchange) == 'string' then ex = di.exchange end
		if type(di.routing_key) == 'string' and di.routing_key ~= '' then rk = di.routing_key end
	end
	redis.call('ZADD', KEYS[2], now, tag)
	redis.call('HSET', KEYS[1], tag, '[' .. m .. ', ' .. cjson.encode(ex) .. ', ' .. cjson.encode(rk) .. ']')
	return true
end
`

// popScript takes up to ARGV[2] messages from the lists KEYS[4..], in
// order, and tracks each in the same step, so that no message is ever
// out of both its queue and the unacked hash. It returns list, message
// pairs; a dead message's list is empty.
var popScript = redis.NewScript(trackLua + `
local out = {}
local n = tonumber(ARGV[2])
for i = 4, #KEYS do
	while #out < 2 * n do
		local m = redis.call('RPOP', KEYS[i])
		if not m then break end
		if track(KEYS[i], m, ARGV[1]) then
			out[#out + 1] = KEYS[i]
		else
			out[#out + 1] = ''
		end
		out[#out + 1] = m
	end
end
return out
`)

// trackScript tracks one message taken by BRPOP: ARGV list, message, now.
var trackScript = redis.NewScript(trackLua + `
return track(ARGV[1], ARGV[2], ARGV[3]) and 1 or 0
`)

// restoreScript puts an unacknowledged message back on its lists if it is
// still the one read (ARGV[2]) and, when ARGV[3] is not empty, still older
// than that time: KEYS unacked, unacked_index, then the lists; ARGV tag,
// the unacked entry read, the ceiling, the message to push.
var restoreScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
if ARGV[3] ~= '' then
	local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
	if score and tonumber(score) > tonumber(ARGV[3]) then return 0 end
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
for i = 3, #KEYS do redis.call('RPUSH', KEYS[i], ARGV[4]) end
return 1
`)

// releaseMutex is kombu's Mutex release: delete the lock if it is ours.
var releaseMutex = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// worker is one Work call.
type worker struct {
	b       *backend
	h       backends.Handler
	queues  []string
	weights map[string]int
	strict  bool
	name    string

	slots  chan struct{}
	stop   context.Context // Work's: ends when the worker is to stop taking tasks
	runCtx context.Context // cancelled when the grace period ends
	wg     sync.WaitGroup

	mu       sync.Mutex
	inflight map[string]bool // tags taken and not yet acknowledged or put back
	round    int
}

// Work takes tasks from opts.Queues (kombu lists, with their priority
// lists) until ctx ends, runs them and stores their results; see the
// package documentation.
func (b *backend) Work(ctx context.Context, opts backends.WorkerOptions, h backends.Handler) error {
	w := &worker{b: b, h: h, weights: map[string]int{}, strict: opts.StrictPriority, inflight: map[string]bool{}, name: opts.Name}
	seen := map[string]bool{}
	add := func(q string) {
		if !seen[q] {
			seen[q] = true
			w.queues = append(w.queues, q)
		}
	}
	for _, q := range opts.Queues {
		add(q)
	}
	for q, wt := range opts.Priorities {
		if wt < 1 {
			return fmt.Errorf("celery: queue %q: priority %d must be at least 1", q, wt)
		}
		w.weights[q] = wt
		add(q)
	}
	if len(w.queues) == 0 {
		w.queues = b.tasks.WorkerQueues(opts, DefaultQueue)
	}
	sort.Strings(w.queues)
	if w.name == "" {
		host, _ := os.Hostname()
		w.name = fmt.Sprintf("taskhost-%d@%s", os.Getpid(), host)
	}
	opts = opts.WithDefaults(DefaultConcurrency)
	conc, grace := opts.Concurrency, opts.Grace
	w.slots = make(chan struct{}, conc)
	runCtx, stopRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRuns()
	w.runCtx, w.stop = runCtx, ctx

	p := b.broker.Pipeline()
	for _, q := range w.queues {
		p.SAdd(ctx, bindingKey(q), bindingMember(q))
	}
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("celery: declaring queues %s: %w", strings.Join(w.queues, ", "), err)
	}

	maintained, stopMaintain := make(chan struct{}), make(chan struct{})
	go func() { defer close(maintained); w.maintain(ctx, stopMaintain) }()
	w.fetch(ctx)

	// Drain: running tasks have the grace period; then they are cancelled
	// and their messages put back at once.
	drained := make(chan struct{})
	go func() { w.wg.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(grace):
		stopRuns()
		<-drained
	}
	close(stopMaintain)
	<-maintained
	return nil
}

// lists returns the lists to take from, in kombu's order (every queue's
// priority 0 list, then 3, 6, 9), the queues ordered by the worker's
// priorities: strictly by weight, by a weighted draw, or in turn.
func (w *worker) lists() []string {
	qs := append([]string(nil), w.queues...)
	switch {
	case w.strict:
		sort.SliceStable(qs, func(i, j int) bool { return w.weight(qs[i]) > w.weight(qs[j]) })
	case len(w.weights) > 0:
		key := map[string]float64{}
		for _, q := range qs {
			key[q] = math.Pow(rand.Float64(), 1/float64(w.weight(q))) // weighted random order
		}
		sort.Slice(qs, func(i, j int) bool { return key[qs[i]] > key[qs[j]] })
	default:
		w.mu.Lock()
		w.round++
		r := w.round % len(qs)
		w.mu.Unlock()
		qs = append(qs[r:], qs[:r]...)
	}
	out := make([]string, 0, 4*len(qs))
	for step := range 4 {
		for _, q := range qs {
			out = append(out, priorityLists(q)[step])
		}
	}
	return out
}

func (w *worker) weight(q string) int {
	if wt := w.weights[q]; wt > 0 {
		return wt
	}
	return 1
}

func unixNow() string { return fmt.Sprintf("%.6f", float64(time.Now().UnixMicro())/1e6) }

// fetch takes messages while there are free slots, until ctx ends: a
// script that takes and tracks in one step when messages wait, else a
// blocking BRPOP (one second at a time, as kombu) whose message is then
// tracked.
func (w *worker) fetch(ctx context.Context) {
	rc := w.b.broker
	for {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
		for n < 16 {
			select {
			case w.slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		lists := w.lists()
		keys := append([]string{unackedKey, unackedIndexKey, deadList}, lists...)
		res, err := popScript.Run(ctx, rc, keys, unixNow(), n).StringSlice()
		if err != nil && !errors.Is(err, redis.Nil) {
			w.release(n)
			if ctx.Err() != nil {
				return
			}
			w.b.logger.Error("celery: taking messages failed; retrying in a second", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		if len(res) == 0 {
			// The BRPOP outlives ctx by at most its second, and a message
			// it takes is run, not dropped.
			kv, err := rc.BRPop(context.WithoutCancel(ctx), time.Second, lists...).Result()
			if err != nil {
				w.release(n)
				if !errors.Is(err, redis.Nil) && ctx.Err() == nil {
					w.b.logger.Error("celery: waiting for messages failed; retrying in a second", "err", err)
					sleep(ctx, time.Second)
				}
				continue
			}
			ok, err := trackScript.Run(context.WithoutCancel(ctx), rc, []string{unackedKey, unackedIndexKey, deadList}, kv[0], kv[1], unixNow()).Int()
			if err != nil {
				// Not tracked: push it back rather than lose it.
				rc.RPush(context.WithoutCancel(ctx), kv[0], kv[1])
				w.release(n)
				w.b.logger.Error("celery: recording a taken message failed; it was put back", "err", err)
				sleep(ctx, time.Second)
				continue
			}
			res = []string{kv[0], kv[1]}
			if ok == 0 {
				res[0] = ""
			}
		}
		for i := 0; i+1 < len(res); i += 2 {
			if res[i] == "" {
				w.b.logger.Error("celery: a message that is not a kombu JSON message with a delivery tag was moved to "+deadList, "message", clip(res[i+1]))
				w.release(1)
				n--
				continue
			}
			w.wg.Add(1)
			go w.handle(res[i], res[i+1])
			n--
		}
		w.release(n)
	}
}

func (w *worker) release(n int) {
	for range n {
		<-w.slots
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// delivery is one message taken by this worker.
type delivery struct {
	list string
	raw  string // the message as taken
	env  envelope
	tag  string
}

// handle runs one delivery holding a slot, and always acknowledges it
// or puts it back.
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
		w.settle(bg, d, "", failed("bad_input", "the message's envelope is not kombu's: "+err.Error()))
		return
	}
	d.tag = d.env.Properties.DeliveryTag
	w.mu.Lock()
	w.inflight[d.tag] = true
	w.mu.Unlock()
	h := &d.env.Headers
	if h.ID == "" || h.Task == "" {
		w.settle(bg, d, "", failed("bad_input", "the message has no task name or id in its headers (protocol 1 messages are not supported; use Celery 4 or later)"))
		return
	}
	if h.Expires != nil && *h.Expires != "" {
		if t, err := parseISO(*h.Expires); err == nil && time.Now().After(t) {
			w.settle(bg, d, stateRevoked, &backends.TaskError{Kind: "expired", Message: "the task expired at " + *h.Expires + " before it ran"})
			return
		}
	}
	if h.ETA != nil && *h.ETA != "" {
		if t, err := parseISO(*h.ETA); err == nil && time.Until(t) > 0 {
			// Held, as Celery does, in memory and in unacked (refreshed, so
			// not put back while it waits), without taking a slot.
			// A stopping worker puts it back at once.
			w.release(1)
			held = false
			select {
			case <-time.After(time.Until(t)):
			case <-w.stop.Done():
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
	w.run(bg, d)
}

func failed(kind, msg string) *backends.TaskError {
	return &backends.TaskError{Kind: kind, Message: msg}
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

// run calls the handler for a delivery and settles it.
func (w *worker) run(bg context.Context, d *delivery) {
	b := w.b
	h := &d.env.Headers
	bd, err := decodeBody(&d.env)
	if err != nil {
		w.settle(bg, d, "", failed("bad_input", "task "+h.Task+": "+err.Error()))
		return
	}
	spec, err := b.spec(h.Task)
	if err != nil {
		w.settle(bg, d, "", failed("unknown_task", err.Error()+"; route it to a queue served by a worker that has it"))
		return
	}
	input, err := InputOf(bd.Args, bd.Kwargs)
	if err != nil {
		w.settle(bg, d, "", failed("bad_input", "task "+h.Task+": args and kwargs: "+err.Error()))
		return
	}
	timeout := spec.Timeout
	if hard := h.TimeLimit[0]; hard != nil && *hard > 0 {
		timeout = time.Duration(*hard * float64(time.Second))
	} else if soft := h.TimeLimit[1]; soft != nil && *soft > 0 {
		timeout = time.Duration(*soft * float64(time.Second))
	}
	queue := queueOfList(d.list)
	attempt := h.Retries + 1
	started := time.Now()
	p := b.broker.Pipeline()
	rk := recordKey(h.ID)
	enq := h.EnqueuedAt
	if enq == "" {
		enq = nowText()
	}
	p.HSetNX(bg, rk, "enqueued_at", enq)
	p.HSet(bg, rk, "task", h.Task, "queue", queue, "started_at", started.UTC().Format(time.RFC3339Nano), "attempt", attempt, "state", string(backends.StatusRunning))
	p.HDel(bg, rk, "finished_at")
	p.Expire(bg, rk, b.expires)
	if _, err := p.Exec(bg); err != nil {
		b.logger.Warn("celery: recording a task's start failed", "task", h.ID, "err", err)
	}
	if b.trackStarted && !h.IgnoreResult {
		host, _ := os.Hostname()
		started, _ := json.Marshal(map[string]any{"pid": os.Getpid(), "hostname": w.name + "@" + host})
		b.storeMeta(bg, b.results, h, queue, stateStarted, started)
	}

	ctx := w.runCtx
	var cancel context.CancelFunc = func() {}
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	out, herr := w.h.ProcessTask(ctx, &backends.Task{ID: h.ID, Name: h.Task, Input: input, Attempt: attempt, Heartbeat: func() {}})
	cancel()
	if herr != nil && w.runCtx.Err() != nil {
		// Cancelled at the end of the grace period: back to the queue.
		w.requeue(bg, d)
		return
	}
	if herr != nil {
		te := backends.ErrorOf(herr)
		max := spec.MaxRetries
		if h.MaxRetries != nil {
			max = *h.MaxRetries
		}
		if te.Retryable && h.Retries < max {
			w.retry(bg, d, bd, te)
			return
		}
		if h.Workflow != nil {
			if err := b.failWorkflow(bg, h.Workflow, te); err != nil {
				b.logger.Error("celery: marking a workflow failed", "workflow", h.Workflow.ID, "err", err)
			}
		}
		if len(bd.Embed.Errbacks) > 0 {
			b.logger.Warn("celery: a failed task's errbacks (link_error) are not run by this worker", "task", h.ID)
		}
		w.settle(bg, d, "", te)
		return
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	if h.Workflow != nil {
		if err := b.advance(bg, h.Workflow, out); err != nil {
			// Left unacknowledged: it is put back after the visibility
			// timeout and, run again, advances the workflow then.
			b.logger.Error("celery: advancing a workflow failed; the step will run again", "workflow", h.Workflow.ID, "err", err)
			return
		}
	}
	next, err := w.links(h, queueOfList(d.list), bd, out)
	if err != nil {
		b.logger.Error("celery: a chained task could not be sent", "task", h.ID, "err", err)
	}
	w.finish(bg, d, stateSuccess, out, next...)
}

// links builds the messages a succeeded task hands its result to: the
// next task of its chain (the rest of the chain with it) and its
// callbacks, each with the result as first arg unless immutable, on the
// queue its signature names, else on the queue the task came from (with
// Celery's default routing, both are the default queue).
func (w *worker) links(h *headers, from string, bd body, out json.RawMessage) ([]outgoing, error) {
	var msgs []outgoing
	build := func(raw json.RawMessage, chain []json.RawMessage) error {
		var s signature
		if err := json.Unmarshal(raw, &s); err != nil || s.Task == "" {
			return fmt.Errorf("a linked signature is not a Celery signature object: %s", clip(string(raw)))
		}
		args := s.Args
		if !s.Immutable {
			args = append([]json.RawMessage{out}, args...)
		}
		queue := s.option("queue")
		if queue == "" {
			queue = from
		}
		var prio int
		if raw, ok := s.Options["priority"]; ok {
			json.Unmarshal(raw, &prio)
		}
		parent := h.ID
		m, err := w.b.newMessage(headers{Task: s.Task, ID: s.option("task_id"), RootID: h.RootID, ParentID: &parent, EnqueuedAt: nowText()},
			queue, prio, body{Args: args, Kwargs: s.Kwargs, Embed: embed{Chain: chain}})
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
		return nil
	}
	if n := len(bd.Embed.Chain); n > 0 {
		if err := build(bd.Embed.Chain[n-1], bd.Embed.Chain[:n-1]); err != nil {
			return nil, err
		}
	}
	for _, cb := range bd.Embed.Callbacks {
		if err := build(cb, nil); err != nil {
			return msgs, err
		}
	}
	if len(bd.Embed.Chord) > 0 && string(bd.Embed.Chord) != "null" {
		w.b.logger.Warn("celery: chords are not run by this worker; the chord body was not called", "task", h.ID)
	}
	return msgs, nil
}

// retry sends the task again, with retries + 1, after a back-off (1 s,
// 2 s, 4 s ... up to 10 minutes), stores the RETRY state and acknowledges
// the attempt: one transaction.
func (w *worker) retry(bg context.Context, d *delivery, bd body, te *backends.TaskError) {
	h := d.env.Headers
	h.Retries++
	h.Redelivered = false
	eta := time.Now().Add(time.Duration(math.Min(math.Pow(2, float64(h.Retries-1)), 600)) * time.Second).UTC().Format(isoTime)
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
func (w *worker) settle(bg context.Context, d *delivery, state string, te *backends.TaskError) {
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
	if te.Kind == "bad_input" || te.Kind == "unknown_task" {
		w.b.logger.Error("celery: task refused", "task", d.env.Headers.Task, "id", d.env.Headers.ID, "reason", te.Message)
	}
	exc, _ := json.Marshal(excOf(te))
	w.finish(bg, d, state, exc)
}

// finish stores the attempt's state, sends the messages that follow it
// and acknowledges the delivery, in one transaction (or two, when results
// live in another Redis).
func (w *worker) finish(bg context.Context, d *delivery, state string, result json.RawMessage, next ...outgoing) {
	b := w.b
	h := &d.env.Headers
	queue := queueOfList(d.list)
	p := b.broker.TxPipeline()
	recState := map[string]backends.Status{stateSuccess: backends.StatusSucceeded, stateFailure: backends.StatusFailed,
		stateRetry: backends.StatusRetrying, stateRevoked: backends.StatusCancelled}[state]
	rk := recordKey(h.ID)
	p.HSet(bg, rk, "state", string(recState), "finished_at", nowText(), "task", h.Task, "queue", queue)
	p.HSetNX(bg, rk, "attempt", h.Retries+1)
	p.Expire(bg, rk, b.expires)
	for _, m := range next {
		rec := recordKey(m.id)
		p.HSetNX(bg, rec, "task", m.task)
		p.HSetNX(bg, rec, "queue", m.queue)
		p.HSetNX(bg, rec, "enqueued_at", nowText())
		p.HSetNX(bg, rec, "state", string(backends.StatusPending))
		p.Expire(bg, rec, b.expires)
	}
	push(bg, p, next...)
	if b.results == b.broker && !h.IgnoreResult {
		b.queueMeta(bg, p, h, queue, state, result)
	}
	ack(bg, p, d.tag)
	if _, err := p.Exec(bg); err != nil {
		// Not acknowledged: put back after the visibility timeout, and run
		// again then.
		b.logger.Error("celery: storing a task's outcome failed; it stays unacknowledged and will run again", "task", h.ID, "err", err)
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

// maintain, until stop is closed, keeps this worker's deliveries fresh in
// unacked_index (so that no worker puts back a message that is running or
// held for its ETA) and, until ctx ends, puts back other workers' messages
// older than the visibility timeout, as kombu's restore_visible, under
// unacked_mutex.
func (w *worker) maintain(ctx context.Context, stop <-chan struct{}) {
	every := min(max(w.b.visibility/4, 100*time.Millisecond), 30*time.Second)
	bg := context.WithoutCancel(ctx)
	for {
		w.refresh(bg)
		if ctx.Err() == nil {
			if err := w.restoreVisible(ctx); err != nil && ctx.Err() == nil {
				w.b.logger.Warn("celery: putting back old unacknowledged messages failed", "err", err)
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
	}
}

func (w *worker) refresh(ctx context.Context) {
	w.mu.Lock()
	members := make([]redis.Z, 0, len(w.inflight))
	now := float64(time.Now().UnixMicro()) / 1e6
	for tag := range w.inflight {
		members = append(members, redis.Z{Score: now, Member: tag})
	}
	w.mu.Unlock()
	if len(members) > 0 {
		w.b.broker.ZAddXX(ctx, unackedIndexKey, members...)
	}
}

func (w *worker) restoreVisible(ctx context.Context) error {
	rc := w.b.broker
	token := strings.ReplaceAll(uuid.NewString(), "-", "")
	ok, err := rc.SetNX(ctx, unackedMutexKey, token, 5*time.Minute).Result()
	if err != nil || !ok {
		return err
	}
	defer releaseMutex.Run(context.WithoutCancel(ctx), rc, []string{unackedMutexKey}, token)
	ceil := fmt.Sprintf("%.6f", float64(time.Now().Add(-w.b.visibility).UnixMicro())/1e6)
	tags, err := rc.ZRevRangeByScore(ctx, unackedIndexKey, &redis.ZRangeBy{Max: ceil, Min: "0", Count: 100}).Result()
	if err != nil {
		return err
	}
	for _, tag := range tags {
		w.mu.Lock()
		mine := w.inflight[tag]
		w.mu.Unlock()
		if mine {
			continue
		}
		if err := w.b.restore(ctx, tag, ceil); err != nil {
			return err
		}
		w.b.logger.Info("celery: put back an unacknowledged message older than the visibility timeout", "tag", tag)
	}
	return nil
}

// restore puts the unacknowledged message tag back on its queue, marked
// redelivered, if it is (still) older than ceil ("" for now).
func (b *backend) restore(ctx context.Context, tag, ceil string) error {
	entry, err := b.broker.HGet(ctx, unackedKey, tag).Result()
	if errors.Is(err, redis.Nil) {
		b.broker.ZRem(ctx, unackedIndexKey, tag) // an index entry without its message
		return nil
	}
	if err != nil {
		return err
	}
	var parts []json.RawMessage
	var exchange, routingKey string
	if json.Unmarshal([]byte(entry), &parts) != nil || len(parts) != 3 ||
		json.Unmarshal(parts[1], &exchange) != nil || json.Unmarshal(parts[2], &routingKey) != nil {
		return fmt.Errorf("unacked entry %s is not [message, exchange, routing key]", tag)
	}
	msg, prio, err := redelivered(parts[0])
	if err != nil {
		return fmt.Errorf("unacked message %s: %w", tag, err)
	}
	queues := []string{routingKey}
	if exchange != "" {
		// kombu's lookup: the queues bound to the exchange with this
		// routing key.
		members, err := b.broker.SMembers(ctx, bindingKey(exchange)).Result()
		if err != nil {
			return err
		}
		queues = queues[:0]
		for _, m := range members {
			if f := strings.Split(m, sep); len(f) == 3 && f[0] == routingKey {
				queues = append(queues, f[2])
			}
		}
	}
	keys := []string{unackedKey, unackedIndexKey}
	for _, q := range queues {
		keys = append(keys, priorityList(q, prio))
	}
	return restoreScript.Run(ctx, b.broker, keys, tag, entry, ceil, msg).Err()
}

// redelivered marks a message redelivered, as kombu does when it puts one
// back, keeping every other field as it was; it returns the message's
// priority too.
func redelivered(raw json.RawMessage) ([]byte, int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, 0, err
	}
	var h, p, di map[string]json.RawMessage
	if json.Unmarshal(m["headers"], &h) == nil && h != nil {
		h["redelivered"] = json.RawMessage("true")
		m["headers"], _ = json.Marshal(h)
	}
	prio := 0
	if json.Unmarshal(m["properties"], &p) == nil && p != nil {
		json.Unmarshal(p["priority"], &prio)
		if json.Unmarshal(p["delivery_info"], &di) == nil && di != nil {
			di["redelivered"] = json.RawMessage("true")
			p["delivery_info"], _ = json.Marshal(di)
		}
		m["properties"], _ = json.Marshal(p)
	}
	out, err := json.Marshal(m)
	return out, prio, err
}
