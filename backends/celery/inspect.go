package celery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// Retry, Purge and QueueStats over what this package keeps in Redis
// beside Celery's keys (records, the index) and kombu's (the queue lists,
// unacked). Listing is in index.go.

// retryScript sends a failed or cancelled task again under its id: KEYS
// its record, its revoked key, its queue's binding, the list to push on
// (the record's own key when there is no message), then the result's key
// when results are on the broker; ARGV the fresh message ("" when the
// task's message still waits to be taken: it was cancelled before it ran),
// the binding member, the record's expiry (s), the kept message read
// before. It returns "ok", else the record's state.
var retryScript = redis.NewScript(`
local rec = redis.call('HMGET', KEYS[1], 'state', 'message')
if rec[1] ~= 'failed' and rec[1] ~= 'cancelled' then return rec[1] or '' end
if (rec[2] or '') ~= ARGV[4] then return 'changed' end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[1], 'state', 'pending')
redis.call('HDEL', KEYS[1], 'finished_at', 'started_at', 'message', 'progress', 'attempt')
redis.call('EXPIRE', KEYS[1], ARGV[3])
if ARGV[1] ~= '' then
	redis.call('SADD', KEYS[3], ARGV[2])
	redis.call('LPUSH', KEYS[4], ARGV[1])
end
if #KEYS > 4 then redis.call('DEL', KEYS[5]) end
return 'ok'
`)

// Retry implements driver.Retrier: a failed or cancelled task is sent
// again under its id, from the copy of its message our worker kept when it
// ended (retries from 0, without its eta or expiry); a task cancelled
// before any worker took it is un-revoked, and its message, still waiting,
// runs when taken. A task run by a Python worker has no kept message: it
// cannot be retried here.
func (b *backend) Retry(ctx context.Context, id string) error {
	r, err := b.Result(ctx, id)
	if err != nil {
		return err
	}
	if r.Status != driver.StatusFailed && r.Status != driver.StatusCancelled {
		return fmt.Errorf("celery: retry %s: the task is %s: only a failed or cancelled task is retried", id, r.Status)
	}
	rec, err := b.broker.HMGet(ctx, recordKey(id), "state", "message").Result()
	if err != nil {
		return fmt.Errorf("celery: retry %s: %w", id, err)
	}
	state, _ := rec[0].(string)
	kept, _ := rec[1].(string)
	if state != string(r.Status) || (kept == "" && state == string(driver.StatusFailed)) {
		return fmt.Errorf("celery: retry %s: the task was run by a worker that keeps no copy of its message (a Python worker); submit it again", id)
	}
	var fresh []byte
	list := recordKey(id)
	if kept != "" {
		var prio int
		if fresh, prio, err = freshMessage(kept); err != nil {
			return fmt.Errorf("celery: retry %s: its kept message: %w", id, err)
		}
		list = priorityList(r.Queue, prio)
	}
	keys := []string{recordKey(id), revokedKey(id), bindingKey(r.Queue), list}
	var old string // the result to clear, when results are elsewhere
	if b.results == b.broker {
		keys = append(keys, metaKey(id))
	} else if old, err = b.results.Get(ctx, metaKey(id)).Result(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("celery: retry %s: reading its result: %w", id, err)
	}
	res, err := retryScript.Run(ctx, b.broker, keys, string(fresh), bindingMember(r.Queue), int(b.expires.Seconds()), kept).Text()
	if err != nil {
		return fmt.Errorf("celery: retry %s: %w", id, err)
	}
	if res != "ok" {
		return fmt.Errorf("celery: retry %s: the task changed meanwhile (now %s); look again", id, res)
	}
	if old != "" {
		// Unless the new attempt has stored its own already.
		if err := delIfScript.Run(ctx, b.results, []string{metaKey(id)}, old).Err(); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("celery: retry %s: clearing its old result: %w", id, err)
		}
	}
	return nil
}

// delIfScript deletes KEYS[1] if it still holds ARGV[1].
var delIfScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// freshMessage is a kept message made new for a retry: a new delivery
// tag, retries 0, no eta, expiry or redelivery mark; it returns its
// priority too.
func freshMessage(raw string) ([]byte, int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, 0, err
	}
	var h, p, di map[string]json.RawMessage
	if err := json.Unmarshal(m["headers"], &h); err != nil || h == nil {
		return nil, 0, fmt.Errorf("no headers")
	}
	h["retries"], h["eta"], h["expires"] = json.RawMessage("0"), json.RawMessage("null"), json.RawMessage("null")
	delete(h, "redelivered")
	m["headers"], _ = json.Marshal(h)
	prio := 0
	if json.Unmarshal(m["properties"], &p) == nil && p != nil {
		json.Unmarshal(p["priority"], &prio)
		p["delivery_tag"], _ = json.Marshal(uuid.NewString())
		if json.Unmarshal(p["delivery_info"], &di) == nil && di != nil {
			delete(di, "redelivered")
			p["delivery_info"], _ = json.Marshal(di)
		}
		m["properties"], _ = json.Marshal(p)
	}
	out, err := json.Marshal(m)
	return out, prio, err
}

// purgeScript empties a queue's lists, every sender's messages, and marks
// each task cancelled (REVOKED when results are on the broker), keeping
// its message for Retry: KEYS the lists, then the index, the queue's
// index and the set of queues; ARGV the record prefix, the result prefix
// ("" when results are elsewhere), now, the expiry (s), the exception,
// date_done, the queue, the index score. It returns the ids.
var purgeScript = redis.NewScript(`
local ids = {}
for i = 1, #KEYS - 3 do
	local msgs = redis.call('LRANGE', KEYS[i], 0, -1)
	redis.call('DEL', KEYS[i])
	for _, m in ipairs(msgs) do
		local ok, msg = pcall(cjson.decode, m)
		local h = ok and type(msg) == 'table' and msg.headers
		local id = type(h) == 'table' and h.id
		if type(id) == 'string' and id ~= '' then
			local task = type(h.task) == 'string' and h.task or ''
			local rec = ARGV[1] .. id
			redis.call('HSETNX', rec, 'enqueued_at', ARGV[3])
			redis.call('HSET', rec, 'task', task, 'queue', ARGV[7], 'state', 'cancelled', 'finished_at', ARGV[3], 'message', m)
			redis.call('EXPIRE', rec, ARGV[4])
			redis.call('ZADD', KEYS[#KEYS - 2], 'NX', ARGV[8], id)
			redis.call('ZADD', KEYS[#KEYS - 1], 'NX', ARGV[8], id)
			redis.call('SADD', KEYS[#KEYS], ARGV[7])
			if ARGV[2] ~= '' and h.ignore_result ~= true then
				local meta = '{"status":"REVOKED","result":' .. ARGV[5] .. ',"traceback":null,"children":[],"date_done":"' .. ARGV[6] ..
					'","task_id":' .. cjson.encode(id) .. ',"name":' .. cjson.encode(task) .. ',"queue":' .. cjson.encode(ARGV[7]) .. '}'
				redis.call('SET', ARGV[2] .. id, meta, 'EX', ARGV[4])
				redis.call('PUBLISH', ARGV[2] .. id, meta)
			end
			ids[#ids + 1] = id
		end
	end
end
return ids
`)

// Purge implements driver.Purger: the messages waiting in the queue's
// lists (whoever sent them) are deleted and their tasks marked cancelled
// (REVOKED), and the tasks of the queue that a worker holds for their eta
// or retry (in unacked, pending or retrying by our record) are revoked, so
// that their worker discards them. Running tasks are left.
func (b *backend) Purge(ctx context.Context, queue string) (int, error) {
	now := time.Now()
	metas := ""
	if b.results == b.broker {
		metas = metaPrefix
	}
	exc := revokedExc("purged")
	keys := append(priorityLists(queue), indexKey, queueIndexKey(queue), queuesKey)
	ids, err := purgeScript.Run(ctx, b.broker, keys, recordPrefix, metas, now.UTC().Format(time.RFC3339Nano),
		int(b.expires.Seconds()), string(exc), isoUTC(now), queue, strconv.FormatInt(int64(score(now)), 10)).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, fmt.Errorf("celery: purging queue %s: %w", queue, err)
	}
	if b.results != b.broker {
		for _, id := range ids {
			b.storeMeta(ctx, b.results, &headers{ID: id}, queue, stateRevoked, exc)
		}
	}
	held, err := b.heldIn(ctx, queue)
	if err != nil {
		return len(ids), fmt.Errorf("celery: purging queue %s: reading unacked: %w", queue, err)
	}
	var revoked []string
	for _, id := range held {
		// Only those waiting: a running task is left, and not revoked.
		if st, _ := b.broker.HGet(ctx, recordKey(id), "state").Result(); st != string(driver.StatusPending) && st != string(driver.StatusRetrying) {
			continue
		}
		state, err := b.markRevoked(ctx, id, revokeOnly)
		if err != nil {
			return len(ids) + len(revoked), fmt.Errorf("celery: purging queue %s: %w", queue, err)
		}
		if state == "marked" {
			revoked = append(revoked, id)
		}
	}
	if len(revoked) > 0 {
		if err := b.broadcastRevoke(ctx, revoked...); err != nil {
			return len(ids) + len(revoked), fmt.Errorf("celery: purging queue %s: broadcasting the revoke: %w", queue, err)
		}
	}
	return len(ids) + len(revoked), nil
}

// heldIn returns the ids of the messages of queue taken and not yet
// acknowledged (held for an eta, or running).
func (b *backend) heldIn(ctx context.Context, queue string) ([]string, error) {
	entries, err := b.broker.HVals(ctx, unackedKey).Result()
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, e := range entries {
		var parts []json.RawMessage
		var rk string
		if json.Unmarshal([]byte(e), &parts) != nil || len(parts) != 3 || json.Unmarshal(parts[2], &rk) != nil || rk != queue {
			continue
		}
		var m struct {
			Headers struct {
				ID string `json:"id"`
			} `json:"headers"`
		}
		if json.Unmarshal(parts[0], &m) == nil && m.Headers.ID != "" {
			ids = append(ids, m.Headers.ID)
		}
	}
	return ids, nil
}

// QueueStats implements driver.QueueStatser: each indexed task of each
// queue counted by its state as Result reads it (a task sent by a Python
// client counts once a worker of the host has taken it), and the host's
// workers serving it by their heartbeats.
func (b *backend) QueueStats(ctx context.Context) ([]driver.QueueStats, error) {
	queues, err := b.broker.SMembers(ctx, queuesKey).Result()
	if err != nil {
		return nil, fmt.Errorf("celery: counting tasks: %w", err)
	}
	served := map[string]int{}
	ws, werr := b.workers(ctx)
	for _, qs := range ws {
		for _, q := range qs {
			if served[q] == 0 && !slices.Contains(queues, q) {
				queues = append(queues, q)
			}
			served[q]++
		}
	}
	out := make([]driver.QueueStats, 0, len(queues))
	for _, q := range queues {
		s := driver.QueueStats{Queue: q, Workers: served[q]}
		if werr != nil {
			s.Workers = -1
		}
		n, err := b.count(ctx, &s)
		if err != nil {
			return nil, fmt.Errorf("celery: counting the tasks of queue %s: %w", q, err)
		}
		if n == 0 && served[q] == 0 {
			b.broker.SRem(ctx, queuesKey, q) // nothing left of it
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out, nil
}

// count adds the states of a queue's indexed tasks to s, and drops from
// the index the tasks gone; it returns how many it counted.
func (b *backend) count(ctx context.Context, s *driver.QueueStats) (int, error) {
	key := queueIndexKey(s.Queue)
	const batch = 1000
	total := 0
	for start := int64(0); ; start += batch {
		ids, err := b.broker.ZRange(ctx, key, start, start+batch-1).Result()
		if err != nil {
			return total, err
		}
		p := b.broker.Pipeline()
		states := make([]*redis.StringCmd, len(ids))
		for i, id := range ids {
			states[i] = p.HGet(ctx, recordKey(id), "state")
		}
		if len(ids) > 0 {
			p.Exec(ctx)
		}
		var live, gone []string
		for i, id := range ids {
			st, err := states[i].Result()
			switch {
			case errors.Is(err, redis.Nil):
				gone = append(gone, id)
			case err != nil:
				return total, err
			case driver.Status(st).Done():
				add(s, driver.Status(st))
				total++
			default:
				live = append(live, id) // a Python worker may have ended it: read its result
			}
		}
		rs, err := b.readResults(ctx, live)
		if err != nil {
			return total, err
		}
		for _, r := range rs {
			if r != nil {
				add(s, r.Status)
				total++
			}
		}
		if len(gone) > 0 {
			b.broker.ZRem(ctx, key, toAny(gone)...)
			start -= int64(len(gone))
		}
		if len(ids) < batch {
			return total, nil
		}
	}
}

func add(s *driver.QueueStats, st driver.Status) {
	switch st {
	case driver.StatusPending:
		s.Pending++
	case driver.StatusRunning:
		s.Running++
	case driver.StatusRetrying:
		s.Retrying++
	case driver.StatusSucceeded:
		s.Succeeded++
	case driver.StatusFailed:
		s.Failed++
	case driver.StatusCancelled:
		s.Cancelled++
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
