package temporal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"taskhost.dev/backends"
)

// DefaultConcurrency is the number of tasks a worker runs at once per
// queue when WorkerOptions.Concurrency is zero.
const DefaultConcurrency = 10

// Work runs one Temporal worker per queue until ctx ends, then drains.
func (b *backend) Work(ctx context.Context, opts backends.WorkerOptions, h backends.Handler) error {
	if len(opts.Priorities) > 0 || opts.StrictPriority {
		return &backends.UnsupportedError{Engine: Engine, What: "queue priorities (run a worker per queue instead)"}
	}
	queues := b.tasks.WorkerQueues(opts, "default")
	opts = opts.WithDefaults(DefaultConcurrency)
	conc, grace := opts.Concurrency, opts.Grace
	var workers []worker.Worker
	stopAll := func() {
		for _, w := range workers {
			w.Stop()
		}
	}
	for _, q := range queues {
		w := worker.New(b.c, q, worker.Options{
			MaxConcurrentActivityExecutionSize: conc,
			Identity:                           opts.Name,
			WorkerStopTimeout:                  grace,
			// More pollers than the SDK's two keep a busy worker fed
			// (measured: 19 against 14 workflows/s at concurrency 32).
			MaxConcurrentWorkflowTaskPollers: min(max(2, conc/4), 8),
			MaxConcurrentActivityTaskPollers: min(max(2, conc/4), 8),
		})
		w.RegisterWorkflowWithOptions(runTask, workflow.RegisterOptions{Name: taskWorkflow})
		w.RegisterWorkflowWithOptions(runFlow, workflow.RegisterOptions{Name: flowWorkflow})
		w.RegisterDynamicActivity(func(ctx context.Context, args converter.EncodedValues) (json.RawMessage, error) {
			return runActivity(ctx, args, h)
		}, activity.DynamicRegisterOptions{})
		if err := w.Start(); err != nil {
			stopAll()
			return fmt.Errorf("temporal: starting a worker on task queue %s: %w", q, err)
		}
		workers = append(workers, w)
	}
	<-ctx.Done()
	stopAll()
	return nil
}

// activityOptions are a task's activity options.
func activityOptions(queue string, timeout time.Duration, maxRetries int) workflow.ActivityOptions {
	return workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    min(timeout, maxHeartbeatTimeout),
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    10 * time.Minute,
			MaximumAttempts:    int32(maxRetries) + 1, // 0 would mean no limit
		},
	}
}

// runTask is the taskhost.task workflow: one activity.
func runTask(ctx workflow.Context, in taskInput) (json.RawMessage, error) {
	ctx = workflow.WithActivityOptions(ctx, activityOptions(in.Queue, in.Timeout, in.MaxRetries))
	var out json.RawMessage
	err := workflow.ExecuteActivity(ctx, in.Task, in.Input).Get(ctx, &out)
	return out, err
}

// runActivity runs any task through the handler: the dynamic activity.
func runActivity(ctx context.Context, args converter.EncodedValues, h backends.Handler) (json.RawMessage, error) {
	info := activity.GetInfo(ctx)
	var input json.RawMessage
	if err := args.Get(&input); err != nil {
		return nil, temporal.NewNonRetryableApplicationError("the activity's input is not one JSON document: "+err.Error(), "bad_input", nil)
	}
	id := info.WorkflowExecution.ID
	if info.WorkflowType != nil && info.WorkflowType.Name == flowWorkflow {
		id += "/" + info.ActivityID
	}
	// Heartbeat on our own a few times per heartbeat timeout, so that only
	// a dead worker misses it.
	if info.HeartbeatTimeout > 0 {
		hctx, stop := context.WithCancel(ctx)
		defer stop()
		go func() {
			t := time.NewTicker(info.HeartbeatTimeout / 3)
			defer t.Stop()
			for {
				select {
				case <-hctx.Done():
					return
				case <-t.C:
					activity.RecordHeartbeat(ctx)
				}
			}
		}()
	}
	out, err := h.ProcessTask(ctx, &backends.Task{
		ID: id, Name: info.ActivityType.Name, Input: input, Attempt: int(info.Attempt),
		Heartbeat: func() { activity.RecordHeartbeat(ctx) },
	})
	if err != nil {
		te := backends.ErrorOf(err)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() != nil {
			te = &backends.TaskError{Kind: "timeout", Message: fmt.Sprintf("stopped after its timeout of %s", info.StartToCloseTimeout), Retryable: true}
		}
		if !te.Retryable {
			return nil, temporal.NewNonRetryableApplicationError(te.Message, te.Kind, nil, te)
		}
		return nil, temporal.NewApplicationErrorWithCause(te.Message, te.Kind, nil, te)
	}
	if len(out) == 0 {
		out = json.RawMessage("null")
	}
	return out, nil
}
