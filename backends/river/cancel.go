package river

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"taskhost.dev/backends/driver"
)

// Cancel implements driver.Canceler with River's JobCancel: a job not yet
// running is cancelled at once; a running one is marked, and its worker
// cancels the attempt's context (River's notifier tells a PostgreSQL worker
// at once; a SQLite worker looks every 50 ms, see watchCancels).
func (b *backend[TTx]) Cancel(ctx context.Context, id string) error {
	n, err := parseID(id)
	if err != nil {
		return err
	}
	job, err := b.client.JobGet(ctx, n)
	if errors.Is(err, river.ErrNotFound) {
		return fmt.Errorf("river: task %s: %w", id, driver.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("river: cancelling task %s: %w", id, err)
	}
	if job.FinalizedAt != nil {
		return fmt.Errorf("river: task %s is %s: %w", id, resultOf(job).Status, driver.ErrFinished)
	}
	if _, err := b.client.JobCancel(ctx, n); err != nil {
		return fmt.Errorf("river: cancelling task %s: %w", id, err)
	}
	return nil
}

// errCancelled is the cause of a running attempt's context cancelled
// through Cancel.
var errCancelled = errors.New("the task was cancelled")

// cancelled reports whether ctx, an attempt's, ended by a cancellation.
func cancelled(ctx context.Context) bool {
	cause := context.Cause(ctx)
	return errors.Is(cause, errCancelled) || errors.Is(cause, rivertype.ErrJobCancelledRemotely)
}

// runningJobs are a worker's running attempts, to cancel by job id.
type runningJobs struct {
	mu      sync.Mutex
	cancels map[int64]context.CancelCauseFunc
}

func (r *runningJobs) add(ctx context.Context, id int64) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	r.mu.Lock()
	r.cancels[id] = cancel
	r.mu.Unlock()
	return ctx, func() {
		r.mu.Lock()
		delete(r.cancels, id)
		r.mu.Unlock()
		cancel(nil)
	}
}

func (r *runningJobs) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]int64, 0, len(r.cancels))
	for id := range r.cancels {
		out = append(out, id)
	}
	return out
}

func (r *runningJobs) cancel(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := r.cancels[id]; c != nil {
		c(errCancelled)
	}
}

// watchCancels looks, every interval while jobs run, for the running jobs
// that River marked for cancellation, and cancels their attempts: River's
// own look, without a notifier, comes every two seconds.
func (b *backend[TTx]) watchCancels(ctx context.Context, running *runningJobs, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := running.ids()
		if len(ids) == 0 {
			continue
		}
		marked, err := b.markedForCancel(ctx, ids)
		if err != nil {
			if ctx.Err() == nil {
				b.logger.Warn("river: looking for cancelled jobs failed", "err", err)
			}
			continue
		}
		for _, id := range marked {
			running.cancel(id)
		}
	}
}

// markedForCancel returns which of ids River has marked for cancellation
// (JobCancel of a running job sets cancel_attempted_at in its metadata).
func (b *backend[TTx]) markedForCancel(ctx context.Context, ids []int64) ([]int64, error) {
	tx, err := b.db.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer b.db.rollback(context.WithoutCancel(ctx), tx)
	list := make([]string, len(ids))
	for i, id := range ids {
		list[i] = strconv.FormatInt(id, 10)
	}
	r, err := b.db.query(ctx, tx, `SELECT id FROM river_job WHERE id IN (`+strings.Join(list, ",")+`) AND `+b.db.metadataHas("cancel_attempted_at"))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []int64
	for r.Next() {
		var id int64
		if err := r.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, r.Err()
}

// CancelWorkflow implements driver.WorkflowCanceler: the workflow is marked
// cancelled (so no further stage is inserted) and its steps' jobs that are
// not done are cancelled.
func (b *backend[TTx]) CancelWorkflow(ctx context.Context, id string) error {
	tx, err := b.db.begin(ctx)
	if err != nil {
		return fmt.Errorf("river: cancelling workflow %s: %w", id, err)
	}
	defer b.db.rollback(context.WithoutCancel(ctx), tx)
	r, err := b.db.query(ctx, tx, `UPDATE taskhost_workflow SET status = 'cancelled', finished_at = $1 WHERE id = $2 AND status = 'running' RETURNING id`, now(), id)
	if err != nil {
		return fmt.Errorf("river: cancelling workflow %s: %w", id, err)
	}
	changed := r.Next()
	r.Close()
	if !changed {
		if _, err := b.WorkflowResult(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("river: workflow %s: %w", id, driver.ErrFinished)
	}
	jr, err := b.db.query(ctx, tx, `SELECT job_id FROM taskhost_workflow_step WHERE workflow_id = $1`, id)
	if err != nil {
		return err
	}
	var jobs []int64
	for jr.Next() {
		var j int64
		if err := jr.Scan(&j); err != nil {
			jr.Close()
			return err
		}
		jobs = append(jobs, j)
	}
	jr.Close()
	if err := b.db.notify(ctx, tx, id); err != nil {
		return err
	}
	if err := b.db.commit(ctx, tx); err != nil {
		return fmt.Errorf("river: cancelling workflow %s: %w", id, err)
	}
	var errs []error
	for _, j := range jobs {
		if err := b.Cancel(ctx, strconv.FormatInt(j, 10)); err != nil && !errors.Is(err, driver.ErrFinished) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
