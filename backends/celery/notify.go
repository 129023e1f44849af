package celery

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/internal/redishub"
)

// pollInterval is the longest a waiter waits without a notice.
const pollInterval = 500 * time.Millisecond

// metaChannels matches the channels on which Celery's Redis result
// backend publishes every state it stores, one per task: our workers' and
// Python's alike.
const metaChannels = metaPrefix + "*"

// Subscribe implements driver.Notifier: a task's waiters are woken by
// what Celery's result backend publishes on celery-task-meta-ID, a
// workflow's by its end, published on its hash's name.
func (b *backend) Subscribe(id string) (wait func(context.Context) error, cancel func()) {
	return b.hub.Subscribe(id)
}

// listen holds the hub's one subscription, on the result backend, to the
// channels of every task and workflow: a waiter is covered as soon as it
// subscribes, without a round trip of its own.
func (b *backend) listen(ctx context.Context, ready func()) {
	redishub.Listen(ctx, ready, &b.hub, b.logger, Engine,
		func(ctx context.Context) *redis.PubSub {
			return b.results.PSubscribe(ctx, metaChannels, flowPrefix+"*")
		},
		func(m *redis.Message) string {
			for _, prefix := range []string{metaPrefix, flowPrefix} {
				if id, ok := strings.CutPrefix(m.Channel, prefix); ok {
					return id
				}
			}
			return ""
		})
}

// announceFlow wakes the waiters of a workflow that ended (redisflow's
// Announce).
func (b *backend) announceFlow(ctx context.Context, id string) error {
	return b.results.Publish(ctx, flowPrefix+id, "done").Err()
}
