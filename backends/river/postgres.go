package river

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"taskhost.dev/backends"
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
	waiters   map[string]map[chan struct{}]bool
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
	return newBackend[pgx.Tx](ctx, &pgDB{url: url, pool: pool, drv: riverpgxv5.New(pool), logger: logger, waiters: map[string]map[chan struct{}]bool{}}, logger)
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

func (d *pgDB) begin(ctx context.Context) (pgx.Tx, error)   { return d.pool.Begin(ctx) }
func (d *pgDB) commit(ctx context.Context, tx pgx.Tx) error { return tx.Commit(ctx) }
func (d *pgDB) rollback(ctx context.Context, tx pgx.Tx)     { tx.Rollback(ctx) }

func (d *pgDB) exec(ctx context.Context, tx pgx.Tx, q string, args ...any) error {
	_, err := tx.Exec(ctx, q, args...)
	return err
}

func (d *pgDB) query(ctx context.Context, tx pgx.Tx, q string, args ...any) (rows, error) {
	r, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (d *pgDB) completeJobTx(ctx context.Context, tx pgx.Tx, job *river.Job[jobArgs]) error {
	_, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
	return err
}

func (d *pgDB) notify(ctx context.Context, tx pgx.Tx, key string) error {
	_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", notifyChannel, key)
	return err
}

// subscribe registers a waiter for id with the shared listener. Failures
// and retries are finished by River itself, without a notification, so the
// waiter also wakes every 100 ms.
func (d *pgDB) subscribe(id string) (func(context.Context) error, func()) {
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
		_, err := backends.Pause(ctx, 100*time.Millisecond, ch)
		return err
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
		d.mu.Lock()
		for ch := range d.waiters[n.Payload] {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
		d.mu.Unlock()
	}
}
