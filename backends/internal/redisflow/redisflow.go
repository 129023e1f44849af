// Package redisflow is the Redis bookkeeping of the client's workflow
// runner that the asynq and Celery drivers share: everything of
// driver.FlowStore but EnqueueStage, which each driver writes its engine's
// way.
//
// A workflow is the hash PREFIX+ID: name, definition (the workflow's
// JSON), status (running, succeeded, failed, cancelled), created_at, finished_at,
// output or error (a driver.FailedStep's JSON), per stage the count of
// its steps not yet done "pending:S", per
// counted step its output "out:S:I", per submitted step its task id
// "task:S:I"; and the set PREFIX+ID+":done" of the steps counted ("S:I").
// Both expire TTL after the workflow was created.
package redisflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// Store keeps the workflows of one driver. Its methods implement those of
// driver.FlowStore but EnqueueStage; a driver embeds it and adds its own
// EnqueueStage. Each method is one atomic step in Redis.
type Store struct {
	// RC is the Redis the workflows live in.
	RC redis.Cmdable
	// Prefix starts the key of every workflow of this driver.
	Prefix string
	// TTL is how long a workflow's keys are kept after it was created.
	TTL time.Duration
	// Announce wakes the waiters of workflow id (the driver's notice
	// channel); EndFlow calls it once the workflow has ended.
	Announce func(ctx context.Context, id string) error
}

// Key is the hash of workflow id.
func (s *Store) Key(id string) string { return s.Prefix + id }

func nowText() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// CreateFlow implements driver.FlowStore.
func (s *Store) CreateFlow(ctx context.Context, id string, wf driver.Workflow) error {
	def, err := json.Marshal(wf)
	if err != nil {
		return err
	}
	fields := []any{"name", wf.Name, "definition", def, "status", string(driver.StatusRunning), "created_at", nowText()}
	for i, st := range wf.Stages {
		fields = append(fields, "pending:"+strconv.Itoa(i), len(st.Steps))
	}
	p := s.RC.TxPipeline()
	p.HSet(ctx, s.Key(id), fields...)
	p.Expire(ctx, s.Key(id), s.TTL)
	_, err = p.Exec(ctx)
	return err
}

// stepDone records a step's output and counts its stage down, once per
// step however often it runs: KEYS the workflow's hash and done set; ARGV
// stage, index, output. It returns -1 when the workflow is not running,
// the stage's pending count while it is above zero, and at zero {0, the
// definition, the stage's outputs in step order}.
var stepDone = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return -1 end
local step = ARGV[1] .. ':' .. ARGV[2]
local pending
if redis.call('SADD', KEYS[2], step) == 1 then
	local ttl = redis.call('PTTL', KEYS[1])
	if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
	redis.call('HSET', KEYS[1], 'out:' .. step, ARGV[3])
	pending = redis.call('HINCRBY', KEYS[1], 'pending:' .. ARGV[1], -1)
else
	pending = tonumber(redis.call('HGET', KEYS[1], 'pending:' .. ARGV[1]))
end
if pending ~= 0 then return pending end
local def = redis.call('HGET', KEYS[1], 'definition')
local out = {0, def}
for i = 0, #cjson.decode(def).stages[tonumber(ARGV[1]) + 1].steps - 1 do
	out[#out + 1] = redis.call('HGET', KEYS[1], 'out:' .. ARGV[1] .. ':' .. i) or 'null'
end
return out
`)

// StepDone implements driver.FlowStore: a step run again (a worker died
// before acknowledging it, or this call failed after Redis counted it)
// is counted once, and when its stage is done it reports the stage done
// again, so that the runner's next step (EnqueueStage, EndFlow, both
// idempotent) is retried too.
func (s *Store) StepDone(ctx context.Context, ref driver.FlowRef, out json.RawMessage) (*driver.StageDone, error) {
	key := s.Key(ref.ID)
	res, err := stepDone.Run(ctx, s.RC, []string{key, key + ":done"}, ref.Stage, ref.Index, string(out)).Result()
	if err != nil {
		return nil, err
	}
	if done, ok := res.([]any); ok && len(done) >= 2 {
		return stageDone(ref.ID, done)
	}
	return nil, nil // not running any more (-1), or the stage is still running
}

// stageDone reads stepDone's reply for a finished stage.
func stageDone(id string, res []any) (*driver.StageDone, error) {
	def, _ := res[1].(string)
	done := &driver.StageDone{Outputs: make([]json.RawMessage, 0, len(res)-2)}
	if err := json.Unmarshal([]byte(def), &done.Workflow); err != nil {
		return nil, fmt.Errorf("workflow %s: its stored definition does not decode: %w", id, err)
	}
	for _, v := range res[2:] {
		o, _ := v.(string)
		done.Outputs = append(done.Outputs, json.RawMessage(o))
	}
	return done, nil
}

// endFlow ends a running workflow: KEYS its hash; ARGV status, the field
// (output or error) and its value, the time. It returns 1 when it did.
var endFlow = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], ARGV[2], ARGV[3], 'finished_at', ARGV[4])
return 1
`)

// EndFlow implements driver.FlowStore.
func (s *Store) EndFlow(ctx context.Context, id string, output json.RawMessage, failed *driver.FailedStep) error {
	status, field, value := driver.StatusSucceeded, "output", []byte(output)
	if failed != nil {
		status, field = driver.StatusFailed, "error"
		var err error
		if value, err = json.Marshal(failed); err != nil {
			return err
		}
	}
	ended, err := endFlow.Run(ctx, s.RC, []string{s.Key(id)}, string(status), field, value, nowText()).Int()
	if err != nil || ended == 0 {
		return err
	}
	return s.Announce(ctx, id)
}

// cancelFlow ends a running workflow as cancelled: KEYS its hash; ARGV
// the time. It returns 1 when it did.
var cancelFlow = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[1])
return 1
`)

// CancelFlow implements driver.FlowCanceler: a running workflow is marked
// cancelled (StepDone then counts nothing and EndFlow ends nothing) and
// its waiters are woken; it reports false, changing nothing, when the
// workflow was not running (or is unknown). Cancelling its steps' tasks
// is the caller's (the client's runner, with the driver's Canceler).
func (s *Store) CancelFlow(ctx context.Context, id string) (bool, error) {
	n, err := cancelFlow.Run(ctx, s.RC, []string{s.Key(id)}, nowText()).Int()
	if err != nil {
		return false, fmt.Errorf("cancelling workflow %s: %w", id, err)
	}
	if n == 0 {
		return false, nil
	}
	return true, s.Announce(ctx, id)
}

// FlowStatus returns workflow id's status; ErrNotFound when unknown. A
// driver reads it after recording a stage's task ids (SetTaskIDs), to
// cancel the tasks of a stage enqueued while its workflow was cancelled.
func (s *Store) FlowStatus(ctx context.Context, id string) (driver.Status, error) {
	st, err := s.RC.HGet(ctx, s.Key(id), "status").Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("workflow %s: %w", id, driver.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("reading workflow %s: %w", id, err)
	}
	return driver.Status(st), nil
}

// SetTaskIDs records the task ids of a stage's steps, in step order.
func (s *Store) SetTaskIDs(ctx context.Context, id string, stage int, taskIDs []string) error {
	fields := make([]any, 0, 2*len(taskIDs))
	for i, tid := range taskIDs {
		fields = append(fields, fmt.Sprintf("task:%d:%d", stage, i), tid)
	}
	return s.RC.HSet(ctx, s.Key(id), fields...).Err()
}

// ReadFlow implements driver.FlowStore.
func (s *Store) ReadFlow(ctx context.Context, id string) (driver.FlowRecord, error) {
	h, err := s.RC.HGetAll(ctx, s.Key(id)).Result()
	if err != nil {
		return driver.FlowRecord{}, fmt.Errorf("reading workflow %s: %w", id, err)
	}
	if h["definition"] == "" {
		return driver.FlowRecord{}, fmt.Errorf("workflow %s: %w", id, driver.ErrNotFound)
	}
	rec := driver.FlowRecord{Status: driver.Status(h["status"]), TaskIDs: map[[2]int]string{}, Outputs: map[[2]int]json.RawMessage{}}
	if err := json.Unmarshal([]byte(h["definition"]), &rec.Workflow); err != nil {
		return rec, fmt.Errorf("workflow %s: its stored definition does not decode: %w", id, err)
	}
	rec.CreatedAt, _ = time.Parse(time.RFC3339Nano, h["created_at"])
	rec.FinishedAt, _ = time.Parse(time.RFC3339Nano, h["finished_at"])
	if out, ok := h["output"]; ok {
		rec.Output = driver.CompactJSON([]byte(out))
	}
	rec.Failed = driver.DecodeFailedStep(h["error"])
	for f, v := range h {
		kind, at, _ := strings.Cut(f, ":")
		var stage, index int
		if _, err := fmt.Sscanf(at, "%d:%d", &stage, &index); err != nil {
			continue
		}
		switch kind {
		case "task":
			rec.TaskIDs[[2]int{stage, index}] = v
		case "out":
			rec.Outputs[[2]int{stage, index}] = driver.CompactJSON([]byte(v))
		}
	}
	return rec, nil
}
