"""Submits N tasks with Celery's own client, reads every result back,
then times L single tasks one after another; prints one JSON line.

    /usr/bin/python3 client.py add|echo N L
"""
import json
import sys
import time

from tasks import add, echo

task, n, lat_n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def submit(i):
    if task == "add":
        return add.delay(i, 1), {"sum": i + 1}
    return echo.delay({"a": i, "b": 1}), {"a": i, "b": 1}


submit(0)[0].get(timeout=60)  # the worker is up
start = time.perf_counter()
results = [submit(i) for i in range(n)]
for i, (r, want) in enumerate(results):
    if r.get(timeout=120) != want:
        sys.exit("wrong result for task %d" % i)
rate = n / (time.perf_counter() - start)
lat = []
for _ in range(lat_n):
    t0 = time.perf_counter()
    submit(1)[0].get(timeout=60)
    lat.append(time.perf_counter() - t0)
lat.sort()
print(json.dumps({"tasks_per_s": rate, "p50_ms": lat[len(lat) // 2] * 1000 if lat else 0}))
