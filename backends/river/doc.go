// Package river is the River backend (github.com/riverqueue/river): the
// embedded default, on a SQLite file (pure Go, no server) or on PostgreSQL.
//
// Select it with TASK_BACKEND_TYPE=river (the default). Config.URL, else
// DATABASE_URL, picks the database: a postgres:// or postgresql:// URL is
// River on PostgreSQL (riverpgxv5); anything else is a SQLite file path,
// optionally written sqlite://PATH; empty means ./taskhost.db. Migrations
// run on open.
//
// Mapping: a task is a River job of kind "taskhost" whose args carry the
// task name and JSON input; its queue, max retries (MaxAttempts-1),
// timeout (Worker.Timeout) and delay (ScheduledAt) are River's own; a
// unique key is a River unique job by args. The output is River's recorded
// output, written in the worker's own transaction that completes the job
// (so Wait sees it at once instead of after River's batched completion). A
// non-retryable failure cancels the job (river.JobCancel) with the error as
// JSON; a retryable one is returned to River, which retries and finally
// discards it. River has no heartbeat: Task.Heartbeat does nothing, and a
// job of a killed worker is rescued once RescueStuckJobsAfter (just above
// the longest registered timeout) has passed.
//
// Waiting: on PostgreSQL the worker sends NOTIFY taskhost_done in the
// completing transaction and Wait listens for it; SQLite has no
// notification, so Wait polls the job row with a backoff from 2 ms to
// 100 ms.
package river
