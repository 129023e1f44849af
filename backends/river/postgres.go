package river

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"taskhost.dev/backends/driver"
)

// notifyChannel is the PostgreSQL channel on which workers announce
// completed tasks.
const notifyChannel = "taskhost_done"

type pgDB struct {
	url    string
	pool   *pgxpool.Pool
	drv    *riverpgxv5.Driver
	logger *slog.Logger
	hub    driver.Hub
}

func openPostgres(ctx context.Context, url string, cfg driver.Config) (*backend[pgx.Tx], error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("river: DATABASE_URL: %w (want postgres://user:password@host:port/database)", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default of max(4, CPUs) leaves a worker on a small machine
		// two connections once the LISTEN of waiters and River's notifier
		// hold theirs, and its jobs' outcomes queue for them.
		pcfg.MaxConns = max(pcfg.MaxConns, poolConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return nil, fmt.Errorf("river: connecting to PostgreSQL: %w (check DATABASE_URL)", err)
	}
	d := &pgDB{url: url, pool: pool, drv: riverpgxv5.New(pool), logger: cfg.Logger}
	// Failures and retries are finished by River itself, without a
	// notification, so a waiter also reads every 100 ms.
	d.hub = driver.Hub{Listen: d.listen, Poll: 100 * time.Millisecond}
	return newBackend[pgx.Tx](ctx, d, cfg)
}

// poolConns is the connection pool's size unless the URL sets
// pool_max_conns.
const poolConns = 16

func (d *pgDB) driver() riverdriver.Driver[pgx.Tx] { return d.drv }

// setMetadata sets key (a constant) of job $2's metadata to the JSON $1.
func (d *pgDB) setMetadata(key string) string {
	return `UPDATE river_job SET metadata = jsonb_set(metadata, '{` + key + `}', $1::jsonb) WHERE id = $2`
}

func (d *pgDB) lastError() string { return `errors[array_length(errors, 1)]->>'error'` }

// metadataHas is SQL true for a job whose metadata has key (a constant).
func (d *pgDB) metadataHas(key string) string { return `metadata ? '` + key + `'` }

func (d *pgDB) cancelPoll() time.Duration   { return 0 } // River's notifier cancels at once
func (d *pgDB) kind() string                { return "PostgreSQL" }
func (d *pgDB) pollInterval() time.Duration { return time.Second } // LISTEN/NOTIFY does the rest

func (d *pgDB) close() {
	d.hub.Close()
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

func (d *pgDB) subscribe(id string) (func(context.Context) error, func()) { return d.hub.Subscribe(id) }

// listen holds one connection in LISTEN and wakes the waiters of each
// announced task, reconnecting after errors.
func (d *pgDB) listen(ctx context.Context, ready func()) {
	for ctx.Err() == nil {
		err := d.listenOnce(ctx, ready)
		ready() // listening failed: the waiters poll meanwhile
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

func (d *pgDB) listenOnce(ctx context.Context, ready func()) error {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), "UNLISTEN "+notifyChannel)
	ready()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		for id := range strings.SplitSeq(n.Payload, ",") { // a group's ids (complete.go)
			d.hub.Notify(id)
		}
	}
}
