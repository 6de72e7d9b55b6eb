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
        "wirefeed.prune_fetch_history": {"queue": FETCH_QUEUE},
        "wirefeed.prune_story_index": {"queue": PROCESS_QUEUE},
        "wirefeed.fetch_feed": {"queue": FETCH_QUEUE},
        "wirefeed.process_feed": {"queue": PROCESS_QUEUE},
    },
    # At-least-once delivery; every write is keyed, so a redelivered task changes nothing:
    # articles are unique on canonical url and content_hash, sightings on (feed_id, guid), feed state
    # updates set values (never add to them) except the error counters, which a success resets.
    task_acks_late=True,  # ack after the task ran: a worker dying mid-task leaves the message unacked
    task_reject_on_worker_lost=True,  # a killed pool child's message goes back to the queue (< 1 s)
    task_acks_on_failure_or_timeout=True,  # a task that failed was handled (recorded / retried by us)
    worker_prefetch_multiplier=1,  # a long task never sits behind another on a busy child
    # Visibility timeout: how long Redis keeps a delivered, unacked message before handing it out again.
    # It must exceed the longest time a message is legitimately unacked, else a slow task runs twice:
    # a retry's countdown (≤ 120 s, retry.Policy.cap; a host-busy wait ≤ 60 s) + the hard time limit
    # (360 s) + a wait for a free child ≈ 8 min → 900 s (15 min). It only matters when a whole worker
    # dies (a killed child is requeued at once); then kombu restores the message on its next sweep after
    # the timeout. The PostgreSQL claim (WIREFEED_CLAIM_TIMEOUT_SECONDS, 600 s) usually brings the feed
    # back first; a late duplicate of it changes nothing.
    broker_transport_options={"visibility_timeout": settings.visibility_timeout},
    result_backend_transport_options={"visibility_timeout": settings.visibility_timeout},
    # The soft limit raises SoftTimeLimitExceeded in the task (0 = none); the hard one kills the child.
    task_soft_time_limit=min(settings.task_soft_time_limit, settings.task_time_limit) or None,
    task_time_limit=settings.task_time_limit,
    task_ignore_result=False,
    result_expires=3600,
    # feedparser and lxml keep caches that grow with the variety of input: recycle children now and then.
    worker_max_tasks_per_child=2000,
    worker_max_memory_per_child=600_000,  # KiB: recycle a child that grew past ~600 MB
    # Broker faults: reconnect forever (Redis restarting is routine); tasks already running finish and
    # keep their results (a message lost with Redis is re-sent by the scheduler's claim expiry).
    broker_connection_retry=True,
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    worker_cancel_long_running_tasks_on_connection_loss=False,
    worker_send_task_events=True,
    task_send_sent_event=True,
    beat_schedule={
        "schedule-due-feeds": {
            "task": "wirefeed.schedule_due_feeds",
            "schedule": settings.schedule_every,
            "options": {"expires": max(settings.schedule_every * 2, 10)},
        },
        "prune-fetch-history": {  # feed_fetches rows older than WIREFEED_FETCH_HISTORY_DAYS
            "task": "wirefeed.prune_fetch_history",
            "schedule": 86400.0,
            "options": {"expires": 3600},
        },
        "prune-story-index": {  # article_bands rows of deleted articles
            "task": "wirefeed.prune_story_index",
            "schedule": 86400.0,
            "options": {"expires": 3600},
        },
    },
)
