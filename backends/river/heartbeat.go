package river

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"taskhost.dev/backends/driver"
)

// The host's workers on River keep a heartbeat row each in
// taskhost_worker (its name, queues and the last time it beat), so that a
// client can tell whether a queue is served: River reports its queues to
// the database only every ten minutes.

// heartbeatEvery is how often a worker beats; a worker not seen for
// heartbeatStale is taken as gone.
const (
	heartbeatEvery = 5 * time.Second
	heartbeatStale = 3 * heartbeatEvery
)

var heartbeatSchema = []string{
	`CREATE TABLE IF NOT EXISTS taskhost_worker (
		name TEXT PRIMARY KEY,
		queues TEXT NOT NULL,
		seen_at TEXT NOT NULL
	)`,
}

// beat keeps the worker's row fresh until ctx ends, then deletes it.
func (b *backend[TTx]) beat(ctx context.Context, cfg driver.WorkerConfig) {
	queues, _ := json.Marshal(cfg.Queues)
	put := func(ctx context.Context) error {
		return b.inTx(ctx, func(tx TTx) error {
			return b.db.exec(ctx, tx, `INSERT INTO taskhost_worker (name, queues, seen_at) VALUES ($1, $2, $3)
				ON CONFLICT (name) DO UPDATE SET queues = excluded.queues, seen_at = excluded.seen_at`, cfg.Name, string(queues), now())
		})
	}
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		if err := put(ctx); err != nil && ctx.Err() == nil {
			b.logger.Warn("river: the worker's heartbeat failed", "worker", cfg.Name, "err", err)
		}
		select {
		case <-ctx.Done():
			bg, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			b.inTx(bg, func(tx TTx) error { return b.db.exec(bg, tx, `DELETE FROM taskhost_worker WHERE name = $1`, cfg.Name) })
			return
		case <-t.C:
		}
	}
}

// workers returns the queues of the workers seen lately, by worker.
func (b *backend[TTx]) workers(ctx context.Context) (map[string][]string, error) {
	out := map[string][]string{}
	since := time.Now().Add(-heartbeatStale).UTC().Format(time.RFC3339Nano)
	err := b.inTx(ctx, func(tx TTx) error {
		r, err := b.db.query(ctx, tx, `SELECT name, queues FROM taskhost_worker WHERE seen_at > $1`, since)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var name, qs string
			if err := r.Scan(&name, &qs); err != nil {
				return err
			}
			var list []string
			json.Unmarshal([]byte(qs), &list)
			out[name] = list
		}
		return r.Err()
	})
	return out, err
}

// Workers implements driver.WorkerCounter.
func (b *backend[TTx]) Workers(ctx context.Context, queue string) (int, error) {
	ws, err := b.workers(ctx)
	if err != nil {
		return 0, fmt.Errorf("river: reading the workers' heartbeats: %w", err)
	}
	n := 0
	for _, qs := range ws {
		if slices.Contains(qs, queue) {
			n++
		}
	}
	return n, nil
}
