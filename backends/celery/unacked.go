package celery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Messages taken and not yet acknowledged, as kombu keeps them: this
// worker keeps its own fresh and puts back others' once older than the
// visibility timeout.

// maintain, until stop is closed, keeps this worker's deliveries fresh in
// unacked_index (so that no worker puts back a message that is running or
// held for its ETA) and, until ctx ends, puts back other workers' messages
// older than the visibility timeout, as kombu's restore_visible, under
// unacked_mutex.
func (w *worker) maintain(ctx context.Context, stop <-chan struct{}) {
	every := min(max(w.b.visibility/4, 100*time.Millisecond), 30*time.Second)
	bg := context.WithoutCancel(ctx)
	for {
		w.refresh(bg)
		if ctx.Err() == nil {
			if err := w.restoreVisible(ctx); err != nil && ctx.Err() == nil {
				w.b.logger.Warn("celery: putting back old unacknowledged messages failed", "err", err)
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
	}
}

func (w *worker) refresh(ctx context.Context) {
	w.mu.Lock()
	members := make([]redis.Z, 0, len(w.inflight))
	now := float64(time.Now().UnixMicro()) / 1e6
	for tag := range w.inflight {
		members = append(members, redis.Z{Score: now, Member: tag})
	}
	w.mu.Unlock()
	if len(members) > 0 {
		w.b.broker.ZAddXX(ctx, unackedIndexKey, members...)
	}
}

func (w *worker) restoreVisible(ctx context.Context) error {
	rc := w.b.broker
	token := strings.ReplaceAll(uuid.NewString(), "-", "")
	ok, err := rc.SetNX(ctx, unackedMutexKey, token, 5*time.Minute).Result()
	if err != nil || !ok {
		return err
	}
	defer releaseMutex.Run(context.WithoutCancel(ctx), rc, []string{unackedMutexKey}, token)
	ceil := fmt.Sprintf("%.6f", float64(time.Now().Add(-w.b.visibility).UnixMicro())/1e6)
	tags, err := rc.ZRevRangeByScore(ctx, unackedIndexKey, &redis.ZRangeBy{Max: ceil, Min: "0", Count: 100}).Result()
	if err != nil {
		return err
	}
	for _, tag := range tags {
		w.mu.Lock()
		mine := w.inflight[tag]
		w.mu.Unlock()
		if mine {
			continue
		}
		if err := w.b.restore(ctx, tag, ceil); err != nil {
			return err
		}
		w.b.logger.Info("celery: put back an unacknowledged message older than the visibility timeout", "tag", tag)
	}
	return nil
}

// restore puts the unacknowledged message tag back on its queue, marked
// redelivered, if it is (still) older than ceil ("" for now).
func (b *backend) restore(ctx context.Context, tag, ceil string) error {
	entry, err := b.broker.HGet(ctx, unackedKey, tag).Result()
	if errors.Is(err, redis.Nil) {
		b.broker.ZRem(ctx, unackedIndexKey, tag) // an index entry without its message
		return nil
	}
	if err != nil {
		return err
	}
	var parts []json.RawMessage
	var exchange, routingKey string
	if json.Unmarshal([]byte(entry), &parts) != nil || len(parts) != 3 ||
		json.Unmarshal(parts[1], &exchange) != nil || json.Unmarshal(parts[2], &routingKey) != nil {
		return fmt.Errorf("unacked entry %s is not [message, exchange, routing key]", tag)
	}
	msg, prio, err := redelivered(parts[0])
	if err != nil {
		return fmt.Errorf("unacked message %s: %w", tag, err)
	}
	queues := []string{routingKey}
	if exchange != "" {
		// kombu's lookup: the queues bound to the exchange with this
		// routing key.
		members, err := b.broker.SMembers(ctx, bindingKey(exchange)).Result()
		if err != nil {
			return err
		}
		queues = queues[:0]
		for _, m := range members {
			if f := splitBinding(m); f != nil && f[0] == routingKey {
				queues = append(queues, f[2])
			}
		}
	}
	keys := []string{unackedKey, unackedIndexKey}
	for _, q := range queues {
		keys = append(keys, priorityList(q, prio))
	}
	return restoreScript.Run(ctx, b.broker, keys, tag, entry, ceil, msg).Err()
}

// redelivered marks a message redelivered, as kombu does when it puts one
// back, keeping every other field as it was; it returns the message's
// priority too.
func redelivered(raw json.RawMessage) ([]byte, int, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, 0, err
	}
	var h, p, di map[string]json.RawMessage
	if json.Unmarshal(m["headers"], &h) == nil && h != nil {
		h["redelivered"] = json.RawMessage("true")
		m["headers"], _ = json.Marshal(h)
	}
	prio := 0
	if json.Unmarshal(m["properties"], &p) == nil && p != nil {
		json.Unmarshal(p["priority"], &prio)
		if json.Unmarshal(p["delivery_info"], &di) == nil && di != nil {
			di["redelivered"] = json.RawMessage("true")
			p["delivery_info"], _ = json.Marshal(di)
		}
		m["properties"], _ = json.Marshal(p)
	}
	out, err := json.Marshal(m)
	return out, prio, err
}
