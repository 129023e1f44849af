package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"taskhost.dev/abi"
	"taskhost.dev/backends/driver"
)

// otherSlots is the size of the slot suppliers a worker's queues share for
// what is not an activity (workflow tasks, local activities, Nexus tasks,
// sessions), the SDK's own default: a taskhost.task workflow task is a
// few milliseconds of bookkeeping, and Concurrency bounds activities.
const otherSlots = 1000

// heartbeatEvery is how often a running activity heartbeats. Temporal
// tells an activity of its cancellation only in the answer to a heartbeat,
// so this bounds how long a cancelled attempt runs on (with the workflow
// task that cancels the activity, a few milliseconds): the 100 ms promise
// of driver.Canceler. Each heartbeat is one RPC, and one write of the
// activity's state on the server, per running task.
const heartbeatEvery = 50 * time.Millisecond

// Work implements driver.Driver: one Temporal worker per queue (a Temporal
// worker polls one task queue), all drawing their activity slots from one
// fixed-size slot supplier of cfg.Concurrency slots, so that the bound is
// the worker's total over its queues. When ctx ends every queue's worker
// is stopped at once.
//
// A Temporal poller reserves its slot before it polls, and holds it for
// the long poll (up to a minute on an idle queue): the activity pollers of
// all queues together are the poller budget one queue would get,
// min(max(2, Concurrency/4), 8), and at least one per queue, so idle
// queues hold few slots; a worker needs at least one slot per queue.
func (b *backend) Work(ctx context.Context, cfg driver.WorkerConfig, h driver.Handler) error {
	if cfg.Priorities != nil || cfg.StrictPriority {
		return &driver.UnsupportedError{Engine: Engine, What: "queue priorities", Hint: "Temporal serves its task queues alike; run one worker per queue instead"}
	}
	if cfg.Concurrency < len(cfg.Queues) {
		return fmt.Errorf("temporal: worker concurrency %d is below its %d queues: each queue's poller holds a slot while it waits for a task; raise --concurrency or serve fewer queues", cfg.Concurrency, len(cfg.Queues))
	}
	tuner, err := sharedTuner(cfg.Concurrency)
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	budget := min(max(2, cfg.Concurrency/4), 8)
	activityPollers := max(1, budget/len(cfg.Queues))
	var workers []worker.Worker
	for _, q := range cfg.Queues {
		w := worker.New(b.c, q, worker.Options{
			Tuner:             tuner,
			Identity:          cfg.Name,
			WorkerStopTimeout: cfg.Grace,
			// More pollers than the SDK's two keep a busy worker fed
			// (measured: 19 against 14 workflows/s at concurrency 32).
			MaxConcurrentWorkflowTaskPollers: budget,
			MaxConcurrentActivityTaskPollers: activityPollers,
			// A cancellation reaches a running activity only in the answer
			// to a heartbeat: the SDK must send them this often.
			MaxHeartbeatThrottleInterval: heartbeatEvery,
		})
		w.RegisterWorkflowWithOptions(runTask, workflow.RegisterOptions{Name: taskWorkflow})
		w.RegisterWorkflowWithOptions(runFlow, workflow.RegisterOptions{Name: flowWorkflow})
		w.RegisterDynamicActivity(func(ctx context.Context, args converter.EncodedValues) (json.RawMessage, error) {
			return runActivity(ctx, args, h)
		}, activity.DynamicRegisterOptions{})
		if err := w.Start(); err != nil {
			stopAll(workers)
			return fmt.Errorf("temporal: starting a worker on task queue %s: %w", q, err)
		}
		workers = append(workers, w)
	}
	<-ctx.Done()
	stopAll(workers)
	return nil
}

// sharedTuner is the tuner every queue's worker of one Work uses: one
// fixed-size activity slot supplier of n slots (a semaphore, which the SDK
// wraps per worker only to count and report), and large ones for the rest.
func sharedTuner(n int) (worker.WorkerTuner, error) {
	activities, err := worker.NewFixedSizeSlotSupplier(n)
	if err != nil {
		return nil, err
	}
	other := func() worker.SlotSupplier {
		s, _ := worker.NewFixedSizeSlotSupplier(otherSlots)
		return s
	}
	return worker.NewCompositeTuner(worker.CompositeTunerOptions{
		WorkflowSlotSupplier:        other(),
		ActivitySlotSupplier:        activities,
		LocalActivitySlotSupplier:   other(),
		NexusSlotSupplier:           other(),
		SessionActivitySlotSupplier: other(),
	})
}

// stopAll stops the workers at once: each Stop ends its polls at its
// start, then waits up to the grace for its running activities.
func stopAll(workers []worker.Worker) {
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(w.Stop)
	}
	wg.Wait()
}

// activityOptions are a task's activity options: its backoff (nil: the
// default every driver applies, driver.RetryDelay) as Temporal's retry
// policy. Temporal's policy has no jitter: a backoff's Jitter is not
// applied.
func activityOptions(queue string, timeout time.Duration, maxRetries int, backoff *driver.Backoff) workflow.ActivityOptions {
	b := driver.Backoff{}.WithDefaults()
	if backoff != nil {
		b = backoff.WithDefaults()
	}
	factor := float64(driver.RetryBackoffFactor)
	if b.Fixed {
		factor = 1
	}
	return workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    min(timeout, maxHeartbeatTimeout),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    b.Initial,
			BackoffCoefficient: factor,
			MaximumInterval:    b.Max,
			MaximumAttempts:    int32(maxRetries) + 1, // 0 would mean no limit
		},
	}
}

// runTask is the taskhost.task workflow: one activity.
func runTask(ctx workflow.Context, in taskInput) (json.RawMessage, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions(in.Queue, in.Timeout, in.MaxRetries, in.Backoff))
	var out json.RawMessage
	args := []any{in.Input}
	if len(in.Meta) > 0 {
		args = append(args, in.Meta)
	}
	err := workflow.ExecuteActivity(ctx, in.Task, args...).Get(ctx, &out)
	return out, err
}

// runActivity runs any task through the handler: the dynamic activity.
func runActivity(ctx context.Context, args converter.EncodedValues, h driver.Handler) (json.RawMessage, error) {
	info := activity.GetInfo(ctx)
	var input json.RawMessage
	var meta map[string]string // a second argument: the job's Meta (runTask)
	if err := args.Get(&input, &meta); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the activity's input is not one JSON document and its Meta: "+err.Error(), string(abi.KindBadInput), nil)
	}
	// The task's id as Enqueue returned it (a keyed task's names its run),
	// or a workflow step's, WORKFLOW_ID/STAGE.INDEX.
	id := info.WorkflowExecution.ID
	switch {
	case info.WorkflowType != nil && info.WorkflowType.Name == flowWorkflow:
		id += "/" + info.ActivityID
	case strings.HasPrefix(id, uniquePrefix):
		id += "/" + info.WorkflowExecution.RunID
	}
	// Heartbeat on our own every heartbeatEvery, so that only a dead
	// worker misses one and a cancellation (the answer to a heartbeat)
	// stops the attempt soon; every heartbeat carries the last progress,
	// which the server keeps as the heartbeat's details.
	var progress atomic.Pointer[abi.Progress]
	beat := func() {
		if p := progress.Load(); p != nil {
			activity.RecordHeartbeat(ctx, *p)
			return
		}
		activity.RecordHeartbeat(ctx)
	}
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-hctx.Done():
				return
			case <-t.C:
				beat()
			}
		}
	}()
	maxRetries := 0
	if p := info.RetryPolicy; p != nil && p.MaximumAttempts > 0 {
		maxRetries = int(p.MaximumAttempts) - 1
	}
	out, err := h.ProcessTask(ctx, &driver.Task{
		ID: id, Name: info.ActivityType.Name, Queue: info.TaskQueue, Input: input,
		Attempt: int(info.Attempt), MaxRetries: maxRetries, Meta: meta,
		Heartbeat: beat,
		Progress: func(p abi.Progress) {
			progress.Store(&p)
			activity.RecordHeartbeat(ctx, p)
		},
	})
	if err != nil {
		te := driver.ErrorOf(err)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			te = &driver.TaskError{Kind: abi.KindTimeout, Message: fmt.Sprintf("stopped after its timeout of %s", info.StartToCloseTimeout), Retryable: true}
		}
		if !te.Retryable {
			return nil, temporal.NewNonRetryableApplicationError(te.Message, string(te.Kind), nil, te)
		}
		return nil, temporal.NewApplicationErrorWithCause(te.Message, string(te.Kind), nil, te)
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	return out, nil
}
