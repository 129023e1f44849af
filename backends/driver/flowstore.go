package driver

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrFlowAdvance is matched (errors.Is) by a handler's error when a
// workflow step's task succeeded but the client's runner could not record
// it or start what follows (a FlowStore call failed). The failure is not
// the task's: the driver runs the step again, promptly and without
// spending one of its retries (StepDone counts a step once and
// EnqueueStage enqueues a stage once, so a rerun is safe), and never
// leaves its delivery unsettled.
var ErrFlowAdvance = errors.New("workflow bookkeeping failed")

// FlowStore is implemented by drivers whose engine has no workflow
// construct of its own but can keep a workflow's bookkeeping (asynq and
// Celery keep it in Redis): the client runs workflows on it. Its steps are
// ordinary jobs carrying a FlowRef; when a step's handler succeeds, the
// client's runner records it and, at the end of a stage, enqueues the
// next, before the driver acknowledges the step. Every method is atomic
// in the engine's store.
type FlowStore interface {
	// CreateFlow stores a new workflow run, status running.
	CreateFlow(ctx context.Context, id string, wf Workflow) error
	// EnqueueStage enqueues the jobs of one stage of workflow id once: a
	// second call for the same stage enqueues nothing. It records each
	// job's task id as its step's (jobs are in step order, each with its
	// Flow and a derived ID set).
	EnqueueStage(ctx context.Context, id string, stage int, jobs []*Job) error
	// StepDone records a step's output, once per step however often it
	// runs. When the step was the last of its stage to finish while the
	// workflow runs, it returns the definition and the stage's outputs in
	// step order; otherwise nil.
	StepDone(ctx context.Context, ref FlowRef, out json.RawMessage) (*StageDone, error)
	// EndFlow ends a running workflow: succeeded with output when failed is
	// nil, else failed by that step. A workflow that is no longer running is
	// left as it is. It wakes the workflow's waiters (see Notifier).
	EndFlow(ctx context.Context, id string, output json.RawMessage, failed *FailedStep) error
	// ReadFlow returns a workflow's stored state; an unknown id is
	// ErrNotFound.
	ReadFlow(ctx context.Context, id string) (FlowRecord, error)
}

// StageDone is what FlowStore.StepDone returns when a stage is complete.
type StageDone struct {
	Workflow Workflow
	Outputs  []json.RawMessage
}

// FlowRecord is a workflow's state as a FlowStore keeps it.
type FlowRecord struct {
	Workflow Workflow
	// Status is running, succeeded or failed.
	Status Status
	// Output is the last stage's output once it succeeded.
	Output json.RawMessage
	// Failed is the step that failed it, if one did.
	Failed *FailedStep
	// TaskIDs are the submitted steps' task ids, by [stage, index].
	TaskIDs map[[2]int]string
	// Outputs are the outputs of the steps StepDone counted, by [stage,
	// index]: such a step succeeded, even while its engine has yet to
	// record its task (the runner advances before the driver records).
	Outputs    map[[2]int]json.RawMessage
	CreatedAt  time.Time
	FinishedAt time.Time
}
