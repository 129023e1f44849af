"""The Celery side of BenchmarkAsynqEndToEnd: the same trivial task as the
core plugin's add, on the same Redis, as a Celery user would write it."""
import os

from celery import Celery

url = os.environ.get("CELERY_BENCH_REDIS", "redis://127.0.0.1:6379/5")
app = Celery("tasks", broker=url, backend=url)
app.conf.update(result_expires=3600, broker_connection_retry_on_startup=True)


@app.task(name="add")
def add(a, b):
    return {"sum": a + b}
