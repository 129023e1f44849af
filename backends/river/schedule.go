package river

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"taskhost.dev/backends/driver"
)

// Schedules on River: the client's beat, in every worker, fires them
// (driver.ScheduleStore). A schedule is a row of taskhost_schedule; each
// tick fired is a row of taskhost_schedule_tick, inserted in the same
// transaction as the tick's job, so two workers firing the same tick make
// one job (the second insert conflicts and commits nothing). River's own
// periodic jobs run on the leader of a set of workers started with them;
// they cannot be made by a client nor survive a restart without skipping,
// which this does.

var scheduleSchema = []string{
	`CREATE TABLE IF NOT EXISTS taskhost_schedule (
		name TEXT PRIMARY KEY,
		definition TEXT NOT NULL,
		source TEXT NOT NULL,
		last_run TEXT,
		last_id TEXT
	)`,
	`CREATE TABLE IF NOT EXISTS taskhost_schedule_tick (
		name TEXT NOT NULL,
		at TEXT NOT NULL,
		job_id BIGINT NOT NULL,
		PRIMARY KEY (name, at)
	)`,
}

// PutScheduleRecord implements driver.ScheduleStore.
func (b *backend[TTx]) PutScheduleRecord(ctx context.Context, s driver.Schedule) error {
	def, _ := json.Marshal(s)
	return b.inTx(ctx, func(tx TTx) error {
		return b.db.exec(ctx, tx, `INSERT INTO taskhost_schedule (name, definition, source) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, source = excluded.source`, s.Name, string(def), s.Source)
	})
}

// DeleteSchedule implements driver.ScheduleStore.
func (b *backend[TTx]) DeleteSchedule(ctx context.Context, name string) error {
	return b.inTx(ctx, func(tx TTx) error {
		r, err := b.db.query(ctx, tx, `DELETE FROM taskhost_schedule WHERE name = $1 RETURNING name`, name)
		if err != nil {
			return err
		}
		found := r.Next()
		r.Close()
		if !found {
			return fmt.Errorf("river: schedule %q: %w", name, driver.ErrNotFound)
		}
		return b.db.exec(ctx, tx, `DELETE FROM taskhost_schedule_tick WHERE name = $1`, name)
	})
}

// Schedules implements driver.ScheduleStore.
func (b *backend[TTx]) Schedules(ctx context.Context) ([]driver.ScheduleInfo, error) {
	var out []driver.ScheduleInfo
	err := b.inTx(ctx, func(tx TTx) error {
		r, err := b.db.query(ctx, tx, `SELECT definition, last_run, last_id FROM taskhost_schedule ORDER BY name`)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var def string
			var last, lastID sql.NullString
			if err := r.Scan(&def, &last, &lastID); err != nil {
				return err
			}
			var si driver.ScheduleInfo
			if err := json.Unmarshal([]byte(def), &si.Schedule); err != nil {
				return fmt.Errorf("a stored schedule does not decode: %w", err)
			}
			si.LastRun, _ = time.Parse(time.RFC3339Nano, last.String)
			si.LastID = lastID.String
			from := si.LastRun
			if from.IsZero() {
				from = time.Now()
			}
			si.NextRun, _ = si.Next(from)
			out = append(out, si)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("river: reading schedules: %w", err)
	}
	return out, nil
}

// FireTick implements driver.ScheduleStore: the tick's row and its job in
// one transaction. The tick's row goes first (ON CONFLICT DO NOTHING): a
// second worker firing the same tick inserts nothing, waiting on
// PostgreSQL for the first one's transaction, and reads the job it made.
func (b *backend[TTx]) FireTick(ctx context.Context, name string, at time.Time, j *driver.Job) (string, bool, error) {
	stamp := at.UTC().Format(time.RFC3339Nano)
	var id string
	var fired bool
	err := b.inTx(ctx, func(tx TTx) error {
		r, err := b.db.query(ctx, tx, `INSERT INTO taskhost_schedule_tick (name, at, job_id) VALUES ($1, $2, 0)
			ON CONFLICT (name, at) DO NOTHING RETURNING name`, name, stamp)
		if err != nil {
			return err
		}
		fired = r.Next()
		r.Close()
		if !fired {
			return nil
		}
		args, ins := insertParams(j)
		res, err := b.client.InsertTx(ctx, tx, args, ins)
		if err != nil {
			return err
		}
		id = strconv.FormatInt(res.Job.ID, 10)
		if err := b.db.exec(ctx, tx, `UPDATE taskhost_schedule_tick SET job_id = $1 WHERE name = $2 AND at = $3`, res.Job.ID, name, stamp); err != nil {
			return err
		}
		return b.db.exec(ctx, tx, `UPDATE taskhost_schedule SET last_run = $1, last_id = $2 WHERE name = $3`, stamp, id, name)
	})
	if err == nil && !fired {
		err = b.inTx(ctx, func(tx TTx) error {
			r, err := b.db.query(ctx, tx, `SELECT job_id FROM taskhost_schedule_tick WHERE name = $1 AND at = $2`, name, stamp)
			if err != nil {
				return err
			}
			defer r.Close()
			var n int64
			if r.Next() {
				err = r.Scan(&n)
			}
			id = strconv.FormatInt(n, 10)
			return err
		})
	}
	if err != nil {
		return "", false, fmt.Errorf("river: schedule %q tick %s: %w", name, stamp, err)
	}
	return id, fired, nil
}

// inTx runs fn in a transaction of its own, committed when fn succeeds.
func (b *backend[TTx]) inTx(ctx context.Context, fn func(tx TTx) error) error {
	tx, err := b.db.begin(ctx)
	if err != nil {
		return err
	}
	defer b.db.rollback(context.WithoutCancel(ctx), tx)
	if err := fn(tx); err != nil {
		return err
	}
	return b.db.commit(ctx, tx)
}
