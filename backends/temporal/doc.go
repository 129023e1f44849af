// Package temporal is the Temporal backend (go.temporal.io/sdk).
//
// Select it with TASK_BACKEND_TYPE=temporal. Config.URL, else
// TEMPORAL_ADDRESS, else 127.0.0.1:7233 is the frontend's host:port;
// Config.Namespace, else TEMPORAL_NAMESPACE, else "default" the namespace.
// One client per Backend, reused by every call.
//
// Mapping: each queue is a Temporal task queue. A task is an activity whose
// type is the task's name. Submitting a task starts the small workflow
// "taskhost.task" (its id is the task id) on the task's queue, which runs
// that one activity with the task's timeout as the start-to-close timeout,
// its max retries as the retry policy's attempts (backing off from 1 s,
// doubling, up to 10 min) and a heartbeat timeout of at most 10 s. The
// worker heartbeats for a running task on its own, a third of that often,
// and whenever the plugin reports progress, so a dead worker's task is
// retried elsewhere within the heartbeat timeout, not the task's timeout.
// A non-retryable plugin error becomes a non-retryable application error
// whose type is the error's kind. A delay is the workflow's start delay; a
// unique key makes the workflow id "task-u-KEY" with the conflict policy
// "use existing", so a second submission returns the first task while it
// runs.
//
// Workers register one dynamic activity, which serves every activity type:
// a .wasm dropped into the plugins folder later runs without a change here.
//
// Result reads Temporal's own records: DescribeWorkflowExecution for a
// running task (the pending activity's state and attempt), and the
// workflow's history for a finished one (the last attempt's number and
// times, the output or the failure). Wait long-polls the workflow's close
// event (GetWorkflow().Get), with no polling of our own.
//
// Workflows run as one generic, deterministic Temporal workflow,
// "taskhost.workflow", that interprets the definition it is started with:
// stages one after another, the steps of a stage as activities at once. It
// answers the query "steps" with every step's state while it runs, returns
// the output and the steps when it succeeds, and fails with a
// non-retryable application error whose details hold the steps. A step's
// task id is WORKFLOW_ID/STAGE.INDEX, its activity id.
//
// Queue priorities are not supported (ErrUnsupported).
package temporal
