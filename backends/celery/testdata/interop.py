"""The Python side of the interop tests (interop_test.go), on Debian's
Celery 5.2: Celery's own client calling tasks our worker serves, and tasks a
Python worker serves for our Submit.

    /usr/bin/python3 interop.py client QUEUE   # prints one JSON object
    /usr/bin/python3 interop.py revoke ID [--terminate] [--wait] [--reply]
    /usr/bin/python3 interop.py info ID          # {"state": ..., "info": ...}
    /usr/bin/python3 -m celery -A interop worker -Q QUEUE ...
"""
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

import celery.states
from celery import Celery, chain

url = os.environ.get("CELERY_TEST_REDIS", "redis://127.0.0.1:6379/4")
app = Celery("interop", broker=url, backend=url)
app.conf.update(broker_connection_retry_on_startup=True, task_track_started=True,
                broker_transport_options={"visibility_timeout": 3600})


@app.task(name="py_add")
def py_add(x, y):
    return x + y


@app.task(name="py_fail")
def py_fail(**kwargs):
    raise ValueError("bad thing")


@app.task(name="py_slow", acks_late=True)
def py_slow(ms):
    time.sleep(ms / 1000)
    return {"ran_by": "python"}


def outcome(result, timeout=30):
    try:
        return {"ok": result.get(timeout=timeout)}
    except Exception as e:  # the task's exception, rebuilt by Celery
        return {"exc": type(e).__name__, "msg": str(e)}


def client(queue):
    out = {}
    send = lambda name, **kw: app.send_task(name, queue=queue, **kw)
    out["kwargs"] = outcome(send("g_upper", kwargs={"text": "hi"}))
    out["args"] = outcome(send("g_upper", args=[{"text": "yo"}]))
    out["fail"] = outcome(send("g_fail", kwargs={}))
    out["retry"] = outcome(send("g_flaky", kwargs={}))
    c = chain(app.signature("g_upper", kwargs={"text": "x"}, queue=queue),
              app.signature("g_wrap", queue=queue),
              app.signature("g_wrap", queue=queue)).apply_async()
    out["chain"] = outcome(c)
    out["chain_first"] = outcome(c.parent.parent)
    t0 = time.monotonic()
    out["countdown"] = outcome(send("g_upper", kwargs={"text": "later"}, countdown=1))
    out["countdown_s"] = time.monotonic() - t0
    out["expired"] = outcome(send("g_upper", kwargs={"text": "late"},
                                  expires=datetime.now(timezone.utc) - timedelta(seconds=5)))
    r = send("g_sleep", kwargs={"ms": 1500})
    states = set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = r.state  # one read: ready() then state would be two
        if state in celery.states.READY_STATES:
            break
        states.add(state)
        time.sleep(0.02)
    out["sleep_states"] = sorted(states)
    out["sleep"] = outcome(r)
    print(json.dumps(out))


def revoke(task_id, terminate, wait, reply):
    """app.control.revoke as a Python application sends it; with reply, the
    workers' replies (collected for a second); with wait, the task's
    outcome once it is REVOKED (AsyncResult.get raises TaskRevokedError)."""
    replies = app.control.revoke(task_id, terminate=terminate, reply=reply, timeout=1)
    out = {"replies": replies or []}
    if wait:
        r = app.AsyncResult(task_id)
        out.update(outcome(r))
        out["state"] = r.state
    print(json.dumps(out))


def info(task_id):
    r = app.AsyncResult(task_id)
    print(json.dumps({"state": r.state, "info": r.info}))


if __name__ == "__main__" and sys.argv[1] == "client":
    client(sys.argv[2])
elif __name__ == "__main__" and sys.argv[1] == "revoke":
    revoke(sys.argv[2], "--terminate" in sys.argv, "--wait" in sys.argv, "--reply" in sys.argv)
elif __name__ == "__main__" and sys.argv[1] == "info":
    info(sys.argv[2])
