package river

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// Finished jobs are completed in groups: a job's outcome waits for the
// transaction that is open, if any, and goes into the next one with every
// other outcome that arrived meanwhile (a group commit). Under load one
// transaction then completes many jobs and announces them in one
// notification; a lone job goes at once, waiting for nothing. River's own
// completer batches the same way, which is why River alone ran 3.7x (PostgreSQL)
// to 2.3x (SQLite) faster than a transaction per job (docs/BENCHMARKS.md,
// "Batch submit").

// maxGroup caps one group: a PostgreSQL notification holds 8000 bytes, and
// an id at most 20 digits and a comma.
const maxGroup = 256

// completion is one finished job waiting for its group's commit.
type completion struct {
	job  *river.Job[jobArgs]
	out  json.RawMessage // recorded as River records a job's output
	done chan error
}

// completer commits the outcomes handed to it, group by group, until
// stopped.
type completer[TTx any] struct {
	b    *backend[TTx]
	reqs chan *completion
	quit chan struct{}
	gone chan struct{}
}

func (b *backend[TTx]) startCompleter() *completer[TTx] {
	c := &completer[TTx]{b: b, reqs: make(chan *completion, maxGroup), quit: make(chan struct{}), gone: make(chan struct{})}
	go c.loop()
	return c
}

// stop ends the loop once every outcome handed to it is committed; it is
// called after River stopped, when no job can hand it more.
func (c *completer[TTx]) stop() {
	close(c.quit)
	<-c.gone
}

// complete commits job's completion with its group, or returns why not.
func (c *completer[TTx]) complete(ctx context.Context, job *river.Job[jobArgs], out json.RawMessage) error {
	r := &completion{job: job, out: out, done: make(chan error, 1)}
	select {
	case c.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *completer[TTx]) loop() {
	defer close(c.gone)
	group := make([]*completion, 0, maxGroup)
	for {
		select {
		case r := <-c.reqs:
			group = append(group[:0], r)
		case <-c.quit:
			return
		}
	collect:
		for len(group) < maxGroup {
			select {
			case r := <-c.reqs:
				group = append(group, r)
			default:
				break collect
			}
		}
		c.commit(group)
	}
}

// commit completes a group in one transaction and statement, and tells
// each waiter how its job fared.
func (c *completer[TTx]) commit(group []*completion) {
	ctx := context.Background() // each job's own deadline stays with its waiter
	done, err := c.b.completeGroup(ctx, group)
	for _, r := range group {
		switch {
		case err != nil:
			r.done <- err
		case !done[r.job.ID]:
			// Cancelled, or rescued by River as stuck, meanwhile: the
			// engine's state stands.
			r.done <- fmt.Errorf("job %d was no longer running when its outcome was written", r.job.ID)
		default:
			r.done <- nil
		}
	}
}

// completeGroup sets the group's jobs that are still running completed,
// with their outputs, in one statement (River's own completer's), and
// announces them to waiters, in one transaction. It returns the ids it
// completed.
func (b *backend[TTx]) completeGroup(ctx context.Context, group []*completion) (map[int64]bool, error) {
	now := time.Now().UTC()
	p := &riverdriver.JobSetStateIfRunningManyParams{}
	for _, r := range group {
		meta, err := json.Marshal(map[string]json.RawMessage{rivertype.MetadataKeyOutput: r.out})
		if err != nil {
			return nil, err
		}
		p.ID = append(p.ID, r.job.ID)
		p.Attempt = append(p.Attempt, nil)
		p.ErrData = append(p.ErrData, nil)
		p.FinalizedAt = append(p.FinalizedAt, &now)
		p.MetadataDoMerge = append(p.MetadataDoMerge, true)
		p.MetadataUpdates = append(p.MetadataUpdates, meta)
		p.ScheduledAt = append(p.ScheduledAt, nil)
		p.State = append(p.State, rivertype.JobStateCompleted)
	}
	tx, err := b.db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer b.db.rollback(context.WithoutCancel(ctx), tx)
	rows, err := b.db.driver().UnwrapExecutor(tx).JobSetStateIfRunningMany(ctx, p)
	if err != nil {
		return nil, err
	}
	done := make(map[int64]bool, len(rows))
	ids := make([]string, 0, len(rows))
	for _, row := range rows {
		if row.State == rivertype.JobStateCompleted {
			done[row.ID] = true
			ids = append(ids, strconv.FormatInt(row.ID, 10))
		}
	}
	if len(ids) > 0 {
		if err := b.db.notify(ctx, tx, strings.Join(ids, ",")); err != nil {
			return nil, err
		}
	}
	if err := b.db.commit(ctx, tx); err != nil {
		return nil, err
	}
	return done, nil
}
