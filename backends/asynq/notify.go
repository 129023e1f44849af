package asynq

import (
	"context"
	"time"

	"taskhost.dev/backends"
)

// publish announces that the task or workflow key is done.
func (b *backend) publish(ctx context.Context, key string) {
	if err := b.rc.Publish(ctx, doneChannel, key).Err(); err != nil {
		b.logger.Warn("asynq: publishing a finished task failed; waiters fall back to polling", "key", key, "err", err)
	}
}

// subscribe registers a waiter for key with the shared subscriber; wait
// returns on a notice or after the poll interval.
func (b *backend) subscribe(key string) (wait func(context.Context) error, cancel func()) {
	ch := make(chan struct{}, 1)
	b.wmu.Lock()
	if b.waiters[key] == nil {
		b.waiters[key] = map[chan struct{}]bool{}
	}
	b.waiters[key][ch] = true
	if !b.listening {
		b.listening = true
		lctx, stop := context.WithCancel(context.Background())
		b.stop = stop
		ready := make(chan struct{})
		go b.listen(lctx, ready)
		b.wmu.Unlock()
		select { // the first waiter waits for the subscription, briefly
		case <-ready:
		case <-time.After(time.Second):
		}
	} else {
		b.wmu.Unlock()
	}
	// After a notice the state is read again soon and then less and less
	// often (1 ms doubling to 100 ms): asynq records a task as completed
	// just after the handler that sent the notice returns.
	interval := 100 * time.Millisecond
	wait = func(ctx context.Context) error {
		noticed, err := backends.Pause(ctx, interval, ch)
		if noticed {
			interval = time.Millisecond
		} else {
			interval = min(2*interval, 100*time.Millisecond)
		}
		return err
	}
	cancel = func() {
		b.wmu.Lock()
		delete(b.waiters[key], ch)
		if len(b.waiters[key]) == 0 {
			delete(b.waiters, key)
		}
		b.wmu.Unlock()
	}
	return wait, cancel
}

func (b *backend) listen(ctx context.Context, ready chan struct{}) {
	once := func() {
		select {
		case <-ready:
		default:
			close(ready)
		}
	}
	for ctx.Err() == nil {
		sub := b.rc.Subscribe(ctx, doneChannel)
		b.wmu.Lock()
		b.sub = sub
		b.wmu.Unlock()
		if _, err := sub.Receive(ctx); err != nil {
			sub.Close()
			once()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		once()
		for msg := range sub.Channel() {
			b.wmu.Lock()
			for ch := range b.waiters[msg.Payload] {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
			b.wmu.Unlock()
		}
		sub.Close()
	}
}
