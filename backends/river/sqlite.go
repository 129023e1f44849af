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

	"log/slog"
)

// DefaultSQLitePath is the database file used when no URL is given.
const DefaultSQLitePath = "taskhost.db"

type sqliteDB struct {
	sql *sql.DB
	drv *riversqlite.Driver
}

func openSQLite(ctx context.Context, path string, logger *slog.Logger) (*backend[*sql.Tx], error) {
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
	return newBackend[*sql.Tx](ctx, &sqliteDB{sql: sdb, drv: riversqlite.New(sdb)}, logger)
}

func (d *sqliteDB) driver() riverdriver.Driver[*sql.Tx] { return d.drv }
func (d *sqliteDB) kind() string                        { return "SQLite" }
func (d *sqliteDB) close()                              { d.sql.Close() }
func (d *sqliteDB) pollInterval() time.Duration         { return 20 * time.Millisecond }

func (d *sqliteDB) complete(ctx context.Context, job *river.Job[jobArgs]) error {
	tx, err := d.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job); err != nil {
		return err
	}
	return tx.Commit()
}

// subscribe polls: SQLite has no notification. The interval starts at 2 ms
// and doubles up to 100 ms.
func (d *sqliteDB) subscribe(int64) (func(context.Context) error, func()) {
	interval := 2 * time.Millisecond
	return func(ctx context.Context) error {
		t := time.NewTimer(interval)
		defer t.Stop()
		interval = min(2*interval, 100*time.Millisecond)
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, func() {}
}
