package driver

import (
	"context"
	"time"
)

// ListFilter selects tasks for Lister.List. Zero fields select all.
type ListFilter struct {
	// States keeps the tasks in these statuses.
	States []Status
	// Queue and Task keep the tasks of that queue or task.
	Queue string
	Task  string
	// Since and Until bound the time the task was enqueued.
	Since, Until time.Time
	// Limit is the page size (> 0; the client defaults it).
	Limit int
	// Cursor continues a listing where a page's Next left it.
	Cursor string
}

// ListPage is one page of a listing, newest first.
type ListPage struct {
	Tasks []TaskResult `json:"tasks"`
	// Next is the cursor of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// Lister is implemented by drivers whose engine can list tasks by state,
// queue, task and time, in pages, newest first.
type Lister interface {
	List(ctx context.Context, f ListFilter) (ListPage, error)
}

// Retrier is implemented by drivers that can run a failed or cancelled task
// again: it becomes pending and runs again under the same id (how the
// engine counts its attempts is the engine's). A task that is not failed or
// cancelled is an error saying its status; unknown ids are ErrNotFound.
type Retrier interface {
	Retry(ctx context.Context, id string) error
}

// Purger is implemented by drivers that can delete a queue's tasks that
// wait to run (pending, scheduled, waiting for a retry), or, on an engine
// that deletes no runs (Hatchet), cancel them; running and finished ones
// are left. It returns how many were deleted or cancelled.
type Purger interface {
	Purge(ctx context.Context, queue string) (int, error)
}

// QueueStats is a queue's depth by state, as its engine counts it.
type QueueStats struct {
	Queue     string `json:"queue"`
	Pending   int64  `json:"pending"`
	Running   int64  `json:"running"`
	Retrying  int64  `json:"retrying"`
	Succeeded int64  `json:"succeeded"`
	Failed    int64  `json:"failed"`
	Cancelled int64  `json:"cancelled"`
	// Workers serving the queue now; -1 when the engine does not say.
	Workers int `json:"workers"`
}

// QueueStatser is implemented by drivers that can count a queue's tasks by
// state (the finished ones as the engine still keeps them).
type QueueStatser interface {
	QueueStats(ctx context.Context) ([]QueueStats, error)
}

// WorkerCounter is implemented by drivers that know which workers serve a
// queue now (asynq's servers, Temporal's pollers, Hatchet's workers, or a
// heartbeat the host's own workers keep in the engine's store).
type WorkerCounter interface {
	// Workers returns how many workers serve queue now.
	Workers(ctx context.Context, queue string) (int, error)
}
