// Package redisflow is the workflow bookkeeping the Redis adapters
// (asynq, celery) share: a workflow is a hash (name, definition, status,
// per-stage pending counts, step outputs "out:STAGE:INDEX") and a set
// KEY:done of the steps already counted.
package redisflow

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
)

// NewID returns a new workflow id, "wf_" and 24 hex digits.
func NewID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "wf_" + hex.EncodeToString(b)
}

// StepTaskID is the task id of a workflow's step: derived from the
// workflow, stage and index, so that sending a stage twice is detectable.
func StepTaskID(id string, stage, index int) string {
	return fmt.Sprintf("%s_%d_%d", id, stage, index)
}

// stepDone records a step's output and counts its stage down, once per
// step however often it runs. It returns the stage's pending count, or -1
// when the workflow is no longer running.
var stepDone = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return -1 end
local step = ARGV[1] .. ':' .. ARGV[2]
if redis.call('SADD', KEYS[2], step) == 1 then
	redis.call('HSET', KEYS[1], 'out:' .. step, ARGV[3])
	return redis.call('HINCRBY', KEYS[1], 'pending:' .. ARGV[1], -1)
end
return tonumber(redis.call('HGET', KEYS[1], 'pending:' .. ARGV[1]))
`)

// StepDone records the output of step (stage, index) of the workflow
// hash key and reports whether it was the last of its stage to finish
// while the workflow runs. When it was, it returns the definition and the
// value the next stage receives (backends.StageOutput of the stage's
// outputs, in step order).
func StepDone(ctx context.Context, rc redis.Cmdable, key string, stage, index int, out json.RawMessage) (last bool, wf backends.Workflow, value json.RawMessage, err error) {
	pending, err := stepDone.Run(ctx, rc, []string{key, key + ":done"}, stage, index, string(out)).Int()
	if err != nil || pending != 0 {
		return false, wf, nil, err // -1: failed or gone; > 0: the stage is still running
	}
	def, err := rc.HGet(ctx, key, "definition").Result()
	if err != nil {
		return false, wf, nil, err
	}
	if err := json.Unmarshal([]byte(def), &wf); err != nil {
		return false, wf, nil, fmt.Errorf("workflow %s: its stored definition does not decode: %w", key, err)
	}
	n := len(wf.Stages[stage].Steps)
	fields := make([]string, n)
	for i := range fields {
		fields[i] = fmt.Sprintf("out:%d:%d", stage, i)
	}
	vals, err := rc.HMGet(ctx, key, fields...).Result()
	if err != nil {
		return false, wf, nil, err
	}
	outputs := make([]json.RawMessage, n)
	for i, v := range vals {
		s, _ := v.(string)
		outputs[i] = json.RawMessage(s)
	}
	return true, wf, backends.StageOutput(outputs), nil
}

// FillResult fills res from a workflow's hash h (name, definition,
// status, created_at, finished_at, output, error, the steps' task ids
// "task:STAGE:INDEX"), reading each step's task with result.
func FillResult(res *backends.WorkflowResult, h map[string]string, result func(id string) (backends.TaskResult, error)) error {
	var wf backends.Workflow
	if err := json.Unmarshal([]byte(h["definition"]), &wf); err != nil {
		return fmt.Errorf("workflow %s: its stored definition does not decode: %w", res.ID, err)
	}
	res.Workflow = h["name"]
	res.Status = backends.Status(h["status"])
	if h["status"] == "running" {
		res.Status = backends.StatusRunning
	}
	res.EnqueuedAt, _ = time.Parse(time.RFC3339Nano, h["created_at"])
	res.FinishedAt, _ = time.Parse(time.RFC3339Nano, h["finished_at"])
	if out, ok := h["output"]; ok {
		res.Output = backends.CompactJSON([]byte(out))
	}
	if e, ok := h["error"]; ok {
		res.Error = backends.DecodeTaskError(e)
	}
	var err error
	res.Steps, err = backends.StepResults(wf, res.Status, h["error"],
		func(stage, index int) (string, bool) {
			id, ok := h[fmt.Sprintf("task:%d:%d", stage, index)]
			return id, ok
		}, result)
	return err
}
