// Package celery speaks Celery's wire protocol on Redis, so that the host
// and Python Celery interoperate: a Python application's send_task(...)
// runs in the host's sandbox and its AsyncResult.get() returns the
// output, and the host's Submit hands work to Python Celery workers.
//
// Select it with TASK_BACKEND_TYPE=celery. Config.URL, else
// CELERY_BROKER_URL, else redis://127.0.0.1:6379/0 is the broker; option
// result_backend, else CELERY_RESULT_BACKEND, else the broker is the Redis
// result backend. Options (host worker --backend-opt name=value, or the
// variable in brackets): visibility_timeout (CELERY_VISIBILITY_TIMEOUT,
// default 1h, kombu's), track_started (CELERY_TASK_TRACK_STARTED, default
// false, Celery's task_track_started), result_expires
// (CELERY_RESULT_EXPIRES, default 24h). Durations are Go durations or
// seconds, as Celery writes them.
//
// # Messages
//
// Celery message protocol v2 with JSON bodies, as kombu's Redis transport
// carries it: a queue is a list (LPUSH to send, BRPOP to take) with three
// more lists for priorities 3, 6 and 9 ("queue\x06\x163"), taken in
// kombu's order, priority 0 first. Task names are the host's task names
// as they are ("add", "tasks.upper"); tasks registered without a queue are
// on Celery's default queue, celery. Pickle, YAML and msgpack bodies, and
// protocol 1, are refused with a FAILURE result that says so.
//
// Arguments: a call's args and kwargs become the task's JSON input by one
// rule (InputOf): no args gives the kwargs object; one arg gives that
// value, several the array of them; kwargs beside args are added to that
// value as a workflow step's params are. Submit sends an object input as
// kwargs and any other input as the one arg (ArgsOf), so a Python task
// def add(x, y) is called by Submit("add", {"x": 1, "y": 2}).
//
// # Worker
//
// A worker runs at most its Concurrency tasks at once, over all its
// queues together. It takes its queues in turn; with Priorities, in an
// order drawn by weight for each take; with StrictPriority, highest weight
// first, every queue's priority 0 list before any queue's 3, 6 and 9, as
// kombu orders them. When its drain starts it takes nothing more from any
// queue (a message that a blocking BRPOP begun before returns after goes
// back where it was), and running tasks have the grace period.
//
// The worker acknowledges a message after its task ran and its result is
// stored (Celery's acks_late): taking a message moves it to kombu's unacked
// hash and unacked_index in the same Lua script (when messages wait; a
// message taken by the blocking BRPOP of an idle worker is recorded one
// round trip later, as kombu does), and storing the result, sending what
// follows (the next task of a chain, callbacks, a retry) and the
// acknowledgement are one transaction. A worker killed mid-task leaves its
// messages in unacked; any worker, ours or a Python one, puts them back
// once older than the visibility timeout, under unacked_mutex as kombu
// does. A running worker refreshes its own messages' times in
// unacked_index, so that a long task or one held for its ETA is not put
// back while alive (kombu does not, and duplicates such tasks); each
// worker's visibility timeout must exceed the longest task a Python worker
// on the same Redis runs with acks_late.
//
// Results are written as Celery's Redis result backend writes them: SET
// with expiry and PUBLISH of celery-task-meta-ID ({"status", "result",
// "traceback", "children", "date_done", "task_id"} and the result_extended
// fields name, retries, queue), failures as {"exc_type", "exc_message",
// "exc_module"} (a timeout as billiard's TimeLimitExceeded, an unknown task
// as NotRegistered) plus the host's error kind; STARTED when track_started
// is on; none when the client set ignore_result. A failed attempt that may
// be retried, with retries left (the task's retries as the client
// resolved them, carried in the header taskhost_max_retries; the
// registered ones for a Python client's message), is sent again with
// retries + 1 after driver.RetryDelay, as on every engine (1 s, doubling,
// up to 10 minutes), and the RETRY state is stored. eta and countdown are held in memory as Celery does (their
// messages stay unacknowledged, kept fresh); expires ends a late task as
// REVOKED; timelimit is the task's timeout. The rest of a chain, carried
// in the body's chain field, is sent when a task succeeds, with the result
// as the next task's first arg, on the queue its signature names or else
// the queue the finished task came from; link callbacks too. Not
// supported: errbacks
// and chords (logged, not run). A message that is not kombu JSON is moved
// to the list taskhost:celery:dead rather than dropped.
//
// Beside Celery's keys this package keeps taskhost:celery:task:ID (task,
// queue, times, attempt, state, last progress, and the message of a task
// that failed or was cancelled, for Retry), so that Result can say
// pending and running, which Celery's backend cannot.
//
// # Cancellation
//
// Cancel is Celery's revoke(id, terminate=True), sent as Celery sends it:
// a kombu message {"method": "revoke", "arguments": {"task_id",
// "terminate", "signal"}, ...} published on the fanout exchange
// celery.pidbox, which kombu's Redis transport makes a PUBLISH on the
// channel "/DB.celery.pidbox". Python workers obey it (a prefork worker
// kills the task's process and stores REVOKED), and so do ours: every
// worker subscribes before it takes its first message, stops a running
// attempt of a revoked id with terminate (its context is cancelled; the
// task ends REVOKED, TaskRevokedError, cancelled, and is not retried), and
// answers ping and revoke when the sender waits for replies. Our workers
// obey a Python client's app.control.revoke(...) the same way.
//
// Celery keeps revoked ids in each worker's memory only, so a worker that
// starts after a revoke runs the task (celery#8888). Here the id is kept
// in taskhost:celery:revoked:ID for result_expires, by Cancel and by every
// worker of ours that hears a Python client's revoke, and a worker checks
// it in the same script that records an attempt's start: a revoked task's
// message is acknowledged unrun, with the REVOKED state. Cancel marks a
// task that waits (pending, or between retries) REVOKED at once. A
// finished task is driver.ErrFinished. An id that neither our record nor
// the result backend knows is driver.ErrNotFound; as Celery says PENDING
// of any id, a Python client's task that no worker has taken yet looks so
// too, so Cancel revokes and broadcasts such an id all the same, and a
// worker of ours that takes it later discards it. A Python worker that
// did not hear the broadcast (started after it) runs the task all the
// same and stores its outcome over REVOKED.
//
// # Batches, inspection and progress
//
// EnqueueMany sends a batch in one MULTI/EXEC transaction (records, index
// entries and messages), all or none, after claiming the batch's unique
// keys.
//
// Celery's result backend has no index, so this package keeps one: the
// sorted sets taskhost:celery:index and taskhost:celery:index:QUEUE (task
// id by submission time, for result_expires) and the set
// taskhost:celery:queues, written with each record, so that List pages
// newest first with a cursor (score:id) and QueueStats counts each queue's
// tasks by state, as Result reads them. A Python client's task is listed
// and counted once a worker of ours has taken it. Retry sends a failed or
// cancelled task again under its id from the copy of its message that our
// worker kept when it ended (or un-revokes one cancelled before it ran,
// whose message still waits); a task a Python worker ran cannot be
// retried here. Purge deletes the messages waiting in a queue's lists and
// marks their tasks REVOKED, and revokes the queue's tasks that a worker
// holds for their eta or retry. Workers counts the host's workers serving
// a queue by their heartbeats (taskhost:celery:workers, every 5 s), not
// Python workers.
//
// A task's progress (Task.Progress) is stored as Celery's
// update_state(state="PROGRESS", meta=progress) stores it, so that a
// Python client reads it as AsyncResult.state and .info; a Python task's
// custom state reads back as running, its meta as the progress (its
// percent and message, else all of it as the details).
//
// # Unique keys
//
// A key is claimed in the hash taskhost:celery:claim:KEY
// (backends/internal/redisunique) before its task is sent: it holds while
// the holder's record says pending, running or retrying, a duplicate gets
// the holder's id and touches nothing of it, and our worker frees it in
// the transaction that stores the task's end. A Python worker leaves our
// record pending, so a holder that looks live is read whole (its Celery
// result) before it is believed; a holder done or gone is replaced.
//
// # Waiting
//
// The client's Wait listens (driver.Hub) with one pattern subscription per
// client, on the result backend, to celery-task-meta-*, the channels on
// which Celery's result backend publishes each state it stores and on
// which Celery's own AsyncResult.get() listens, so that a task our worker
// or a Python one finishes wakes its waiters; a poll every 500 ms is the
// fallback. The subscription hears every task's state stored on that
// Redis, of every application: a client waiting among a busy Celery
// deployment's results receives them all, and reads only its own.
//
// # Workflows
//
// Workflows run on the client's runner, over the Redis bookkeeping shared
// with asynq (backends/internal/redisflow: the hash taskhost:celery:wf:ID
// and the set taskhost:celery:wf:ID:done; a workflow's end is published on
// the hash's name). A step is an ordinary Celery message with the header
// taskhost_workflow and an id derived from its workflow, stage and index;
// the runner records a step and sends the next stage before the worker
// acknowledges the step's message, and a stage is sent by one Lua script
// that also marks it sent, so sending it twice sends nothing. A step whose
// task succeeded but whose workflow could not be advanced
// (driver.ErrFlowAdvance) is sent again as a retry that does not count
// (its retries stay as they were) after driver.RetryDelay, and its
// delivery acknowledged; the runner counts a step once. The guarantee: no
// step is lost or sent twice; a step whose worker dies after running it
// but before acknowledging runs again (at least once).
package celery
