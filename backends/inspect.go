package backends

import (
	"context"
	"fmt"
	"strings"

	"taskhost.dev/backends/driver"
)

type (
	// ListFilter selects tasks for List; see driver.ListFilter.
	ListFilter = driver.ListFilter
	// ListPage is one page of a listing.
	ListPage = driver.ListPage
	// QueueStats is a queue's depth by state.
	QueueStats = driver.QueueStats
)

// DefaultListLimit is a listing's page size when ListFilter.Limit is zero;
// MaxListLimit the largest allowed.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

var statuses = []Status{StatusPending, StatusRunning, StatusRetrying, StatusSucceeded, StatusFailed, StatusCancelled}

// List lists tasks, newest first, a page at a time (page.Next continues).
func (c *Client) List(ctx context.Context, f ListFilter) (ListPage, error) {
	l, ok := c.drv.(driver.Lister)
	if !ok {
		return ListPage{}, &UnsupportedError{Engine: c.Engine(), What: "listing tasks", Hint: "look a task up by its id with Result"}
	}
	switch {
	case f.Limit < 0 || f.Limit > MaxListLimit:
		return ListPage{}, invalid("list limit %d: want 1 to %d (0 for %d)", f.Limit, MaxListLimit, DefaultListLimit)
	case !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since):
		return ListPage{}, invalid("list: until %s is before since %s", f.Until, f.Since)
	}
	for _, s := range f.States {
		if !validStatus(s) {
			return ListPage{}, invalid("list: state %q is not one of %s", s, statusNames())
		}
	}
	if f.Limit == 0 {
		f.Limit = DefaultListLimit
	}
	return l.List(ctx, f)
}

func validStatus(s Status) bool {
	for _, v := range statuses {
		if s == v {
			return true
		}
	}
	return false
}

func statusNames() string {
	names := make([]string, len(statuses))
	for i, s := range statuses {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// ParseStatus reads a status name, or says which names there are.
func ParseStatus(s string) (Status, error) {
	if st := Status(strings.ToLower(s)); validStatus(st) {
		return st, nil
	}
	return "", invalid("state %q is not one of %s", s, statusNames())
}

// Retry runs a failed or cancelled task again, under the same id.
func (c *Client) Retry(ctx context.Context, id string) error {
	r, ok := c.drv.(driver.Retrier)
	if !ok {
		return &UnsupportedError{Engine: c.Engine(), What: "retrying a task", Hint: "submit it again"}
	}
	return r.Retry(ctx, id)
}

// Purge deletes the tasks of a queue that wait to run (pending, scheduled
// or waiting for a retry) and returns how many it deleted; running and
// finished tasks are left.
func (c *Client) Purge(ctx context.Context, queue string) (int, error) {
	p, ok := c.drv.(driver.Purger)
	if !ok {
		return 0, &UnsupportedError{Engine: c.Engine(), What: "purging a queue"}
	}
	if queue == "" || strings.TrimSpace(queue) != queue {
		return 0, fmt.Errorf("%s: %w", c.Engine(), invalid("purge: queue %q: a queue name must be non-empty, without leading or trailing space", queue))
	}
	return p.Purge(ctx, queue)
}

// QueueStats counts each queue's tasks by state, and the workers serving
// it where the engine knows.
func (c *Client) QueueStats(ctx context.Context) ([]QueueStats, error) {
	q, ok := c.drv.(driver.QueueStatser)
	if !ok {
		return nil, &UnsupportedError{Engine: c.Engine(), What: "queue statistics"}
	}
	return q.QueueStats(ctx)
}

// Workers returns how many workers serve queue now; known is false on an
// engine that cannot tell. A submission to a queue no worker serves waits
// until one does: host submit warns then.
func (c *Client) Workers(ctx context.Context, queue string) (n int, known bool, err error) {
	w, ok := c.drv.(driver.WorkerCounter)
	if !ok {
		return 0, false, nil
	}
	n, err = w.Workers(ctx, queue)
	return n, err == nil, err
}
