package asynq

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"taskhost.dev/backends"
	"taskhost.dev/backends/internal/redisflow"
)

// A workflow lives in the hash taskhost:wf:ID (name, definition, status,
// stage, per-stage pending counts, step outputs) and the set
// taskhost:wf:ID:done of the steps already counted.

const wfPrefix = "taskhost:wf:"

func nowText() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// SubmitWorkflow implements backends.Workflows.
func (b *backend) SubmitWorkflow(ctx context.Context, wf backends.Workflow, input json.RawMessage) (string, error) {
	if err := backends.CheckWorkflow(wf, input, func(t string) error { _, err := b.spec(t); return err }); err != nil {
		return "", fmt.Errorf("asynq: %w", err)
	}
	def, _ := json.Marshal(wf)
	id := redisflow.NewID()
	key := wfPrefix + id
	if err := b.rc.HSet(ctx, key, "name", wf.Name, "definition", string(def), "status", "running", "stage", 0,
		"pending:0", len(wf.Stages[0].Steps), "created_at", nowText()).Err(); err != nil {
		return "", fmt.Errorf("asynq: submit workflow: %w", err)
	}
	b.rc.Expire(ctx, key, Retention+time.Hour)
	if err := b.enqueueStage(ctx, &wf, id, 0, input); err != nil {
		return "", fmt.Errorf("asynq: submit workflow: %w", err)
	}
	return id, nil
}

// enqueueStage enqueues a stage's steps with ids derived from the
// workflow, so doing it twice enqueues nothing new.
func (b *backend) enqueueStage(ctx context.Context, wf *backends.Workflow, id string, stage int, value json.RawMessage) error {
	for i, step := range wf.Stages[stage].Steps {
		in, err := backends.StepInput(value, step.Params)
		if err != nil {
			return fmt.Errorf("stage %d step %d (%s): %w", stage+1, i+1, step.Task, err)
		}
		spec, err := b.spec(step.Task)
		if err != nil {
			return err
		}
		tid := redisflow.StepTaskID(id, stage, i)
		taskID, err := b.enqueue(ctx, spec, in, backends.SubmitOptions{}, tid, &wfRef{ID: id, Stage: stage, Index: i})
		if err != nil {
			return err
		}
		b.rc.HSet(ctx, wfPrefix+id, fmt.Sprintf("task:%d:%d", stage, i), taskID)
	}
	return nil
}

// advance counts a finished step and, when its stage is done, enqueues the
// next stage or finishes the workflow.
func (b *backend) advance(ctx context.Context, ref *wfRef, out json.RawMessage) error {
	key := wfPrefix + ref.ID
	last, wf, value, err := redisflow.StepDone(ctx, b.rc, key, ref.Stage, ref.Index, out)
	if err != nil || !last {
		return err
	}
	next := ref.Stage + 1
	if next == len(wf.Stages) {
		if err := b.rc.HSet(ctx, key, "status", "succeeded", "output", string(value), "finished_at", nowText()).Err(); err != nil {
			return err
		}
		b.publish(ctx, ref.ID)
		return nil
	}
	// The count is set before the steps exist, and only once.
	if err := b.rc.HSetNX(ctx, key, "pending:"+strconv.Itoa(next), len(wf.Stages[next].Steps)).Err(); err != nil {
		return err
	}
	b.rc.HSet(ctx, key, "stage", next)
	return b.enqueueStage(ctx, &wf, ref.ID, next, value)
}

// failWorkflow marks the workflow failed by a step's final error.
func (b *backend) failWorkflow(ctx context.Context, ref *wfRef, te *backends.TaskError) error {
	e, _ := json.Marshal(backends.FailedStep{TaskError: te, Stage: ref.Stage, Index: ref.Index})
	key := wfPrefix + ref.ID
	status, err := b.rc.HGet(ctx, key, "status").Result()
	if err != nil || status != "running" {
		return err
	}
	if err := b.rc.HSet(ctx, key, "status", "failed", "error", string(e), "finished_at", nowText()).Err(); err != nil {
		return err
	}
	b.publish(ctx, ref.ID)
	return nil
}

// WorkflowResult implements backends.Workflows.
func (b *backend) WorkflowResult(ctx context.Context, id string) (backends.WorkflowResult, error) {
	res := backends.WorkflowResult{ID: id, Engine: Engine}
	h, err := b.rc.HGetAll(ctx, wfPrefix+id).Result()
	if err != nil {
		return res, fmt.Errorf("asynq: reading workflow %s: %w", id, err)
	}
	if len(h) == 0 {
		return res, fmt.Errorf("asynq: workflow %s: %w", id, backends.ErrNotFound)
	}
	if err := redisflow.FillResult(&res, h, func(id string) (backends.TaskResult, error) { return b.Result(ctx, id) }); err != nil {
		return res, fmt.Errorf("asynq: %w", err)
	}
	return res, nil
}

// WaitWorkflow implements backends.Workflows.
func (b *backend) WaitWorkflow(ctx context.Context, id string) (backends.WorkflowResult, error) {
	wait, cancel := b.subscribe(id)
	defer cancel()
	return backends.WaitDone(ctx, func(ctx context.Context) (backends.WorkflowResult, backends.Status, error) {
		r, err := b.WorkflowResult(ctx, id)
		return r, r.Status, err
	}, wait)
}
