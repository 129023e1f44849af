package hatchet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hatchet-dev/hatchet/pkg/client/rest"
	hatchet "github.com/hatchet-dev/hatchet/sdks/go"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// Cancellation on Hatchet is run cancellation (the runs API's Cancel): a
// queued run never starts, a running one's context is cancelled in the
// worker running it (the engine tells the worker's SDK, which cancels the
// attempt's context), and the run ends cancelled, not retried.
//
// A delayed task is a Hatchet scheduled run, which has no run to cancel
// yet: Cancel deletes the schedule and leaves a tombstone, a cancelled run
// of the workflow "taskhost.cancelled" (which no worker serves) carrying
// the task's envelope and its id's token, so that Result reads the task as
// cancelled. The engine's ticker loads the schedules due in the next few
// seconds ahead of time and may still start one deleted since: a worker
// looks for a tombstone before it runs a delayed task's run, and cancels
// that run instead of running it. (The runs API lists a run a moment
// after it is made: a delayed task cancelled in that moment before its
// time may still run.)

// tombstoneWorkflow is the workflow of the tombstones of cancelled
// delayed tasks; no worker serves it.
const tombstoneWorkflow = "taskhost.cancelled"

// knownWithin bounds the wait, in Cancel, for the engine to record a run
// this process handed out a moment ago.
const knownWithin = 10 * time.Second

// Cancel implements driver.Canceler.
func (b *backend) Cancel(ctx context.Context, id string) error {
	run, sched, err := b.knownRun(ctx, id)
	if err != nil {
		return err
	}
	if run == "" {
		return b.cancelDelayed(ctx, id, sched)
	}
	return b.cancelRun(ctx, "task", id, run)
}

// CancelWorkflow implements driver.WorkflowCanceler: the cancellation of
// the DAG's run, which cancels its tasks (the running ones' contexts in
// their workers) and starts no more.
func (b *backend) CancelWorkflow(ctx context.Context, id string) error {
	if _, _, err := b.knownRun(ctx, id); err != nil {
		return err
	}
	if _, err := b.WorkflowResult(ctx, id); err != nil {
		return err
	}
	return b.cancelRun(ctx, "workflow", id, id)
}

// knownRun resolves id as runID does, waiting up to knownWithin for a run
// this process handed out that the engine has not recorded yet.
func (b *backend) knownRun(ctx context.Context, id string) (string, *rest.ScheduledWorkflows, error) {
	deadline := time.Now().Add(knownWithin)
	for {
		run, sched, err := b.runID(ctx, id)
		if err == nil && run != "" {
			_, err = b.details(ctx, run)
		}
		if !errors.Is(err, driver.ErrNotFound) || time.Now().After(deadline) {
			return run, sched, err
		}
		if _, ok := b.recent.lookup(id); !ok {
			return run, sched, err
		}
		if _, err := driver.Pause(ctx, 20*time.Millisecond, nil); err != nil {
			return "", nil, err
		}
	}
}

// cancelRun cancels a run that has not finished.
func (b *backend) cancelRun(ctx context.Context, what, id, run string) error {
	d, err := b.details(ctx, run)
	if err != nil {
		return err
	}
	if d.Done {
		return fmt.Errorf("hatchet: %s %s is %s: %w", what, id, statusOf(d.Status, nil), driver.ErrFinished)
	}
	u, _ := uuid.Parse(run)
	if _, err := b.c.Runs().Cancel(ctx, rest.V1CancelTaskRequest{ExternalIds: &[]uuid.UUID{u}}); err != nil {
		return fmt.Errorf("hatchet: cancelling %s %s: %w", what, id, err)
	}
	return nil
}

// cancelDelayed cancels a delayed task whose schedule has not started a
// run: it deletes the schedule and leaves the task's tombstone.
func (b *backend) cancelDelayed(ctx context.Context, id string, sched *rest.ScheduledWorkflows) error {
	if err := b.restDelete(ctx, "schedule", sched.Metadata.Id); err != nil {
		// Its time may have come meanwhile: cancel the run it became.
		if run, _, rerr := b.knownRun(ctx, id); rerr == nil && run != "" {
			return b.cancelRun(ctx, "task", id, run)
		}
		return fmt.Errorf("hatchet: cancelling delayed task %s (deleting its schedule): %w", id, err)
	}
	return b.tombstone(ctx, id, sched)
}

// tombstone leaves the cancelled run that records the cancellation of the
// delayed task id, whose schedule is sched.
func (b *backend) tombstone(ctx context.Context, id string, sched *rest.ScheduledWorkflows) error {
	token := strings.TrimPrefix(id, schedPrefix)
	var env envelope
	if sched.Input != nil {
		raw, _ := json.Marshal(*sched.Input)
		_ = json.Unmarshal(raw, &env)
	}
	if err := b.putOnce(tombstoneWorkflow, tombstoneWorkflow, func() (hatchet.WorkflowBase, error) {
		return b.c.NewStandaloneTask(tombstoneWorkflow, func(hatchet.Context, envelope) (output, error) {
			return output{}, errors.New("a tombstone ran")
		}, hatchet.WithWorkflowDescription("the tombstones of cancelled delayed taskhost tasks; no worker serves it")), nil
	}); err != nil {
		return fmt.Errorf("hatchet: cancelling delayed task %s: %w", id, err)
	}
	env.Key = uuid.NewString()
	ref, err := b.c.RunNoWait(ctx, tombstoneWorkflow, env, hatchet.WithRunMetadata(map[string]string{delayedMeta: token}))
	if err != nil {
		return fmt.Errorf("hatchet: cancelling delayed task %s (its tombstone): %w", id, err)
	}
	b.recent.note(id, nil)
	b.recent.note(ref.RunId, nil)
	run, _, err := b.knownRun(ctx, ref.RunId)
	if err != nil {
		return fmt.Errorf("hatchet: cancelling delayed task %s (its tombstone %s): %w", id, ref.RunId, err)
	}
	return b.cancelRun(ctx, "task", id, run)
}

// tombstoned reports whether the delayed task of the token was cancelled
// (it has a tombstone), for a worker about to run its run.
func (b *backend) tombstoned(ctx context.Context, token string) (bool, error) {
	wf, err := b.tombstoneID(ctx)
	if err != nil && strings.Contains(err.Error(), "not found") {
		return false, nil // no tombstone was ever made
	}
	if err != nil {
		return false, err
	}
	limit := int64(1)
	runs, err := b.c.Runs().List(ctx, rest.V1WorkflowRunListParams{Since: time.Now().Add(-30 * 24 * time.Hour), Limit: &limit,
		WorkflowIds: &[]uuid.UUID{wf}, AdditionalMetadata: &[]string{delayedMeta + ":" + token}})
	if err != nil {
		return false, err
	}
	return len(runs.Rows) > 0, nil
}

// tombstoneID is the tombstone workflow's id, looked up once found.
func (b *backend) tombstoneID(ctx context.Context) (uuid.UUID, error) {
	b.tombMu.Lock()
	defer b.tombMu.Unlock()
	if b.tombID != uuid.Nil {
		return b.tombID, nil
	}
	wf, err := b.c.Workflows().GetId(ctx, tombstoneWorkflow)
	if err != nil {
		return uuid.Nil, err
	}
	b.tombID = wf
	return wf, nil
}

// cancelSelf cancels the run hctx runs, whose delayed task was cancelled,
// and returns the attempt's error once the engine has cancelled the run
// (it then cancels hctx, as for any cancelled run): an attempt that ended
// first would leave the run failed.
func (b *backend) cancelSelf(hctx hatchet.Context) error {
	u, _ := uuid.Parse(hctx.WorkflowRunId())
	if _, err := b.c.Runs().Cancel(hctx, rest.V1CancelTaskRequest{ExternalIds: &[]uuid.UUID{u}}); err != nil {
		b.logger.Warn("hatchet: cancelling the run of a cancelled delayed task", "run", hctx.WorkflowRunId(), "err", err)
	} else {
		select {
		case <-hctx.Done():
		case <-time.After(knownWithin):
			b.logger.Warn("hatchet: the engine did not cancel the run of a cancelled delayed task", "run", hctx.WorkflowRunId(), "within", knownWithin)
		}
	}
	return failure(&driver.TaskError{Kind: abi.KindCancelled, Message: "the delayed task was cancelled before its time"}, attemptInfo{Attempt: hctx.RetryCount() + 1}, true)
}
