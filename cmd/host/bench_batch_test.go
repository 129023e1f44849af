package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"taskhost.dev/backends"
	"taskhost.dev/internal/testdb"
)

// batchN is the batch the SubmitMany benchmark submits and waits for.
const batchN = 10000

// BenchmarkSubmitMany submits 10,000 add tasks in one SubmitMany and waits
// for every result, on River with SQLite and with PostgreSQL, against River
// alone in the same run: InsertMany of the same 10,000 jobs and a native
// River worker (32 workers both), done when River has reported every job
// completed. The handler is native Go on both sides, so the ratio is the
// client's and driver's cost. Rounds alternate; the ratio per round is
// printed with its median (issue 16: goal >= 0.9x River alone). Run with:
//
//	go test ./cmd/host -run '^$' -bench BenchmarkSubmitMany -benchtime 1x -timeout 30m
func BenchmarkSubmitMany(b *testing.B) {
	ctx := context.Background()
	_, rounds := benchHost(b)
	for _, engine := range []string{"sqlite", "postgres"} {
		var ours, alone []float64
		for i := range 2 * rounds {
			impl := alternate([]string{"taskhost", "river-alone"}, i/2, "taskhost", "river-alone")[i%2]
			b.Run(fmt.Sprintf("%s/%s", engine, impl), func(b *testing.B) {
				var rate float64
				for range b.N {
					if impl == "taskhost" {
						rate = oursBatch(ctx, b, engine)
						ours = append(ours, rate)
					} else {
						rate = aloneBatch(ctx, b, engine)
						alone = append(alone, rate)
					}
				}
				b.ReportMetric(rate, "tasks/s")
			})
		}
		logRatios(b, engine+" SubmitMany vs River alone (InsertMany)", ours, alone)
	}
}

func batchURL(b *testing.B, engine string) string {
	if engine == "sqlite" {
		return filepath.Join(b.TempDir(), "batch.db")
	}
	return testdb.Fresh(b, "taskhost_batch")
}

// oursBatch is one round through the client: SubmitMany, then Wait on each.
func oursBatch(ctx context.Context, b *testing.B, engine string) float64 {
	be, err := backends.Open(ctx, "river", backends.Config{URL: batchURL(b, engine)})
	if err != nil {
		b.Fatal(err)
	}
	defer be.Close()
	if err := be.Register(ctx, backends.TaskSpec{Name: "add", Queue: "batch", MaxRetries: 0, Timeout: time.Minute}); err != nil {
		b.Fatal(err)
	}
	defer benchWorker(b, be, "batch", nativeHandler, "add")()
	batch := make([]backends.Submission, batchN)
	for i := range batch {
		batch[i] = backends.Submission{Task: "add", Input: json.RawMessage(fmt.Sprintf(`{"a":%d,"b":1}`, i))}
	}
	b.ResetTimer()
	start := time.Now()
	ids, err := be.SubmitMany(ctx, batch)
	if err != nil {
		b.Fatal(err)
	}
	waitAll(b, be, ids)
	return batchN / time.Since(start).Seconds()
}

// addArgs are River alone's jobs: the same add task.
type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

func (addArgs) Kind() string { return "add" }

type addWorker struct{ river.WorkerDefaults[addArgs] }

func (addWorker) Work(ctx context.Context, j *river.Job[addArgs]) error {
	_, err := nativeHandler(ctx, &backends.Task{Name: "add", Input: j.EncodedArgs})
	return err
}

// aloneBatch is one round of River alone on a database of its own.
func aloneBatch(ctx context.Context, b *testing.B, engine string) float64 {
	url := batchURL(b, engine)
	if engine == "sqlite" {
		db, err := sql.Open("sqlite", "file:"+url+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)")
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		defer db.Close()
		return riverAlone(ctx, b, riversqlite.New(db), 20*time.Millisecond)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	return riverAlone(ctx, b, riverpgxv5.New(pool), time.Second)
}

// riverAlone runs the round with River tuned as the driver tunes it: a
// fetch cooldown of 5 ms (River's default of 100 ms caps a queue at 32 jobs
// per 100 ms) and the same poll interval.
func riverAlone[TTx any](ctx context.Context, b *testing.B, drv riverdriver.Driver[TTx], poll time.Duration) float64 {
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		b.Fatal(err)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, addWorker{})
	c, err := river.NewClient(drv, &river.Config{FetchCooldown: 5 * time.Millisecond, FetchPollInterval: poll, Queues: map[string]river.QueueConfig{"batch": {MaxWorkers: 32}}, Workers: workers})
	if err != nil {
		b.Fatal(err)
	}
	events, cancel := c.SubscribeConfig(&river.SubscribeConfig{ChanSize: batchN, Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed}})
	defer cancel()
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer c.Stop(context.WithoutCancel(ctx))
	params := make([]river.InsertManyParams, batchN)
	for i := range params {
		params[i] = river.InsertManyParams{Args: addArgs{A: i, B: 1}, InsertOpts: &river.InsertOpts{Queue: "batch", MaxAttempts: 1}}
	}
	b.ResetTimer()
	start := time.Now()
	if _, err := c.InsertMany(ctx, params); err != nil {
		b.Fatal(err)
	}
	timeout := time.After(2 * time.Minute)
	for done := 0; done < batchN; {
		select {
		case ev := <-events:
			if ev.Kind != river.EventKindJobCompleted {
				b.Fatalf("River alone: job %d %s", ev.Job.ID, ev.Kind)
			}
			done++
		case <-timeout:
			b.Fatalf("River alone: %d of %d jobs done after two minutes", done, batchN)
		}
	}
	return batchN / time.Since(start).Seconds()
}
