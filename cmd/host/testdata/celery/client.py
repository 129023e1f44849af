"""Celery's own client, as the benchmarks drive it.

    /usr/bin/python3 client.py add|echo N L
        submits N tasks, reads every result back, then times L single tasks
        one after another; prints {"tasks_per_s", "p50_ms"}.
    /usr/bin/python3 client.py stage add|echo N QUEUE
        submits N tasks to QUEUE (which no worker serves) and prints their
        ids, one per line: the benchmark then moves them all at once to the
        queue a worker serves, so that the client's own speed is not timed.
    /usr/bin/python3 client.py verify add|echo < ids
        reads the staged tasks' results back and checks each.
"""
import json
import sys
import time

from celery.result import AsyncResult

from tasks import add, app, echo


def submit(task, i, **options):
    if task == "add":
        return add.apply_async(kwargs={"a": i, "b": 1}, **options), {"sum": i + 1}
    return echo.apply_async(({"a": i, "b": 1},), **options), {"a": i, "b": 1}


def want(task, i):
    return {"sum": i + 1} if task == "add" else {"a": i, "b": 1}


def batch(task, n, lat_n):
    submit(task, 0)[0].get(timeout=60)  # the worker is up
    start = time.perf_counter()
    results = [submit(task, i) for i in range(n)]
    for i, (r, w) in enumerate(results):
        if r.get(timeout=120) != w:
            sys.exit("wrong result for task %d" % i)
    rate = n / (time.perf_counter() - start)
    lat = []
    for _ in range(lat_n):
        t0 = time.perf_counter()
        submit(task, 1)[0].get(timeout=60)
        lat.append(time.perf_counter() - t0)
    lat.sort()
    print(json.dumps({"tasks_per_s": rate, "p50_ms": lat[len(lat) // 2] * 1000 if lat else 0}))


def stage(task, n, queue):
    for i in range(n):
        print(submit(task, i, queue=queue)[0].id)


def verify(task):
    for i, line in enumerate(sys.stdin.read().split()):
        got = AsyncResult(line, app=app).get(timeout=120)
        if got != want(task, i):
            sys.exit("task %d (%s): %r, want %r" % (i, line, got, want(task, i)))


if sys.argv[1] == "stage":
    stage(sys.argv[2], int(sys.argv[3]), sys.argv[4])
elif sys.argv[1] == "verify":
    verify(sys.argv[2])
else:
    batch(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
