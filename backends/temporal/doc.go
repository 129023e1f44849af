// Package temporal is the Temporal driver (go.temporal.io/sdk) for package
// backends.
//
// Select it with TASK_BACKEND_TYPE=temporal. Config.URL, else
// TEMPORAL_ADDRESS, else 127.0.0.1:7233 is the frontend's host:port;
// Config.Namespace, else TEMPORAL_NAMESPACE, else "default" the namespace.
// One SDK client per driver, reused by every call; it takes no options.
//
// Mapping: each queue is a Temporal task queue. A task is an activity whose
// type is the task's name. Enqueue starts the small workflow
// "taskhost.task" (its id is the task id) on the job's queue, which runs
// that one activity with the job's timeout as the start-to-close timeout,
// its retries as the retry policy's attempts, the backoff every driver
// applies (driver.RetryInitialDelay, RetryBackoffFactor, RetryMaxDelay as
// the policy's initial interval, coefficient and maximum interval) and a
// heartbeat timeout of at most 10 s. The worker heartbeats for a running
// task on its own every 50 ms (the SDK's heartbeat throttle is set to
// that), so a dead worker's task is retried elsewhere within the heartbeat
// timeout, not the task's timeout, and a cancellation, which Temporal
// tells an activity only in the answer to a heartbeat, stops the attempt
// within the 100 ms driver.Canceler promises. That is one heartbeat RPC
// (and one write of the activity's state on the server) every 50 ms per
// running task. Each heartbeat carries the task's last progress as its
// details, which Result reads back from the pending activity
// (DescribeWorkflowExecution). A non-retryable error becomes a
// non-retryable application error whose type is the error's kind. A delay
// is the workflow's start delay.
//
// A unique key makes the workflow id "task-u-KEY" with the conflict policy
// "use existing" (a duplicate submission gets the running or delayed task
// and changes nothing of it) and the reuse policy "allow duplicate" (the
// key is free once that workflow has closed, however it ended). Such a
// task's id is "task-u-KEY/RUN_ID": it names its own run, so a later task
// with the same key never shows through it.
//
// Workers: a Temporal worker polls one task queue, so Work runs one per
// queue, and Concurrency, the worker's total, is one fixed-size activity
// slot supplier (a semaphore) shared by all of them through the SDK's
// Tuner. Temporal pollers reserve their slot before a long poll, so an
// idle queue's pollers hold slots while they wait: the activity pollers of
// all queues together are one queue's budget (min(max(2, C/4), 8), at
// least one per queue), and a worker with fewer slots than queues is
// refused. When the worker's context ends, every queue's worker is stopped
// at once (each ends its polls, then lets its running activities finish
// within the grace). Workers register one dynamic activity, which serves
// every activity type: a task registered after the worker started runs
// without a change here. Queue priorities are refused (ErrUnsupported).
//
// Result reads Temporal's own records: DescribeWorkflowExecution for a
// running task (the pending activity's state and attempt), and the
// workflow's history for a finished one (the last attempt's number and
// times, the output or the failure). The driver is a driver.Notifier: a
// waiter long-polls the workflow's close (GetWorkflow().Get), so a Wait
// polls nothing of its own. Ping is the frontend's health check.
//
// Workflows run as one generic, deterministic Temporal workflow,
// "taskhost.workflow", that interprets the definition it is started with
// (each step's queue, timeout and retries resolved from the registry at
// submission): stages one after another, the steps of a stage as
// activities at once. It answers the query "steps" with every step's
// state while it runs, returns the output and the steps when it succeeds,
// and fails with a non-retryable application error whose details hold the
// steps. A step's task id is WORKFLOW_ID/STAGE.INDEX, its activity id;
// Result of it reads the step from its workflow.
//
// # Powers
//
// Cancel and CancelWorkflow are Temporal workflow cancellation of the
// task's (or workflow's) execution: an activity not yet started never
// starts, a running one is told through its next heartbeat, and the
// execution closes cancelled at once (see cancel.go). A finished one is
// ErrFinished. One step of a workflow cannot be cancelled alone (its
// workflow can). Temporal has no call that starts many workflows at once,
// so SubmitMany is the client's bounded concurrency. Schedules are
// Temporal Schedules (schedule.go). Inspection reads Temporal's
// visibility store (inspect.go): List (open executions first, closed ones
// by close time, which the listing reorders by start), QueueStats
// (CountWorkflow by status, the open tasks described) for the queues of
// the registered tasks, Workers (the task queue's activity pollers).
// Retry resets the execution to its first workflow task (Temporal's
// reset): a new run of the same workflow id, which is the same task here,
// since a task's id names its workflow (a keyed task's id, which names its
// run, follows the reset). Purge deletes the queue's waiting executions
// (DeleteWorkflowExecution).
package temporal
