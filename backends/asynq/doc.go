// Package asynq is the asynq backend (github.com/hibiken/asynq) on Redis.
//
// Select it with TASK_BACKEND_TYPE=asynq. Config.URL, else REDIS_URL, else
// redis://127.0.0.1:6379/0 names the Redis server (asynq.ParseRedisURI).
//
// Mapping: a task is an asynq task whose type is the task name; its
// payload is a small JSON envelope {"input": ..., "enqueued_at": ...} (plus
// the workflow step, for a workflow). Queue, max retries, timeout and
// delay are asynq's own options; a unique key is an asynq task id, so a
// second submission with the key returns the first task while asynq keeps
// it (Retention, 24h). The output is written with asynq's ResultWriter and
// kept for the retention period, so asynq's own tools (asynq.Inspector,
// the asynq CLI, asynqmon) show it. A non-retryable failure returns
// asynq.SkipRetry and the task is archived at once; retries back off
// exponentially from one second (asynq's default starts at 15 s).
//
// Task ids are "QUEUE/ID", as asynq looks tasks up by queue and id.
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
// the Redis channel taskhost:done, in one round trip; Wait subscribes,
// polling every 100 ms as a fallback. Result trusts that record in the
// moment between the handler's return and asynq moving the task to
// completed or archived.
//
// Workflows: asynq has no chains (hibiken/asynq#244). The worker that
// finishes a step records its output and counts the stage down in one Lua
// script; the worker that finishes a stage's last step enqueues the next
// stage. Step tasks have ids derived from their workflow, stage and index,
// so enqueuing a stage twice (after a crash between the two) is a no-op,
// and the script counts a step once however often it runs. The guarantee:
// no step is lost or enqueued twice; a step whose worker dies after running
// it but before asynq records it runs again (at least once), as any asynq
// task does.
package asynq
