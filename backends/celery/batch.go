package celery

import (
	"context"
	"fmt"

	"taskhost.dev/backends/driver"
)

// EnqueueMany implements driver.Batcher: every message is built first (a
// bad entry fails the batch, naming it, before anything is sent), the
// unique keys are claimed in order (a duplicate gets its holder's id and
// sends nothing, as Enqueue), then the records, index entries and
// messages go in one MULTI/EXEC transaction: all or none. The claims
// taken are freed if the transaction fails.
func (b *backend) EnqueueMany(ctx context.Context, jobs []*driver.Job) ([]string, error) {
	msgs := make([]outgoing, len(jobs))
	for i, j := range jobs {
		m, err := b.message(j)
		if err != nil {
			return nil, &driver.BatchError{Index: i, Err: fmt.Errorf("celery: submit %q: %w", j.Task, err)}
		}
		msgs[i] = m
	}
	ids := make([]string, len(jobs))
	send := make([]outgoing, 0, len(jobs))
	var claimed []int
	release := func() {
		bg := context.WithoutCancel(ctx)
		for _, i := range claimed {
			if err := b.unique.Release(bg, b.broker, jobs[i].UniqueKey, msgs[i].id).Err(); err != nil {
				b.logger.Warn("celery: releasing the unique key of a task not sent failed; it is free within a minute", "key", jobs[i].UniqueKey, "err", err)
			}
		}
	}
	for i, j := range jobs {
		if j.UniqueKey != "" {
			holder, err := b.claim(ctx, j.UniqueKey, msgs[i].id, j.RunAt)
			if err != nil {
				release()
				return nil, &driver.BatchError{Index: i, Err: fmt.Errorf("celery: submit %q: unique key %q: %w", j.Task, j.UniqueKey, err)}
			}
			if holder != "" {
				ids[i] = holder
				continue
			}
			claimed = append(claimed, i)
		}
		ids[i] = msgs[i].id
		send = append(send, msgs[i])
	}
	if err := b.enqueue(ctx, send...); err != nil {
		release()
		return nil, &driver.BatchError{Index: -1, Err: fmt.Errorf("celery: submitting a batch of %d: %w", len(jobs), err)}
	}
	return ids, nil
}
