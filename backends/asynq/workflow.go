package asynq

import (
	"context"
	"errors"
	"fmt"

	"taskhost.dev/backends/driver"
)

// EnqueueStage implements driver.FlowStore (the rest of it is the
// embedded redisflow.Store): each step's asynq task id is derived from the
// workflow (Job.ID), so enqueueing a stage again enqueues nothing new. A
// stage enqueued while its workflow was being cancelled (the canceller
// read the task ids before these were recorded) is cancelled here.
func (b *backend) EnqueueStage(ctx context.Context, id string, stage int, jobs []*driver.Job) error {
	ids := make([]string, len(jobs))
	for i, j := range jobs {
		tid, err := b.enqueue(ctx, j)
		if err != nil {
			return fmt.Errorf("stage %d step %d (%s): %w", stage+1, i+1, j.Task, err)
		}
		ids[i] = tid
	}
	if err := b.SetTaskIDs(ctx, id, stage, ids); err != nil {
		return err
	}
	st, err := b.FlowStatus(ctx, id)
	if err != nil || st != driver.StatusCancelled {
		return err
	}
	var errs []error
	for _, tid := range ids {
		if err := b.Cancel(ctx, tid); err != nil && !errors.Is(err, driver.ErrFinished) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
