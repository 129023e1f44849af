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
// be retried, with retries left (the task's registered max retries, or
// Submit's MaxRetries, carried in the header taskhost_max_retries), is
// sent again with retries + 1 after 1 s, 2 s, 4 s ... and the RETRY state
// is stored. eta and countdown are held in memory as Celery does (their
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
// queue, times, attempt, state), so that Result can say pending and
// running, which Celery's backend cannot, and taskhost:celery:unique:KEY.
//
// # Waiting
//
// Wait subscribes to celery-task-meta-ID, the channel Celery's own
// AsyncResult.get() listens on, with a poll every 500 ms as the fallback.
//
// # Workflows
//
// The worker that finishes a step records its output and counts its stage
// down in one Lua script; the one that finishes a stage's last step sends
// the next stage in one Lua script that also marks the stage sent, and
// acknowledges its own message only after that. Step tasks have ids
// derived from their workflow, stage and index. The guarantee: no step is
// lost or sent twice; a step whose worker dies after running it but before
// acknowledging runs again (at least once).
package celery
