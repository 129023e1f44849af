package asynq

import (
	"context"
	"fmt"

	"taskhost.dev/backends/driver"
)

// EnqueueStage implements driver.FlowStore (the rest of it is the
// embedded redisflow.Store): each step's asynq task id is derived from the
// workflow (Job.ID), so enqueueing a stage again enqueues nothing new.
func (b *backend) EnqueueStage(ctx context.Context, id string, stage int, jobs []*driver.Job) error {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		tid, err := b.enqueue(ctx, j)
		if err != nil {
			return fmt.Errorf("stage %d step %d (%s): %w", stage+1, i+1, j.Task, err)
		}
		ids[i] = tid
	}
	return b.SetTaskIDs(ctx, id, stage, ids)
}
