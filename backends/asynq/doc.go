// Package asynq is the asynq driver (github.com/hibiken/asynq) on Redis.
//
// Select it with TASK_BACKEND_TYPE=asynq. Config.URL, else REDIS_URL, else
// redis://127.0.0.1:6379/0 names the Redis server (asynq.ParseRedisURI).
//
// Mapping: a task is an asynq task whose type is the task name; its
// payload is a small JSON envelope {"input": ..., "enqueued_at": ...,
// "timeout": ...} (plus its unique key and its workflow step, when it has
// them). Queue, max retries, timeout and delay are asynq's own options
// (asynq counts them in whole seconds: the exact timeout applies in the
// worker, and a delayed task runs at the next whole second, never early).
// The output is written with asynq's ResultWriter and kept for Retention
// (24h), so asynq's own tools (asynq.Inspector, the asynq CLI, asynqmon)
// show it. A non-retryable failure returns asynq.SkipRetry and the task is
// archived at once; retries back off by driver.RetryDelay, as on every
// engine: 1 s, doubling, up to 10 minutes (asynq's own default starts at
// 15 s).
//
// Task ids are "QUEUE/ID", as asynq looks tasks up by queue and id.
//
// Unique keys: a key is claimed in the hash taskhost:claim:KEY
// (backends/internal/redisunique) before its task is enqueued; it holds
// while asynq's state of the holder is pending, scheduled, active, retry
// or aggregating, a duplicate gets the holder's id and touches nothing of
// it, and the worker frees the key in the transaction that records the
// task's end. A key whose holder asynq archived or forgot is taken over.
//
// Workers: Concurrency is asynq's, the server's total over its queues;
// Priorities are asynq's queue weights and StrictPriority its strict
// priority. When the drain starts, asynq's Shutdown stops taking tasks on
// every queue at once.
//
// Option (Config.Options, host worker --backend-opt): task_check_interval
// (ASYNQ_TASK_CHECK_INTERVAL), how often on average an idle worker asks
// Redis for a task, DefaultTaskCheckInterval (5 ms) unless set. asynq
// polls rather than blocks, so this is most of a lone task's latency; at
// 1 ms an idle worker uses about a third of a core, at 5 ms about 5 %.
//
// Waiting: asynq has no result notification (hibiken/asynq#511, #716), so
// the worker, once a task's last attempt returns, records its outcome and
// times in a small hash (taskhost:times:QUEUE/ID) and publishes the id on
// the Redis channel taskhost:done, in one round trip; the client's Wait
// subscribes (driver.Hub), polling every 100 ms as a fallback, and reads a
// finished task from that record alone, in one round trip. Result trusts
// the record in the moment between the handler's return and asynq moving
// the task to completed or archived.
//
// Workflows: asynq has no chains (hibiken/asynq#244); workflows run on the
// client's runner, over the Redis bookkeeping shared with Celery
// (backends/internal/redisflow: the hash taskhost:wf:ID and the set
// taskhost:wf:ID:done). A step's asynq task id is derived from its
// workflow, stage and index, so enqueueing a stage twice (after a crash
// between the two) enqueues nothing new, and the runner counts a step once
// however often it runs. A step whose task succeeded but whose workflow
// could not be advanced (driver.ErrFlowAdvance) runs again after
// driver.RetryDelay without spending a retry: asynq's IsFailure does not
// count it, and a step's asynq MaxRetry keeps one in reserve for it. The
// guarantee: no step is lost or enqueued twice; a step whose worker dies
// after running it but before asynq records it runs again (at least
// once), as any asynq task does.
//
// Cancel (cancel.go): a waiting task is archived with asynq's ArchiveTask
// and recorded cancelled; a running one gets asynq's CancelProcessing, its
// worker cancels the attempt's context (stopping the sandbox call),
// records it cancelled and archives it: not retried. Cancelling a workflow
// marks it cancelled in its hash (redisflow's CancelFlow) and cancels its
// steps' tasks; a step cancelled on its own cancels its workflow.
//
// SubmitMany (batch.go) writes a batch in one Redis script, all or none,
// each task as asynq's own enqueue writes it (asynq has no batch call).
//
// Schedules (schedule.go) are kept in Redis (backends/internal/
// redisschedule) and fired by the client's beat in every worker, each tick
// once per deployment. Inspection (inspect.go) is asynq's Inspector:
// listings, RunTask, the DeleteAll calls, GetQueueInfo, Servers. A task's
// progress (Task.Progress) is kept in its record, where Result reads it.
package asynq
