"""The Celery side of BenchmarkAsynqEndToEnd: the same trivial tasks as the
core plugin's add and echo, on the same Redis, as a Celery user would write
them."""
import os

from celery import Celery

url = os.environ.get("CELERY_BENCH_REDIS", "redis://127.0.0.1:6379/5")
app = Celery("tasks", broker=url, backend=url)
app.conf.update(result_expires=3600, broker_connection_retry_on_startup=True)


@app.task(name="add")
def add(a, b):
    return {"sum": a + b}


@app.task(name="echo")
def echo(doc):
    return doc
