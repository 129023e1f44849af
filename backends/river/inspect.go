package river

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"taskhost.dev/abi"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"taskhost.dev/backends/driver"
)

// Inspection on River: River's own job listing (newest first, by id),
// filtered by River states, the task's tag and, for what River's states
// cannot tell apart (a failure that must not be retried is a River
// cancellation too) or its SQLite driver cannot filter on (times), by the
// result itself.

// taskTag is the River tag naming a job's task, so that River UI shows it
// and a listing can filter on it (River tags are \w and -, 3 or more).
func taskTag(task string) string { return "task-" + tagUnsafe.ReplaceAllString(task, "_") }

var tagUnsafe = regexp.MustCompile(`[^\w-]`)

// riverStates are the River states a status may be in.
func riverStates(s driver.Status) []rivertype.JobState {
	switch s {
	case driver.StatusPending:
		return []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled}
	case driver.StatusRetrying:
		return []rivertype.JobState{rivertype.JobStateRetryable, rivertype.JobStateAvailable, rivertype.JobStateScheduled}
	case driver.StatusRunning:
		return []rivertype.JobState{rivertype.JobStateRunning}
	case driver.StatusSucceeded:
		return []rivertype.JobState{rivertype.JobStateCompleted}
	case driver.StatusFailed:
		return []rivertype.JobState{rivertype.JobStateDiscarded, rivertype.JobStateCancelled}
	case driver.StatusCancelled:
		return []rivertype.JobState{rivertype.JobStateCancelled}
	}
	return nil
}

// List implements driver.Lister.
func (b *backend[TTx]) List(ctx context.Context, f driver.ListFilter) (driver.ListPage, error) {
	batch := max(f.Limit, 100)
	params := river.NewJobListParams().OrderBy(river.JobListOrderByID, river.SortOrderDesc).First(batch)
	var states []rivertype.JobState
	for _, s := range f.States {
		for _, rs := range riverStates(s) {
			if !slices.Contains(states, rs) {
				states = append(states, rs)
			}
		}
	}
	if len(states) > 0 {
		params = params.States(states...)
	}
	if f.Queue != "" {
		params = params.Queues(f.Queue)
	}
	if f.Task != "" {
		params = params.TagsAll(taskTag(f.Task))
	}
	if f.Cursor != "" {
		after, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil || after <= 0 {
			return driver.ListPage{}, fmt.Errorf("river: list cursor %q is not one a listing gave (pass a page's next as it was)", f.Cursor)
		}
		cur, err := idCursor(after)
		if err != nil {
			return driver.ListPage{}, err
		}
		params = params.After(cur)
	}
	var page driver.ListPage
	for {
		res, err := b.client.JobList(ctx, params)
		if err != nil {
			return page, fmt.Errorf("river: listing tasks: %w", err)
		}
		for i, job := range res.Jobs {
			r := resultOf(job)
			old := !f.Since.IsZero() && r.EnqueuedAt.Before(f.Since)
			keep := !old && (f.Until.IsZero() || !r.EnqueuedAt.After(f.Until)) &&
				(len(f.States) == 0 || slices.Contains(f.States, r.Status)) && (f.Task == "" || r.Task == f.Task)
			if keep {
				page.Tasks = append(page.Tasks, r)
			}
			if old || len(page.Tasks) == f.Limit {
				// Newest first: the rest is older still, or the page is full.
				if !old && (i < len(res.Jobs)-1 || len(res.Jobs) == batch) {
					page.Next = strconv.FormatInt(job.ID, 10) // the next page's jobs have smaller ids
				}
				return page, nil
			}
		}
		if len(res.Jobs) < batch {
			return page, nil
		}
		cur, err := idCursor(res.Jobs[len(res.Jobs)-1].ID)
		if err != nil {
			return page, err
		}
		params = params.After(cur)
	}
}

// Retry implements driver.Retrier with River's JobRetry.
func (b *backend[TTx]) Retry(ctx context.Context, id string) error {
	n, err := parseID(id)
	if err != nil {
		return err
	}
	r, err := b.Result(ctx, id)
	if err != nil {
		return err
	}
	if r.Status != driver.StatusFailed && r.Status != driver.StatusCancelled {
		return fmt.Errorf("river: task %s is %s: only a failed or cancelled task is retried", id, r.Status)
	}
	if _, err := b.client.JobRetry(ctx, n); err != nil {
		return fmt.Errorf("river: retrying task %s: %w", id, err)
	}
	return nil
}

// Purge implements driver.Purger with River's JobDeleteMany.
func (b *backend[TTx]) Purge(ctx context.Context, queue string) (int, error) {
	total := 0
	for {
		res, err := b.client.JobDeleteMany(ctx, river.NewJobDeleteManyParams().Queues(queue).First(10000).
			States(rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRetryable))
		if err != nil {
			return total, fmt.Errorf("river: purging queue %s: %w", queue, err)
		}
		total += len(res.Jobs)
		if len(res.Jobs) < 10000 {
			return total, nil
		}
	}
}

// QueueStats implements driver.QueueStatser: counts by River state, and
// the workers whose River client serves the queue (River's producers).
func (b *backend[TTx]) QueueStats(ctx context.Context) ([]driver.QueueStats, error) {
	by := map[string]*driver.QueueStats{}
	get := func(q string) *driver.QueueStats {
		if by[q] == nil {
			by[q] = &driver.QueueStats{Queue: q, Workers: -1}
		}
		return by[q]
	}
	err := b.inTx(ctx, func(tx TTx) error {
		r, err := b.db.query(ctx, tx, `SELECT queue, state, attempt > 0, count(*) FROM river_job WHERE state <> 'cancelled' GROUP BY queue, state, attempt > 0`)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var q, state string
			var retried bool
			var n int64
			if err := r.Scan(&q, &state, &retried, &n); err != nil {
				return err
			}
			s := get(q)
			switch rivertype.JobState(state) {
			case rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled:
				if retried {
					s.Retrying += n
				} else {
					s.Pending += n
				}
			case rivertype.JobStateRetryable:
				s.Retrying += n
			case rivertype.JobStateRunning:
				s.Running += n
			case rivertype.JobStateCompleted:
				s.Succeeded += n
			case rivertype.JobStateDiscarded:
				s.Failed += n
			}
		}
		if err := r.Err(); err != nil {
			return err
		}
		r.Close()
		// River records a failure that must not be retried as a
		// cancellation too: the last error's kind tells them apart, as in
		// Result.
		c, err := b.db.query(ctx, tx, `SELECT queue, COALESCE(`+b.db.lastError()+`, '') FROM river_job WHERE state = 'cancelled'`)
		if err != nil {
			return err
		}
		defer c.Close()
		for c.Next() {
			var q, last string
			if err := c.Scan(&q, &last); err != nil {
				return err
			}
			if e := driver.DecodeTaskError(last); e != nil && !e.Retryable && e.Kind != abi.KindCancelled {
				get(q).Failed++
			} else {
				get(q).Cancelled++
			}
		}
		return c.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("river: counting tasks: %w", err)
	}
	if qs, err := b.client.QueueList(ctx, river.NewQueueListParams().First(1000)); err == nil {
		for _, q := range qs.Queues {
			get(q.Name)
		}
	} else if !errors.Is(err, context.Canceled) {
		b.logger.Debug("river: listing queues", "err", err)
	}
	if ws, err := b.workers(ctx); err == nil {
		for _, s := range by {
			s.Workers = 0
		}
		for _, qs := range ws {
			for _, q := range qs {
				s := get(q)
				s.Workers = max(s.Workers, 0) + 1
			}
		}
	}
	out := make([]driver.QueueStats, 0, len(by))
	for _, s := range by {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out, nil
}

// idCursor is River's cursor of a listing ordered by id, after job id: a
// listing's cursor is the last job id it gave, which River's own cursor
// (base64 JSON) carries with more than the order by id needs.
func idCursor(id int64) (*river.JobListCursor, error) {
	raw, _ := json.Marshal(map[string]any{"id": id, "sort_field": string(river.JobListOrderByID)})
	var cur river.JobListCursor
	if err := cur.UnmarshalText([]byte(base64.URLEncoding.EncodeToString(raw))); err != nil {
		return nil, fmt.Errorf("river: building a list cursor (has River's cursor format changed?): %w", err)
	}
	return &cur, nil
}
