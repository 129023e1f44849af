package asynq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// Inspection on asynq, with its Inspector: its listings by queue and
// state, RunTask, the DeleteAll calls, GetQueueInfo and Servers. asynq
// orders each state's listing by a time of its own (the retry time, the
// expiry of a completed task...), not by when the task was enqueued, so a
// listing reads every task asynq keeps in the states asked for (completed
// ones for Retention) and sorts them by the envelope's enqueued_at,
// newest first: its cost grows with what the queues hold.

// listBatch is the page size of the reads from asynq's listings, and of
// the records read in one round trip.
const listBatch = 500

// asynqStates are the asynq states a task of one of these statuses may be
// in (a task asynq still has active may have ended: its record says).
func asynqStates(statuses []driver.Status) []asynq.TaskState {
	all := []asynq.TaskState{asynq.TaskStatePending, asynq.TaskStateActive, asynq.TaskStateScheduled,
		asynq.TaskStateRetry, asynq.TaskStateArchived, asynq.TaskStateCompleted}
	if len(statuses) == 0 {
		return all
	}
	var out []asynq.TaskState
	add := func(states ...asynq.TaskState) {
		for _, s := range states {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	for _, s := range statuses {
		switch s {
		case driver.StatusPending:
			add(asynq.TaskStatePending, asynq.TaskStateScheduled)
		case driver.StatusRetrying:
			add(asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateRetry)
		case driver.StatusRunning:
			add(asynq.TaskStateActive)
		case driver.StatusSucceeded:
			add(asynq.TaskStateCompleted, asynq.TaskStateActive)
		case driver.StatusFailed, driver.StatusCancelled:
			add(asynq.TaskStateArchived, asynq.TaskStateActive)
		}
	}
	return out
}

// listState reads one page of asynq's listing of queue's tasks in state.
func (b *backend) listState(queue string, state asynq.TaskState, page int) ([]*asynq.TaskInfo, error) {
	opts := []asynq.ListOption{asynq.PageSize(listBatch), asynq.Page(page)}
	switch state {
	case asynq.TaskStatePending:
		return b.insp.ListPendingTasks(queue, opts...)
	case asynq.TaskStateActive:
		return b.insp.ListActiveTasks(queue, opts...)
	case asynq.TaskStateScheduled:
		return b.insp.ListScheduledTasks(queue, opts...)
	case asynq.TaskStateRetry:
		return b.insp.ListRetryTasks(queue, opts...)
	case asynq.TaskStateArchived:
		return b.insp.ListArchivedTasks(queue, opts...)
	case asynq.TaskStateCompleted:
		return b.insp.ListCompletedTasks(queue, opts...)
	}
	return nil, nil
}

// listed is a task read from a listing, with what it is sorted by.
type listed struct {
	info     *asynq.TaskInfo
	id       string
	enqueued time.Time
}

// before reports whether l comes before (is newer than) a task enqueued
// at t with id id, in a listing's order.
func (l listed) before(t time.Time, id string) bool {
	return l.enqueued.After(t) || (l.enqueued.Equal(t) && l.id > id)
}

// List implements driver.Lister. A page's cursor is the enqueue time (ns)
// and id of its last task.
func (b *backend) List(ctx context.Context, f driver.ListFilter) (driver.ListPage, error) {
	if f.Limit <= 0 {
		return driver.ListPage{}, fmt.Errorf("asynq: list limit %d: want a page size above 0", f.Limit)
	}
	var after *listed
	if f.Cursor != "" {
		ns, id, _ := strings.Cut(f.Cursor, ",")
		n, err := strconv.ParseInt(ns, 10, 64)
		if err != nil || id == "" {
			return driver.ListPage{}, fmt.Errorf("asynq: list cursor %q is not one a listing gave (pass a page's next as it was)", f.Cursor)
		}
		after = &listed{id: id, enqueued: time.Unix(0, n)}
	}
	queues := []string{f.Queue}
	if f.Queue == "" {
		var err error
		if queues, err = b.insp.Queues(); err != nil {
			return driver.ListPage{}, fmt.Errorf("asynq: listing queues: %w", err)
		}
	}
	var all []listed
	for _, q := range queues {
		for _, state := range asynqStates(f.States) {
			for page := 1; ; page++ {
				infos, err := b.listState(q, state, page)
				if errors.Is(err, asynq.ErrQueueNotFound) {
					break
				}
				if err != nil {
					return driver.ListPage{}, fmt.Errorf("asynq: listing the %s tasks of queue %s: %w", state, q, err)
				}
				for _, info := range infos {
					var env envelope
					_ = json.Unmarshal(info.Payload, &env)
					l := listed{info: info, id: q + "/" + info.ID, enqueued: env.EnqueuedAt}
					switch {
					case f.Task != "" && info.Type != f.Task,
						!f.Since.IsZero() && l.enqueued.Before(f.Since),
						!f.Until.IsZero() && l.enqueued.After(f.Until),
						after != nil && !after.before(l.enqueued, l.id):
						continue
					}
					all = append(all, l)
				}
				if len(infos) < listBatch {
					break
				}
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].before(all[j].enqueued, all[j].id) })
	var page driver.ListPage
	var last listed // the page's last task
	for start := 0; start < len(all); start += listBatch {
		chunk := all[start:min(start+listBatch, len(all))]
		recs, err := b.records(ctx, chunk)
		if err != nil {
			return driver.ListPage{}, err
		}
		for i, l := range chunk {
			r, ok := recordedResult(l.id, recs[i])
			if !ok {
				r = resultOf(l.id, l.info, recs[i])
			}
			if len(f.States) > 0 && !slices.Contains(f.States, r.Status) {
				continue
			}
			if len(page.Tasks) == f.Limit { // and another follows
				page.Next = strconv.FormatInt(last.enqueued.UnixNano(), 10) + "," + last.id
				return page, nil
			}
			page.Tasks = append(page.Tasks, r)
			last = l
		}
	}
	return page, nil
}

// records reads the records (taskhost:times:ID) of listed tasks, in one
// round trip.
func (b *backend) records(ctx context.Context, tasks []listed) ([]map[string]string, error) {
	pipe := b.rc.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(tasks))
	for i, l := range tasks {
		cmds[i] = pipe.HGetAll(ctx, timesPrefix+l.id)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("asynq: reading the records of listed tasks: %w", err)
	}
	out := make([]map[string]string, len(tasks))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return out, nil
}

// finalFields are the fields of a task's record that say how it ended.
var finalFields = []string{"done", "status", "error", "output", "has_output", "cancel", "progress"}

// Retry implements driver.Retrier with asynq's RunTask: the archived task
// (failed, or cancelled) becomes pending under the same id, its record's
// outcome cleared first so that it reads as running again.
func (b *backend) Retry(ctx context.Context, id string) error {
	queue, taskID, err := splitID(id)
	if err != nil {
		return err
	}
	r, err := b.Result(ctx, id)
	if err != nil {
		return err
	}
	if r.Status != driver.StatusFailed && r.Status != driver.StatusCancelled {
		return fmt.Errorf("asynq: task %s is %s: only a failed or cancelled task is retried", id, r.Status)
	}
	key := timesPrefix + id
	rec, err := b.rc.HGetAll(ctx, key).Result()
	if err != nil {
		return fmt.Errorf("asynq: retrying task %s: %w", id, err)
	}
	pipe := b.rc.TxPipeline()
	pipe.HDel(ctx, key, finalFields...)
	pipe.ZRem(ctx, cancelledPrefix+queue, id)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("asynq: retrying task %s: %w", id, err)
	}
	if err := b.insp.RunTask(queue, taskID); err != nil {
		restore := []any{}
		for _, f := range finalFields {
			if v, ok := rec[f]; ok {
				restore = append(restore, f, v)
			}
		}
		if len(restore) > 0 {
			if rerr := b.rc.HSet(context.WithoutCancel(ctx), key, restore...).Err(); rerr != nil {
				b.logger.Warn("asynq: restoring the record of a task not retried failed", "task", id, "err", rerr)
			}
		}
		return fmt.Errorf("asynq: retrying task %s: %w", id, err)
	}
	return nil
}

// Purge implements driver.Purger with asynq's DeleteAllPendingTasks,
// DeleteAllScheduledTasks and DeleteAllRetryTasks. A queue asynq does not
// know has nothing to purge.
func (b *backend) Purge(ctx context.Context, queue string) (int, error) {
	queues, err := b.insp.Queues()
	if err != nil {
		return 0, fmt.Errorf("asynq: purging queue %s: %w", queue, err)
	}
	if !slices.Contains(queues, queue) {
		return 0, nil
	}
	total := 0
	for _, del := range []func(string) (int, error){b.insp.DeleteAllPendingTasks, b.insp.DeleteAllScheduledTasks, b.insp.DeleteAllRetryTasks} {
		n, err := del(queue)
		total += n
		if err != nil {
			return total, fmt.Errorf("asynq: purging queue %s: %w", queue, err)
		}
	}
	return total, nil
}

// QueueStats implements driver.QueueStatser with asynq's GetQueueInfo:
// pending counts asynq's pending and scheduled tasks, failed its archived
// ones but those cancelled within Retention (counted in cancelled), and
// workers the asynq servers serving the queue now.
func (b *backend) QueueStats(ctx context.Context) ([]driver.QueueStats, error) {
	queues, err := b.insp.Queues()
	if err != nil {
		return nil, fmt.Errorf("asynq: listing queues: %w", err)
	}
	servers, err := b.insp.Servers()
	if err != nil {
		return nil, fmt.Errorf("asynq: listing servers: %w", err)
	}
	pipe := b.rc.Pipeline()
	cancelled := make([]*redis.IntCmd, len(queues))
	old := strconv.FormatInt(time.Now().Add(-Retention).UnixMilli(), 10)
	for i, q := range queues {
		pipe.ZRemRangeByScore(ctx, cancelledPrefix+q, "-inf", "("+old)
		cancelled[i] = pipe.ZCard(ctx, cancelledPrefix+q)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("asynq: counting cancelled tasks: %w", err)
	}
	out := make([]driver.QueueStats, 0, len(queues))
	for i, q := range queues {
		info, err := b.insp.GetQueueInfo(q)
		if errors.Is(err, asynq.ErrQueueNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("asynq: reading queue %s: %w", q, err)
		}
		c := min(cancelled[i].Val(), int64(info.Archived))
		out = append(out, driver.QueueStats{Queue: q,
			Pending: int64(info.Pending + info.Scheduled + info.Aggregating), Running: int64(info.Active),
			Retrying: int64(info.Retry), Succeeded: int64(info.Completed), Failed: int64(info.Archived) - c, Cancelled: c,
			Workers: serving(servers, q)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Queue < out[j].Queue })
	return out, nil
}

// Workers implements driver.WorkerCounter: the asynq servers (a worker
// each) serving queue now, as their heartbeats say.
func (b *backend) Workers(ctx context.Context, queue string) (int, error) {
	servers, err := b.insp.Servers()
	if err != nil {
		return 0, fmt.Errorf("asynq: listing servers: %w", err)
	}
	return serving(servers, queue), nil
}

// serving counts the running servers that serve queue.
func serving(servers []*asynq.ServerInfo, queue string) int {
	n := 0
	for _, s := range servers {
		if _, ok := s.Queues[queue]; ok && s.Status == "active" {
			n++
		}
	}
	return n
}
