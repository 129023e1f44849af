package asynq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

func splitID(id string) (queue, taskID string, err error) {
	queue, taskID, ok := strings.Cut(id, "/")
	if !ok || queue == "" || taskID == "" {
		return "", "", fmt.Errorf("asynq: task id %q: %w (asynq ids read QUEUE/ID)", id, driver.ErrNotFound)
	}
	return queue, taskID, nil
}

// Result implements driver.Driver. A finished task's record is usually its
// whole result: one read, where asynq's own is a script and a second read
// (so a Wait woken by the worker's notice costs one round trip).
func (b *backend) Result(ctx context.Context, id string) (driver.TaskResult, error) {
	queue, taskID, err := splitID(id)
	if err != nil {
		return driver.TaskResult{}, err
	}
	rec, err := b.rc.HGetAll(ctx, timesPrefix+id).Result()
	if err != nil {
		return driver.TaskResult{}, fmt.Errorf("asynq: reading task %s: %w", id, err)
	}
	if r, ok := recordedResult(id, rec); ok {
		return r, nil
	}
	info, err := b.insp.GetTaskInfo(queue, taskID)
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return driver.TaskResult{}, fmt.Errorf("asynq: task %s: %w", id, driver.ErrNotFound)
	}
	if err != nil {
		return driver.TaskResult{}, fmt.Errorf("asynq: reading task %s: %w", id, err)
	}
	if info.State == asynq.TaskStateCompleted || info.State == asynq.TaskStateArchived {
		// The record, written before asynq finishes a task, was read
		// before asynq did: read its times again.
		if rec, err = b.rc.HGetAll(ctx, timesPrefix+id).Result(); err != nil {
			return driver.TaskResult{}, fmt.Errorf("asynq: reading task %s: %w", id, err)
		}
	}
	return resultOf(id, info, rec), nil
}

func resultOf(id string, info *asynq.TaskInfo, times map[string]string) driver.TaskResult {
	var env envelope
	_ = json.Unmarshal(info.Payload, &env)
	r := driver.TaskResult{ID: id, Task: info.Type, Queue: info.Queue, EnqueuedAt: env.EnqueuedAt, Engine: Engine}
	r.StartedAt, _ = time.Parse(time.RFC3339Nano, times["started_at"])
	r.FinishedAt, _ = time.Parse(time.RFC3339Nano, times["finished_at"])
	// asynq counts an attempt in Retried when it schedules the next one
	// (a lease lost to a killed worker included); the running, last or
	// finished attempt is one more.
	r.Attempts = info.Retried
	if info.LastErr != "" {
		r.Error = driver.DecodeTaskError(info.LastErr)
	}
	switch info.State {
	case asynq.TaskStatePending, asynq.TaskStateScheduled, asynq.TaskStateAggregating:
		r.Status = driver.StatusPending
		if r.Attempts > 0 {
			r.Status = driver.StatusRetrying
		}
	case asynq.TaskStateActive:
		r.Attempts++
		r.Status = driver.StatusRunning
		if times["done"] == strconv.Itoa(r.Attempts) { // the handler has returned; asynq is about to record it
			switch {
			case times["status"] == string(driver.StatusCancelled):
				r.Status, r.Error = driver.StatusCancelled, driver.DecodeTaskError(times["error"])
			case times["error"] != "":
				r.Status, r.Error = driver.StatusFailed, driver.DecodeTaskError(times["error"])
			case times["has_output"] == "1":
				r.Status, r.Output = driver.StatusSucceeded, driver.CompactJSON([]byte(times["output"]))
			case len(info.Result) > 0:
				r.Status, r.Output = driver.StatusSucceeded, driver.CompactJSON(info.Result)
			}
			// Else the task info was read before the output was written:
			// still running, as far as this read can tell.
		}
	case asynq.TaskStateRetry:
		r.Status = driver.StatusRetrying
	case asynq.TaskStateCompleted:
		r.Attempts++
		r.Status, r.Error = driver.StatusSucceeded, nil
		r.Output = driver.CompactJSON(info.Result)
	case asynq.TaskStateArchived:
		r.Attempts++
		r.Status = driver.StatusFailed
		if times["cancel"] == "1" { // archived by Cancel, which records it next
			r.Status, r.Error = driver.StatusCancelled, errCancelled
		}
	}
	r.Progress = progressOf(times)
	return r
}

// progressOf reads the progress a task's record holds (Task.Progress).
func progressOf(rec map[string]string) *abi.Progress {
	if rec["progress"] == "" {
		return nil
	}
	var p abi.Progress
	if json.Unmarshal([]byte(rec["progress"]), &p) != nil {
		return nil
	}
	return &p
}

// recordedResult builds a finished task's result from its record alone,
// when the record holds all of it.
func recordedResult(id string, rec map[string]string) (driver.TaskResult, bool) {
	cancelled := rec["status"] == string(driver.StatusCancelled)
	if rec["done"] == "" || (rec["error"] == "" && rec["has_output"] != "1" && !cancelled) {
		return driver.TaskResult{}, false
	}
	queue, _, _ := strings.Cut(id, "/")
	r := driver.TaskResult{ID: id, Task: rec["task"], Queue: queue, Engine: Engine, Status: driver.StatusSucceeded}
	r.Attempts, _ = strconv.Atoi(rec["done"])
	r.EnqueuedAt, _ = time.Parse(time.RFC3339Nano, rec["enqueued_at"])
	r.StartedAt, _ = time.Parse(time.RFC3339Nano, rec["started_at"])
	r.FinishedAt, _ = time.Parse(time.RFC3339Nano, rec["finished_at"])
	switch {
	case cancelled:
		r.Status, r.Error = driver.StatusCancelled, driver.DecodeTaskError(rec["error"])
	case rec["error"] != "":
		r.Status, r.Error = driver.StatusFailed, driver.DecodeTaskError(rec["error"])
	default:
		r.Output = driver.CompactJSON([]byte(rec["output"]))
	}
	r.Progress = progressOf(rec)
	return r, true
}

// taskErr is a handler's error as asynq stores it (driver.EncodeTaskError).
type taskErr struct{ e *driver.TaskError }

func (t taskErr) Error() string { return driver.EncodeTaskError(t.e) }
