"""The Celery app: queues, routes, delivery guarantees and the beat schedule. No task logic here."""

from __future__ import annotations

from celery import Celery
from kombu import Queue

from worker.settings import get_settings

FETCH_QUEUE = "fetch"  # I/O bound: run with a threads/gevent pool, many in flight
PROCESS_QUEUE = "process"  # CPU bound: run with the prefork pool, one process per core

settings = get_settings()

app = Celery("wirefeed", include=["worker.tasks"])
app.conf.update(
    broker_url=settings.redis_url,
    result_backend=settings.redis_url,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    timezone="UTC",
    enable_utc=True,
    task_queues=[Queue(FETCH_QUEUE), Queue(PROCESS_QUEUE)],
    task_default_queue=FETCH_QUEUE,
    task_routes={
        "wirefeed.schedule_due_feeds": {"queue": FETCH_QUEUE},
        "wirefeed.fetch_feed": {"queue": FETCH_QUEUE},
        "wirefeed.process_feed": {"queue": PROCESS_QUEUE},
    },
    # At-least-once delivery; every write is keyed, so a redelivered task changes nothing.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    # Longer than the longest task, shorter than an operator's patience when a worker dies.
    broker_transport_options={"visibility_timeout": 900},
    result_backend_transport_options={"visibility_timeout": 900},
    task_soft_time_limit=300,
    task_time_limit=360,
    task_ignore_result=False,
    result_expires=3600,
    worker_max_tasks_per_child=2000,
    worker_max_memory_per_child=600_000,  # KiB: recycle a child that grew past ~600 MB
    worker_send_task_events=True,
    task_send_sent_event=True,
    broker_connection_retry_on_startup=True,
    beat_schedule={
        "schedule-due-feeds": {
            "task": "wirefeed.schedule_due_feeds",
            "schedule": settings.schedule_every,
            "options": {"expires": max(settings.schedule_every * 2, 10)},
        },
    },
)
