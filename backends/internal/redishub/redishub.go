// Package redishub is the Redis pub/sub listener behind the driver.Hub of
// the asynq and Celery drivers: one subscription per client, whose
// messages wake the waiters of the ids they name.
package redishub

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// Listen is a driver.Hub's Listen over Redis pub/sub. It opens the
// subscription with subscribe (rc.Subscribe or rc.PSubscribe of the
// driver's channels), calls ready once Redis confirmed it, and then id
// with each message, waking the waiters of the id it returns ("" for
// none), until ctx ends. After an error it calls ready all the same (the
// hub's waiters poll meanwhile), logs a warning naming engine, and tries
// again a second later; once subscribed, go-redis resubscribes by itself
// after a broken connection.
func Listen(ctx context.Context, ready func(), hub *driver.Hub, logger *slog.Logger, engine string,
	subscribe func(context.Context) *redis.PubSub, id func(*redis.Message) string) {
	for ctx.Err() == nil {
		sub := subscribe(ctx)
		if _, err := sub.Receive(ctx); err != nil {
			sub.Close()
			ready()
			if ctx.Err() == nil {
				logger.Warn(engine+": subscribing to finished tasks failed; retrying in 1s (waiters poll meanwhile)", "err", err)
			}
			driver.Pause(ctx, time.Second, nil)
			continue
		}
		ready()
		ch := sub.Channel()
		for open := true; open; {
			select {
			case msg, ok := <-ch:
				if !ok {
					open = false
				} else if s := id(msg); s != "" {
					hub.Notify(s)
				}
			case <-ctx.Done():
				open = false
			}
		}
		sub.Close()
	}
}
