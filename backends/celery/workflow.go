package celery

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends"
	"taskhost.dev/backends/internal/redisflow"
)

// A workflow lives in the hash taskhost:celery:wf:ID (name, definition,
// status, per-stage pending counts, step outputs and task ids, a marker per
// stage sent) and the set taskhost:celery:wf:ID:done of the steps already
// counted; its steps are ordinary Celery messages with the header
// taskhost_workflow. Its end is published on the hash's own name.

const wfPrefix = "taskhost:celery:wf:"

// sendStage pushes a stage's messages once: the marker sent:STAGE and the
// messages go in one step. ARGV: stage, now, expiry (s), pending count,
// then per step its list, message, queue, task id and task name.
var sendStage = redis.NewScript(`
if redis.call('HSETNX', KEYS[1], 'sent:' .. ARGV[1], 1) == 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'pending:' .. ARGV[1], ARGV[4])
redis.call('HSET', KEYS[1], 'stage', ARGV[1])
local index = 0
for i = 5, #ARGV, 5 do
	local list, raw, queue, id, task = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
	local rec = 'taskhost:celery:task:' .. id
	redis.call('HSET', rec, 'task', task, 'queue', queue, 'enqueued_at', ARGV[2], 'state', 'pending')
	redis.call('EXPIRE', rec, ARGV[3])
	redis.call('HSET', KEYS[1], 'task:' .. ARGV[1] .. ':' .. index, id)
	redis.call('SADD', '_kombu.binding.' .. queue, queue .. '\6\22\6\22' .. queue)
	redis.call('LPUSH', list, raw)
	index = index + 1
end
return 1
`)

// SubmitWorkflow implements backends.Workflows.
func (b *backend) SubmitWorkflow(ctx context.Context, wf backends.Workflow, input json.RawMessage) (string, error) {
	if err := backends.CheckWorkflow(wf, input, func(t string) error { _, err := b.spec(t); return err }); err != nil {
		return "", fmt.Errorf("celery: %w", err)
	}
	def, _ := json.Marshal(wf)
	id := redisflow.NewID()
	key := wfPrefix + id
	p := b.broker.TxPipeline()
	p.HSet(ctx, key, "name", wf.Name, "definition", string(def), "status", "running", "created_at", nowText())
	p.Expire(ctx, key, b.expires+time.Hour)
	p.Expire(ctx, key+":done", b.expires+time.Hour)
	if _, err := p.Exec(ctx); err != nil {
		return "", fmt.Errorf("celery: submit workflow: %w", err)
	}
	if err := b.sendStage(ctx, &wf, id, 0, input); err != nil {
		return "", fmt.Errorf("celery: submit workflow: %w", err)
	}
	return id, nil
}

// sendStage sends a stage's steps, with ids derived from the workflow;
// sending a stage twice sends nothing the second time.
func (b *backend) sendStage(ctx context.Context, wf *backends.Workflow, id string, stage int, value json.RawMessage) error {
	steps := wf.Stages[stage].Steps
	args := []any{stage, nowText(), int(b.expires.Seconds()), len(steps)}
	for i, step := range steps {
		in, err := backends.StepInput(value, step.Params)
		if err != nil {
			return fmt.Errorf("stage %d step %d (%s): %w", stage+1, i+1, step.Task, err)
		}
		spec, err := b.spec(step.Task)
		if err != nil {
			return err
		}
		m, err := b.submission(spec, in, backends.SubmitOptions{}, redisflow.StepTaskID(id, stage, i), &wfRef{ID: id, Stage: stage, Index: i})
		if err != nil {
			return err
		}
		args = append(args, m.list, m.raw, m.queue, m.id, spec.Name)
	}
	return sendStage.Run(ctx, b.broker, []string{wfPrefix + id}, args...).Err()
}

// advance counts a finished step and, when its stage is done, sends the
// next stage or finishes the workflow.
func (b *backend) advance(ctx context.Context, ref *wfRef, out json.RawMessage) error {
	key := wfPrefix + ref.ID
	last, wf, value, err := redisflow.StepDone(ctx, b.broker, key, ref.Stage, ref.Index, out)
	if err != nil || !last {
		return err
	}
	if next := ref.Stage + 1; next < len(wf.Stages) {
		return b.sendStage(ctx, &wf, ref.ID, next, value)
	}
	p := b.broker.TxPipeline()
	p.HSet(ctx, key, "status", "succeeded", "output", string(value), "finished_at", nowText())
	_, err = p.Exec(ctx)
	b.announce(ctx, key)
	return err
}

// failWorkflow marks the workflow failed by a step's final error.
func (b *backend) failWorkflow(ctx context.Context, ref *wfRef, te *backends.TaskError) error {
	e, _ := json.Marshal(backends.FailedStep{TaskError: te, Stage: ref.Stage, Index: ref.Index})
	key := wfPrefix + ref.ID
	status, err := b.broker.HGet(ctx, key, "status").Result()
	if err != nil || status != "running" {
		return err
	}
	p := b.broker.TxPipeline()
	p.HSet(ctx, key, "status", "failed", "error", string(e), "finished_at", nowText())
	_, err = p.Exec(ctx)
	b.announce(ctx, key)
	return err
}

// announce wakes the waiters of a workflow, which listen on the result
// backend's Redis.
func (b *backend) announce(ctx context.Context, key string) {
	if err := b.results.Publish(ctx, key, "done").Err(); err != nil {
		b.logger.Warn("celery: announcing a finished workflow failed; waiters fall back to polling", "workflow", key, "err", err)
	}
}

// WorkflowResult implements backends.Workflows.
func (b *backend) WorkflowResult(ctx context.Context, id string) (backends.WorkflowResult, error) {
	res := backends.WorkflowResult{ID: id, Engine: Engine}
	h, err := b.broker.HGetAll(ctx, wfPrefix+id).Result()
	if err != nil {
		return res, fmt.Errorf("celery: reading workflow %s: %w", id, err)
	}
	if len(h) == 0 || h["definition"] == "" {
		return res, fmt.Errorf("celery: workflow %s: %w", id, backends.ErrNotFound)
	}
	if err := redisflow.FillResult(&res, h, func(id string) (backends.TaskResult, error) { return b.Result(ctx, id) }); err != nil {
		return res, fmt.Errorf("celery: %w", err)
	}
	return res, nil
}

// WaitWorkflow implements backends.Workflows.
func (b *backend) WaitWorkflow(ctx context.Context, id string) (backends.WorkflowResult, error) {
	wait, cancel := b.notes.subscribe(ctx, wfPrefix+id)
	defer cancel()
	return backends.WaitDone(ctx, func(ctx context.Context) (backends.WorkflowResult, backends.Status, error) {
		r, err := b.WorkflowResult(ctx, id)
		return r, r.Status, err
	}, wait)
}
