package celery

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// The host's workers keep a heartbeat each in Redis, so that a client can
// tell which queues are served: the sorted set taskhost:celery:workers
// (one member per running Work call, scored by the time it last beat) and
// the hash taskhost:celery:worker:ID (its name, node name and queues).
// Python workers are not counted: Celery's own heartbeats are events
// that only a listener sees as they are sent (celery inspect
// active_queues asks the workers instead, and waits for their replies).
const (
	workersKey   = "taskhost:celery:workers"
	workerPrefix = "taskhost:celery:worker:"
)

// heartbeatEvery is how often a worker beats; one not seen for
// heartbeatStale is taken as gone.
const (
	heartbeatEvery = 5 * time.Second
	heartbeatStale = 3 * heartbeatEvery
)

// beat keeps the worker's heartbeat until ctx ends, then deletes it.
func (b *backend) beat(ctx context.Context, cfg driver.WorkerConfig) {
	id := uuid.NewString()
	key := workerPrefix + id
	queues, _ := json.Marshal(cfg.Queues)
	put := func(ctx context.Context) error {
		now := time.Now()
		p := b.broker.TxPipeline()
		p.HSet(ctx, key, "name", cfg.Name, "node", nodeName(cfg.Name), "queues", string(queues))
		p.Expire(ctx, key, heartbeatStale)
		p.ZAdd(ctx, workersKey, redis.Z{Score: float64(now.Unix()), Member: id})
		p.ZRemRangeByScore(ctx, workersKey, "-inf", "("+strconv.FormatInt(now.Add(-heartbeatStale).Unix(), 10))
		_, err := p.Exec(ctx)
		return err
	}
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		if err := put(ctx); err != nil && ctx.Err() == nil {
			b.logger.Warn("celery: the worker's heartbeat failed", "worker", cfg.Name, "err", err)
		}
		select {
		case <-ctx.Done():
			bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			p := b.broker.TxPipeline()
			p.ZRem(bg, workersKey, id)
			p.Del(bg, key)
			p.Exec(bg)
			return
		case <-t.C:
		}
	}
}

// workers returns the queues of each worker seen lately.
func (b *backend) workers(ctx context.Context) ([][]string, error) {
	since := strconv.FormatInt(time.Now().Add(-heartbeatStale).Unix(), 10)
	ids, err := b.broker.ZRangeByScore(ctx, workersKey, &redis.ZRangeBy{Min: since, Max: "+inf"}).Result()
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	p := b.broker.Pipeline()
	cmds := make([]*redis.StringCmd, len(ids))
	for i, id := range ids {
		cmds[i] = p.HGet(ctx, workerPrefix+id, "queues")
	}
	p.Exec(ctx)
	var out [][]string
	for _, c := range cmds {
		var qs []string
		if json.Unmarshal([]byte(c.Val()), &qs) == nil {
			out = append(out, qs)
		}
	}
	return out, nil
}

// Workers implements driver.WorkerCounter: the host's workers serving
// queue, by their heartbeats.
func (b *backend) Workers(ctx context.Context, queue string) (int, error) {
	ws, err := b.workers(ctx)
	if err != nil {
		return 0, fmt.Errorf("celery: reading the workers' heartbeats: %w", err)
	}
	n := 0
	for _, qs := range ws {
		if slices.Contains(qs, queue) {
			n++
		}
	}
	return n, nil
}
