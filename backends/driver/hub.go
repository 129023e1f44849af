package driver

import (
	"context"
	"sync"
	"time"
)

// Hub fans an engine's notices out to the waiters of each id: a driver with
// a notification channel (Redis pub/sub, PostgreSQL LISTEN) runs one
// listener that calls Notify for every id it hears of, and implements
// Notifier with the Hub's Subscribe. The zero value is not usable; set
// Listen. Safe for concurrent use.
type Hub struct {
	// Listen runs the engine's listener until ctx ends, calling Notify;
	// it calls ready once it is listening (or has given up trying for
	// now), and should reconnect by itself after errors. The Hub starts it
	// on the first Subscribe.
	Listen func(ctx context.Context, ready func())
	// Poll is the longest a waiter waits without a notice (a notice may be
	// lost, or an outcome written without one); 100 ms when zero.
	Poll time.Duration

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	started bool
	stop    context.CancelFunc
	done    chan struct{}
}

// Subscribe implements Notifier. After a notice the id is read again at
// once and then at 1 ms, 2 ms, 4 ms ... up to Poll: some engines record an
// outcome a moment after the notice that announced it.
func (h *Hub) Subscribe(id string) (wait func(ctx context.Context) error, cancel func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.waiters == nil {
		h.waiters = map[string]map[chan struct{}]struct{}{}
	}
	if h.waiters[id] == nil {
		h.waiters[id] = map[chan struct{}]struct{}{}
	}
	h.waiters[id][ch] = struct{}{}
	first := !h.started
	if first {
		h.started = true
		ctx, stop := context.WithCancel(context.Background())
		h.stop = stop
		h.done = make(chan struct{})
		ready := make(chan struct{})
		var once sync.Once
		go func() {
			defer close(h.done)
			h.Listen(ctx, func() { once.Do(func() { close(ready) }) })
		}()
		h.mu.Unlock()
		// The first waiter waits for the subscription, briefly, so that a
		// notice sent right after its first read is not missed.
		select {
		case <-ready:
		case <-time.After(time.Second):
		}
	} else {
		h.mu.Unlock()
	}
	poll := h.Poll
	if poll <= 0 {
		poll = 100 * time.Millisecond
	}
	interval := poll
	wait = func(ctx context.Context) error {
		noticed, err := Pause(ctx, interval, ch)
		if noticed {
			interval = time.Millisecond
		} else {
			interval = min(2*interval, poll)
		}
		return err
	}
	cancel = func() {
		h.mu.Lock()
		delete(h.waiters[id], ch)
		if len(h.waiters[id]) == 0 {
			delete(h.waiters, id)
		}
		h.mu.Unlock()
	}
	return wait, cancel
}

// Notify wakes the waiters of id.
func (h *Hub) Notify(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.waiters[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Close stops the listener, if it was started, and waits for it.
func (h *Hub) Close() {
	h.mu.Lock()
	stop, done := h.stop, h.done
	h.stop = nil
	h.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}
