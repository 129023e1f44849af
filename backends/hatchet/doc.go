// Package hatchet is the Hatchet driver for package backends
// (github.com/hatchet-dev/hatchet, its Go SDK sdks/go, v0.104.7), tested
// against a hatchet-lite engine.
//
// Select it with TASK_BACKEND_TYPE=hatchet. The SDK's own environment
// configures the client: HATCHET_CLIENT_TOKEN (required),
// HATCHET_CLIENT_HOST_PORT, HATCHET_CLIENT_TLS_STRATEGY; Config.URL (host
// worker --backend-url), when set, is the engine's host:port; the driver
// takes no options. scripts/hatchet-up.sh starts a local engine and prints
// that environment.
//
// # Tasks
//
// A task on a queue is a Hatchet workflow of its own, "TASK.QUEUE",
// holding one task with the task's registered retries (WithRetries),
// timeout (WithExecutionTimeout) and a 24 h schedule timeout, so that a
// run waits for a worker as long as on other engines. Hatchet has no
// queues, but sends a run only to workers that registered its workflow: a
// worker registers each registered task on each of its queues, so queues
// route as elsewhere. A client puts a task's workflow to the
// engine itself before its first submission, so that a run can wait for a
// worker that has not started yet. The retries back off as every driver's
// do as far as Hatchet's formula allows: Hatchet waits factor^n seconds
// before retry n, counting from 1, with no initial interval, so with
// driver.RetryBackoffFactor and driver.RetryMaxDelay each wait is one
// doubling later than driver.RetryDelay's (2 s, 4 s, ... up to 10 min).
//
// The run's input is an envelope {"input", "key", "task", "queue",
// "enqueued_at"} (its idempotency key is the key, with a cron tick's time), its output {"output", "attempt", "started_at",
// "finished_at"} (Hatchet keeps outputs as objects); a failed attempt's
// error message is the task error's JSON with the attempt. A plugin's
// non-retryable error, or an attempt beyond the job's retries,
// returns the SDK's non-retryable error. Task ids are Hatchet's run ids.
//
// A job's own timeout, where it differs from the registered one, applies
// in the worker (a longer one also pushes the engine's timeout back with
// RefreshTimeout); its retries may be below the registered ones, not above
// (an *UnsupportedError: Hatchet fixes retries with the workflow); a
// unique key is the run's idempotency key (Hatchet's idempotency, STATUS
// method: held while the run is queued or running, free once it is done; a
// duplicate gets the holder's id and changes nothing); a delay is a
// Hatchet scheduled run, whose id is "sched-TOKEN", the token being in the
// schedule's metadata, which its run inherits (and a delayed task's unique
// key is looked up among schedules and active runs before scheduling:
// Hatchet drops a scheduled run whose key an active run holds). A plugin's
// heartbeat (progress) pushes the engine's timeout back to a full timeout
// from now (RefreshTimeout), at most every quarter of the timeout.
//
// Result reads the run over gRPC (current at once); a finished task's
// attempt and times come from the worker's record in its output or error;
// a running task's from the REST API, which lags the engine by a moment.
// The client's Wait polls Result: the SDK reports a run's end only on the
// handle its run call returned. The engine records a run a moment after
// accepting it (seconds on a busy engine), and the REST API lists a
// delayed task's run a few seconds after its schedule is gone. So an id
// this process handed out (or a delayed task it last found) that the
// engine does not know reads as pending for up to a minute; any other id
// the engine does not know is ErrNotFound, which the client's Wait returns
// after the driver's RecordLag (driver.Lagger), one second.
//
// # Workflows
//
// A workflow is a Hatchet DAG, "taskhost.wf.NAME", with a task per step
// (sSTAGE_INDEX) whose parents are the previous stage's steps; a step
// reads its parents' outputs (ParentOutput) and composes its input by the
// workflow rule. Hatchet registers a DAG's steps with the workers that run
// them when they start, and takes no new workflows on a started worker
// (hatchet-dev/hatchet#1353), so workflows are declared
// (driver.WorkflowDeclarer, the client's DeclareWorkflows) before Work,
// or while it runs, which registers the worker again (see Workers). A
// client puts the DAG to the engine before its first run, as it does a
// task's workflow (the engine drops, without a word, a run of a workflow it
// does not know; found when a worker's registration lost that race under
// load); the run then waits for a worker that declared it. The run's input
// carries the definition, which WorkflowResult reads back.
//
// # Workers
//
// A worker is one Hatchet worker registration holding every registered
// task on each of its queues and every declared workflow's DAG, with
// Concurrency slots: the total over its queues, and it stops taking tasks
// on every queue at once when it stops. Queue priorities are refused
// (Hatchet orders runs by run priority, not by queue).
//
// Hatchet takes no new workflows on a started worker, so a task registered
// after Work started (a .wasm dropped into a watched plugins folder, or a
// workflow declared late) is served by a new registration
// (driver.TaskRegistrar's TasksChanged, called by the client's Register):
// the worker registers again with every task and workflow, waits until the
// engine lists the new registration, then stops the old one, whose running
// tasks finish; no task is lost or run twice by the swap. While both hold
// tasks, a semaphore of Concurrency slots in the worker keeps the total.
// TasksChanged honours its ctx and holds nothing the drain needs while it
// waits: when ctx ends first it returns ctx's error, and the registration
// being made is stopped once the engine has it (the SDK panics when a
// registration is stopped before; the wait is bounded by 30 s), to be made
// again by the next TasksChanged. Registering specs that serve nothing new
// changes nothing.
//
// A worker stops by closing its registration (no new tasks), letting
// running tasks finish within the grace period, and waiting until the
// engine has recorded their outcomes. A worker killed outright leaves its
// tasks to Hatchet: they time out (their execution timeout) or are
// reassigned once the worker misses heartbeats for 30 s, and are retried.
//
// # Powers
//
// Cancel and CancelWorkflow are Hatchet run cancellation (the runs API's
// Cancel): a queued run never starts, a running one's context is cancelled
// in its worker, and the run ends cancelled, not retried; a delayed task's
// schedule is deleted and a tombstone run records the cancellation (see
// cancel.go). SubmitMany sends a batch's plain jobs through the engine's
// bulk trigger, 200 runs a call (batch.go). Schedules are cron triggers,
// an interval being a cron expression with seconds where it divides a
// minute, an hour or a day, unsupported otherwise (schedule.go); each
// tick's idempotency key carries the tick's time. Inspection (inspect.go)
// lists the task workflows' runs (a run the runs API still shows queued or
// running is read again over gRPC), retries with the runs API's Replay
// (the same run id), purges by cancelling the queue's queued runs in one
// call (Hatchet deletes no runs) and deleting its delayed tasks'
// schedules, counts a registered queue's runs with the status metrics, and
// counts the active workers that registered one of the queue's workflows.
// A task's progress is a log line of its run ("taskhost.progress" and the
// JSON), which Result reads back from the run's logs while it runs.
package hatchet
