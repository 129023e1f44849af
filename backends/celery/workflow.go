package celery

import (
	"context"
	"fmt"
	"time"

	"taskhost.dev/backends/driver"
)

// Workflows run on the client's runner over the embedded redisflow.Store:
// the hash taskhost:celery:wf:ID and the set taskhost:celery:wf:ID:done.
// A step is an ordinary Celery message with the header taskhost_workflow;
// a workflow's end is published on its hash's name.

// EnqueueStage implements driver.FlowStore: the stage's messages, their
// records and task ids go in one script that marks the stage sent, so a
// second call sends nothing.
func (b *backend) EnqueueStage(ctx context.Context, id string, stage int, jobs []*driver.Job) error {
	keys := make([]string, 3, 3+4*len(jobs))
	keys[0], keys[1], keys[2] = b.Key(id), indexKey, queuesKey
	now := time.Now()
	args := make([]any, 3, 3+6*len(jobs))
	args[0], args[1], args[2] = stage, now.UTC().Format(time.RFC3339Nano), int(b.expires.Seconds())
	for i, j := range jobs {
		m, err := b.message(j)
		if err != nil {
			return fmt.Errorf("celery: workflow %s stage %d step %d (%s): %w", id, stage+1, i+1, j.Task, err)
		}
		keys = append(keys, recordKey(m.id), bindingKey(m.queue), m.list, queueIndexKey(m.queue))
		args = append(args, m.raw, m.queue, bindingMember(m.queue), m.id, m.task, int64(score(now))+int64(i))
	}
	if err := sendStage.Run(ctx, b.broker, keys, args...).Err(); err != nil {
		return fmt.Errorf("celery: sending workflow %s stage %d: %w", id, stage+1, err)
	}
	return nil
}
