package backends

import (
	"context"
	"errors"
	"fmt"

	"taskhost.dev/backends/driver"
)

// ErrFinished is matched by a cancellation of a task or workflow that was
// already done: it is left as it is.
var ErrFinished = driver.ErrFinished

// Cancel cancels a task with its engine's own mechanism: a pending or
// scheduled task never runs; a running one's attempt is stopped (the
// worker stops its sandbox call) and the task ends cancelled, not retried.
// A task already done is left as it is and Cancel returns an error
// matching ErrFinished; an unknown id is ErrNotFound; an engine that cannot
// cancel is an *UnsupportedError.
func (c *Client) Cancel(ctx context.Context, id string) error {
	cn, ok := c.drv.(driver.Canceler)
	if !ok {
		return &UnsupportedError{Engine: c.Engine(), What: "cancelling a task"}
	}
	return cn.Cancel(ctx, id)
}

// CancelWorkflow cancels a workflow: its pending steps never run, its
// running ones are stopped, and it ends cancelled. ErrFinished and
// ErrNotFound as Cancel.
func (c *Client) CancelWorkflow(ctx context.Context, id string) error {
	switch d := c.drv.(type) {
	case driver.WorkflowCanceler:
		return d.CancelWorkflow(ctx, id)
	case driver.FlowStore:
		fc, ok := d.(driver.FlowCanceler)
		cn, ok2 := c.drv.(driver.Canceler)
		if !ok || !ok2 {
			break
		}
		rec, err := d.ReadFlow(ctx, id)
		if err != nil {
			return err
		}
		running, err := fc.CancelFlow(ctx, id)
		if err != nil {
			return err
		}
		if !running {
			return fmt.Errorf("%s: workflow %s is %s: %w", c.Engine(), id, rec.Status, ErrFinished)
		}
		// Read again: a stage enqueued between the first read and the
		// cancel has tasks of its own. None is enqueued after it.
		if again, err := d.ReadFlow(ctx, id); err == nil {
			rec = again
		}
		var errs []error
		for _, tid := range rec.TaskIDs {
			if err := cn.Cancel(ctx, tid); err != nil && !errors.Is(err, ErrFinished) && !isNotFound(err) {
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	}
	return &UnsupportedError{Engine: c.Engine(), What: "cancelling a workflow"}
}
