// Package hatchet is the Hatchet backend (github.com/hatchet-dev/hatchet,
// its Go SDK sdks/go, v0.104.7), tested against a hatchet-lite engine.
//
// Select it with TASK_BACKEND_TYPE=hatchet. The SDK's own environment
// configures the client: HATCHET_CLIENT_TOKEN (required),
// HATCHET_CLIENT_HOST_PORT, HATCHET_CLIENT_TLS_STRATEGY; Config.URL (host
// worker --backend-url), when set, is the engine's host:port.
// scripts/hatchet-up.sh starts a local engine and prints that environment.
//
// # Tasks
//
// A task on a queue is a Hatchet workflow of its own, "TASK.QUEUE",
// holding one task with the task's retries (WithRetries, backing off 2^n
// seconds up to a minute), timeout (WithExecutionTimeout) and a 24 h
// schedule timeout, so that a run waits for a worker as long as on other
// engines. Hatchet has no queues, but sends a run only to workers that
// registered its workflow: a worker registers each registered task on each
// of its queues, so queues route as elsewhere. Queue priorities are refused
// (Hatchet orders by run priority). A client puts a task's workflow to the
// engine itself before its first submission, so that a run can wait for a
// worker that has not started yet.
//
// The run's input is an envelope {"input", "key", "task", "queue",
// "enqueued_at"}, its output {"output", "attempt", "started_at",
// "finished_at"} (Hatchet keeps outputs as objects); a failed attempt's
// error message is the task error's JSON with the attempt. A plugin's
// non-retryable error, or an attempt beyond the submission's MaxRetries,
// returns the SDK's non-retryable error. Task ids are Hatchet's run ids.
//
// Submission options: Timeout applies in the worker (a longer one than
// registered also pushes the engine's timeout back with RefreshTimeout);
// MaxRetries may lower the registered retries, not raise them (an
// *UnsupportedError: Hatchet fixes retries with the workflow); a unique
// key is the run's idempotency key (Hatchet's idempotency, STATUS method:
// held while the run is queued or running); a delay is a Hatchet scheduled
// run, whose id is "sched-TOKEN", the token being in the schedule's
// metadata, which its run inherits (and a delayed task's unique key is
// looked up among schedules and active runs before scheduling: Hatchet
// drops a scheduled run whose key an active run holds). A plugin's
// heartbeat (progress) pushes the engine's timeout back to a full timeout
// from now (RefreshTimeout), at most every quarter of the timeout.
//
// Result reads the run over gRPC (current at once); a finished task's
// attempt and times come from the worker's record in its output or error;
// a running task's from the REST API, which lags the engine by a moment.
// Wait polls (every 5 ms for a quarter second, then slowing to 100 ms):
// the SDK reports a run's end only on the handle its run call returned.
// The engine records a run a moment after accepting it (seconds on a busy
// engine), and the REST API lists a delayed task's run a few seconds after
// its schedule is gone: an id the engine does not know yet reads as pending
// in the Result of the process that submitted it, and Wait and WaitWorkflow
// keep waiting for such an id for a minute before it counts as unknown.
//
// # Workflows
//
// A workflow is a Hatchet DAG, "taskhost.wf.NAME", with a task per step
// (sSTAGE_INDEX) whose parents are the previous stage's steps; a step
// reads its parents' outputs (ParentOutput) and composes its input by the
// workflow rule. Hatchet registers a DAG's steps with the workers that run
// them when they start, and takes no new workflows on a started worker
// (hatchet-dev/hatchet#1353), so workflows are declared before Work
// (backends.DeclareWorkflows; host worker declares the manifest's). A
// client puts the DAG to the engine before its first run, as it does a
// task's workflow (the engine drops, without a word, a run of a workflow it
// does not know; found when a worker's registration lost that race under
// load); the run then waits for a worker that declared it. The run's input
// carries the definition, which WorkflowResult reads back.
//
// # Tasks added while a worker runs
//
// For the same reason, a task registered after Work started (a .wasm
// dropped into a watched plugins folder, or a workflow declared late) is
// served by a new Hatchet worker registration: the worker registers again
// with every task and workflow, waits until the engine lists the new
// registration, then stops the old one, whose running tasks finish. The
// engine sees a new worker; no task is lost or run twice by the swap.
//
// A worker stops by closing its registration (no new tasks), letting
// running tasks finish within the grace period, and waiting until the
// engine has recorded their outcomes. A worker killed outright leaves its
// tasks to Hatchet: they time out (their execution timeout) or are
// reassigned once the worker misses heartbeats for 30 s, and are retried.
package hatchet
