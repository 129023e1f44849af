package celery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"taskhost.dev/backends/driver"
)

// Result implements driver.Driver: Celery's result and this package's
// record of the task, read in one round trip when both live in one Redis.
func (b *backend) Result(ctx context.Context, id string) (driver.TaskResult, error) {
	if id == "" {
		return driver.TaskResult{}, fmt.Errorf("celery: an empty task id: %w", driver.ErrNotFound)
	}
	var metaCmd *redis.StringCmd
	var rec map[string]string
	if b.results == b.broker {
		p := b.broker.Pipeline()
		metaCmd = p.Get(ctx, metaKey(id))
		recCmd := p.HGetAll(ctx, recordKey(id))
		p.Exec(ctx)
		rec, _ = recCmd.Result()
		if err := recCmd.Err(); err != nil {
			return driver.TaskResult{}, fmt.Errorf("celery: reading task %s: %w", id, err)
		}
	} else {
		metaCmd = b.results.Get(ctx, metaKey(id))
		var err error
		if rec, err = b.broker.HGetAll(ctx, recordKey(id)).Result(); err != nil {
			return driver.TaskResult{}, fmt.Errorf("celery: reading task %s: %w", id, err)
		}
	}
	raw, err := metaCmd.Bytes()
	if err != nil && !errors.Is(err, redis.Nil) {
		return driver.TaskResult{}, fmt.Errorf("celery: reading the result of task %s: %w", id, err)
	}
	if len(raw) == 0 && len(rec) == 0 {
		return driver.TaskResult{}, fmt.Errorf("celery: task %s: %w", id, driver.ErrNotFound)
	}
	return resultOf(id, raw, rec)
}

// resultOf builds a task's result from its Celery meta (raw, may be
// empty) and this package's record of it (may be empty: a task submitted
// by Python and run by a Python worker).
func resultOf(id string, raw []byte, rec map[string]string) (driver.TaskResult, error) {
	r := driver.TaskResult{ID: id, Task: rec["task"], Queue: rec["queue"], Engine: Engine, Status: driver.Status(rec["state"])}
	if r.Status == "" {
		r.Status = driver.StatusPending
	}
	r.Attempts, _ = strconv.Atoi(rec["attempt"])
	r.EnqueuedAt, _ = time.Parse(time.RFC3339Nano, rec["enqueued_at"])
	r.StartedAt, _ = time.Parse(time.RFC3339Nano, rec["started_at"])
	r.FinishedAt, _ = time.Parse(time.RFC3339Nano, rec["finished_at"])
	r.Progress = progressOf([]byte(rec["progress"]))
	if len(raw) == 0 {
		return r, nil
	}
	var m meta
	if err := json.Unmarshal(raw, &m); err != nil {
		return r, fmt.Errorf("celery: the result of task %s is not Celery's JSON result format: %v", id, err)
	}
	if r.Task == "" {
		r.Task = m.Name
	}
	if r.Queue == "" {
		r.Queue = m.Queue
	}
	if r.Attempts == 0 && m.Status != statePending {
		r.Attempts = m.Retries + 1
	}
	if r.FinishedAt.IsZero() && m.DateDone != nil {
		r.FinishedAt, _ = parseISO(*m.DateDone)
	}
	switch m.Status {
	case stateStarted:
		r.Status = driver.StatusRunning
	case stateRetry:
		if r.Status != driver.StatusRunning {
			r.Status = driver.StatusRetrying
		}
		r.Error = taskErrorOf(m.Result)
	case stateSuccess:
		r.Status = driver.StatusSucceeded
		r.Output = driver.CompactJSON(m.Result)
	case stateFailure:
		r.Status, r.Error = driver.StatusFailed, taskErrorOf(m.Result)
	case stateRevoked:
		r.Status, r.Error = driver.StatusCancelled, taskErrorOf(m.Result)
	case statePending, "":
	default:
		// A custom state (update_state), such as PROGRESS: the task runs,
		// and the state's meta is its progress.
		if !r.Status.Done() {
			r.Status = driver.StatusRunning
		}
		r.Progress = progressOf(m.Result)
	}
	return r, nil
}
