package celery

import (
	"context"
	"fmt"

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
	keys := make([]string, 1, 1+3*len(jobs))
	keys[0] = b.Key(id)
	args := make([]any, 3, 3+5*len(jobs))
	args[0], args[1], args[2] = stage, nowText(), int(b.expires.Seconds())
	for i, j := range jobs {
		m, err := b.message(j)
		if err != nil {
			return fmt.Errorf("celery: workflow %s stage %d step %d (%s): %w", id, stage+1, i+1, j.Task, err)
		}
		keys = append(keys, recordKey(m.id), bindingKey(m.queue), m.list)
		args = append(args, m.raw, m.queue, bindingMember(m.queue), m.id, m.task)
	}
	if err := sendStage.Run(ctx, b.broker, keys, args...).Err(); err != nil {
		return fmt.Errorf("celery: sending workflow %s stage %d: %w", id, stage+1, err)
	}
	return nil
}
