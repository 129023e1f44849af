package river

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
)

// notifyChannel is the PostgreSQL channel on which workers announce
// completed tasks.
const notifyChannel = "taskhost_done"

type pgDB struct {
	url    string
	pool   *pgxpool.Pool
	drv    *riverpgxv5.Driver
	logger *slog.Logger

	mu        sync.Mutex
	waiters   map[int64]map[chan struct{}]bool
	listening bool
	stop      context.CancelFunc
}

func openPostgres(ctx context.Context, url string, logger *slog.Logger) (*backend[pgx.Tx], error) {
	pool, err := pgxpool.New(ctx, url)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, fmt.Errorf("river: connecting to PostgreSQL: %w (check DATABASE_URL)", err)
	}
	return newBackend[pgx.Tx](ctx, &pgDB{url: url, pool: pool, drv: riverpgxv5.New(pool), logger: logger, waiters: map[int64]map[chan struct{}]bool{}}, logger)
}

func (d *pgDB) driver() riverdriver.Driver[pgx.Tx] { return d.drv }
func (d *pgDB) kind() string                       { return "PostgreSQL" }
func (d *pgDB) pollInterval() time.Duration        { return time.Second } // LISTEN/NOTIFY does the rest

func (d *pgDB) close() {
	d.mu.Lock()
	if d.stop != nil {
		d.stop()
	}
	d.mu.Unlock()
	d.pool.Close()
}

func (d *pgDB) complete(ctx context.Context, job *river.Job[jobArgs]) error {
	tx, err := d.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, strconv.FormatInt(job.ID, 10)); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// subscribe registers a waiter for id with the shared listener. Failures
// and retries are finished by River itself, without a notification, so the
// waiter also wakes every 100 ms.
func (d *pgDB) subscribe(id int64) (func(context.Context) error, func()) {
	ch := make(chan struct{}, 1)
	d.mu.Lock()
	if d.waiters[id] == nil {
		d.waiters[id] = map[chan struct{}]bool{}
	}
	d.waiters[id][ch] = true
	if !d.listening {
		d.listening = true
		lctx, cancel := context.WithCancel(context.Background())
		d.stop = cancel
		go d.listen(lctx)
	}
	d.mu.Unlock()
	wait := func(ctx context.Context) error {
		t := time.NewTimer(100 * time.Millisecond)
		defer t.Stop()
		select {
		case <-ch:
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	}
	cancel := func() {
		d.mu.Lock()
		delete(d.waiters[id], ch)
		if len(d.waiters[id]) == 0 {
			delete(d.waiters, id)
		}
		d.mu.Unlock()
	}
	return wait, cancel
}

// listen holds one connection in LISTEN and wakes the waiters of each
// announced task, reconnecting after errors.
func (d *pgDB) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := d.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		d.logger.Warn("river: listening for completed tasks failed; retrying in 1s (waiters poll meanwhile)", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (d *pgDB) listenOnce(ctx context.Context) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), "UNLISTEN "+notifyChannel)
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(n.Payload, 10, 64)
		if err != nil {
			continue
		}
		d.mu.Lock()
		for ch := range d.waiters[id] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		d.mu.Unlock()
	}
}
