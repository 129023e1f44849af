package asynq

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/encoding/protowire"

	"taskhost.dev/backends/driver"
)

// Batches on asynq (driver.Batcher). asynq (v0.26) has no batch enqueue
// (hibiken/asynq#535), and its Client runs one script per task. EnqueueMany
// writes the whole batch in one Redis script, one round trip, all or none:
// each task exactly as asynq's own enqueue writes it (its Client.Enqueue
// with the same options, see enqueue.go): the task hash asynq:{Q}:t:ID
// with its message (msg: asynq's TaskMessage, protobuf), state and
// pending_since, the id pushed on asynq:{Q}:pending (or, delayed, added to
// asynq:{Q}:scheduled at its time), the queue added to asynq:queues. That
// layout is asynq's storage format, which asynq keeps readable across its
// versions (tasks outlive upgrades); TestBatchReadByAsynq checks it against
// the asynq this module builds with. An entry with a unique key claims it
// first (one round trip each, as Enqueue does); an entry whose key a live
// task holds gets that task's id, and the claims are released if the
// batch is not written.

// taskMessage is what asynq's TaskMessage (internal/proto/asynq.proto)
// holds of a task this driver enqueues.
type taskMessage struct {
	Type      string // 1
	Payload   []byte // 2
	ID        string // 3
	Queue     string // 4
	Retry     int64  // 5
	Timeout   int64  // 8, in seconds
	Retention int64  // 12, in seconds
}

// encode writes m in protobuf's wire format, as asynq's EncodeMessage
// does (proto3: zero fields are left out).
func (m *taskMessage) encode() []byte {
	b := make([]byte, 0, len(m.Payload)+len(m.Type)+len(m.ID)+len(m.Queue)+32)
	bytesField := func(n protowire.Number, v []byte) {
		if len(v) > 0 {
			b = protowire.AppendTag(b, n, protowire.BytesType)
			b = protowire.AppendBytes(b, v)
		}
	}
	varintField := func(n protowire.Number, v int64) {
		if v != 0 {
			b = protowire.AppendTag(b, n, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	}
	bytesField(1, []byte(m.Type))
	bytesField(2, m.Payload)
	bytesField(3, []byte(m.ID))
	bytesField(4, []byte(m.Queue))
	varintField(5, m.Retry)
	varintField(8, m.Timeout)
	varintField(12, m.Retention)
	return b
}

// enqueueBatch writes a batch as asynq's enqueue and schedule scripts
// write one task each: KEYS asynq:queues, then per task its hash and its
// pending list or scheduled set; ARGV the time (ns), then per task its id,
// message, score (0: pending, else its Unix time) and queue. A task whose
// id exists (or repeats an earlier one of the batch) is left out: its
// entry of the reply is 0, the others' 1.
var enqueueBatch = redis.NewScript(`
local n = (#KEYS - 1) / 2
local out, seen = {}, {}
for i = 1, n do
	local k = KEYS[2 * i]
	if seen[k] or redis.call('EXISTS', k) == 1 then out[i] = 0 else out[i] = 1 end
	seen[k] = true
end
for i = 1, n do
	if out[i] == 1 then
		local a = 2 + (i - 1) * 4
		if ARGV[a + 2] == '0' then
			redis.call('HSET', KEYS[2 * i], 'msg', ARGV[a + 1], 'state', 'pending', 'pending_since', ARGV[1])
			redis.call('LPUSH', KEYS[2 * i + 1], ARGV[a])
		else
			redis.call('HSET', KEYS[2 * i], 'msg', ARGV[a + 1], 'state', 'scheduled')
			redis.call('ZADD', KEYS[2 * i + 1], ARGV[a + 2], ARGV[a])
		end
		redis.call('SADD', KEYS[1], ARGV[a + 3])
	end
end
return out
`)

// allQueues is asynq's set of queue names (its base.AllQueues).
const allQueues = "asynq:queues"

// claimed is a unique key an entry of a batch holds.
type claimed struct{ key, id string }

// EnqueueMany implements driver.Batcher; see the top of this file.
func (b *backend) EnqueueMany(ctx context.Context, jobs []*driver.Job) ([]string, error) {
	ids := make([]string, len(jobs))
	keys := make([]string, 1, 1+2*len(jobs))
	keys[0] = allQueues
	args := make([]any, 1, 1+4*len(jobs))
	now := time.Now()
	args[0] = now.UnixNano()
	var claims []claimed
	release := func() {
		for _, c := range claims {
			if err := b.unique.Release(context.WithoutCancel(ctx), b.rc, c.key, c.id).Err(); err != nil {
				b.logger.Warn("asynq: releasing the unique key of a task not enqueued failed; it is free within a minute", "key", c.key, "err", err)
			}
		}
	}
	fail := func(i int, err error) ([]string, error) {
		release()
		if i >= 0 {
			err = fmt.Errorf("asynq: submit %q: %w", jobs[i].Task, err)
		} else {
			err = fmt.Errorf("asynq: submit a batch of %d: %w", len(jobs), err)
		}
		return nil, &driver.BatchError{Index: i, Err: err}
	}
	var written []int // the entries the script writes, in order
	for i, j := range jobs {
		taskID := j.ID
		if j.UniqueKey != "" || taskID == "" {
			taskID = uuid.NewString()
		}
		if j.UniqueKey != "" {
			holder, err := b.unique.Claim(ctx, b.rc, j.UniqueKey, j.Queue+"/"+taskID, taskKey(j.Queue, taskID), Retention+max(time.Until(j.RunAt), 0))
			if err != nil {
				return fail(i, fmt.Errorf("unique key %q: %w", j.UniqueKey, err))
			}
			if holder != "" {
				ids[i] = holder
				continue
			}
			claims = append(claims, claimed{j.UniqueKey, j.Queue + "/" + taskID})
		}
		payload, err := json.Marshal(envelope{Input: j.Input, EnqueuedAt: now.UTC(), Timeout: j.Timeout, Unique: j.UniqueKey, Flow: j.Flow, Meta: j.Meta, Backoff: j.Backoff.Custom(), Reserve: true})
		if err != nil {
			return fail(i, err)
		}
		retries := j.MaxRetries + 1 // the reserve (see envelope.Reserve)
		msg := taskMessage{Type: j.Task, Payload: payload, ID: taskID, Queue: j.Queue, Retry: int64(retries),
			Timeout: int64((j.Timeout.Truncate(time.Second) + time.Second).Seconds()), Retention: int64(Retention.Seconds())}
		score, list := int64(0), "asynq:{"+j.Queue+"}:pending"
		// As enqueue: a delayed task runs at the next whole second.
		if at := j.RunAt.Truncate(time.Second).Add(time.Second); !j.RunAt.IsZero() && at.After(now) {
			score, list = at.Unix(), "asynq:{"+j.Queue+"}:scheduled"
		}
		keys = append(keys, taskKey(j.Queue, taskID), list)
		args = append(args, taskID, msg.encode(), score, j.Queue)
		ids[i] = j.Queue + "/" + taskID
		written = append(written, i)
	}
	if len(written) == 0 {
		return ids, nil
	}
	res, err := enqueueBatch.Run(ctx, b.rc, keys, args...).Int64Slice()
	if err == nil && len(res) != len(written) {
		err = fmt.Errorf("the batch script replied %d entries for %d tasks", len(res), len(written))
	}
	if err != nil {
		return fail(-1, err)
	}
	// An entry left out (0) had the job's ID in use: a task enqueued before
	// under it, whose id it gets, as enqueue does.
	return ids, nil
}
