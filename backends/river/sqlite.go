package river

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver

	"taskhost.dev/backends/driver"
)

// DefaultSQLitePath is the database file used when no URL is given.
const DefaultSQLitePath = "taskhost.db"

type sqliteDB struct {
	sql *sql.DB
	drv *riversqlite.Driver
}

func openSQLite(ctx context.Context, path string, cfg driver.Config) (*backend[*sql.Tx], error) {
	if path == "" {
		path = DefaultSQLitePath
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("river: creating the folder of %s: %w", path, err)
		}
	}
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)"
	sdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("river: opening SQLite %s: %w", path, err)
	}
	sdb.SetMaxOpenConns(1)
	if err := sdb.PingContext(ctx); err != nil {
		sdb.Close()
		return nil, fmt.Errorf("river: opening SQLite %s: %w (is the folder writable?)", path, err)
	}
	return newBackend[*sql.Tx](ctx, &sqliteDB{sql: sdb, drv: riversqlite.New(sdb)}, cfg)
}

func (d *sqliteDB) driver() riverdriver.Driver[*sql.Tx] { return d.drv }

// setMetadata sets key (a constant) of job $2's metadata to the JSON $1.
func (d *sqliteDB) setMetadata(key string) string {
	return `UPDATE river_job SET metadata = json_set(metadata, '$.` + key + `', json($1)) WHERE id = $2`
}

// metadataHas is SQL true for a job whose metadata has key (a constant).
func (d *sqliteDB) lastError() string { return `json_extract(errors, '$[#-1].error')` }

func (d *sqliteDB) metadataHas(key string) string {
	return `json_extract(metadata, '$.` + key + `') IS NOT NULL`
}

func (d *sqliteDB) cancelPoll() time.Duration   { return 50 * time.Millisecond } // River itself polls every 2 s
func (d *sqliteDB) kind() string                { return "SQLite" }
func (d *sqliteDB) close()                      { d.sql.Close() }
func (d *sqliteDB) pollInterval() time.Duration { return 20 * time.Millisecond }

func (d *sqliteDB) begin(ctx context.Context) (*sql.Tx, error) { return d.sql.BeginTx(ctx, nil) }
func (d *sqliteDB) commit(_ context.Context, tx *sql.Tx) error { return tx.Commit() }
func (d *sqliteDB) rollback(_ context.Context, tx *sql.Tx)     { tx.Rollback() }

func (d *sqliteDB) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

func (d *sqliteDB) query(ctx context.Context, tx *sql.Tx, q string, args ...any) (rows, error) {
	r, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{r}, nil
}

type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

func (d *sqliteDB) completeJobTx(ctx context.Context, tx *sql.Tx, job *river.Job[jobArgs]) error {
	_, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
	return err
}

// notify does nothing: SQLite has no notification; waiters poll.
func (d *sqliteDB) notify(context.Context, *sql.Tx, string) error { return nil }

// subscribe polls: SQLite has no notification. The interval starts at 2 ms
// and doubles up to 100 ms.
func (d *sqliteDB) subscribe(string) (func(context.Context) error, func()) {
	interval := 2 * time.Millisecond
	return func(ctx context.Context) error {
		d := interval
		interval = min(2*interval, 100*time.Millisecond)
		_, err := driver.Pause(ctx, d, nil)
		return err
	}, func() {}
}
