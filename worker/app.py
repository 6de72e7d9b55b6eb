"""The Celery app, built from a settings object: queues, routes, delivery guarantees and the beat schedule.
No task logic here.

``worker.app:app`` (what ``celery -A worker.app`` loads) is built without reading the environment: Celery asks
for its configuration on first use, and only then are the settings read (``app.add_defaults`` with a
callable). So importing this module never fails on a bad setting; starting a worker does, with one line
naming the variable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from celery import Celery
from kombu import Queue

from worker import queues
from worker.errors import ConfigError
from worker.settings import Settings, get_settings


def celery_config(settings: Settings) -> dict[str, Any]:
    """Celery's configuration for ``settings``."""
    return {
        "broker_url": settings.redis_url,
        "result_backend": settings.redis_url,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "task_queues": [Queue(name) for name in queues.ALL],
        "task_default_queue": queues.FETCH,
        "task_routes": {
            "wirefeed.schedule_due_feeds": {"queue": queues.FETCH},
            "wirefeed.prune_fetch_history": {"queue": queues.FETCH},
            "wirefeed.prune_story_index": {"queue": queues.PROCESS},
            "wirefeed.fetch_feed": {"queue": queues.FETCH},
            "wirefeed.process_feed": {"queue": queues.PROCESS},
            "wirefeed.schedule_pages": {"queue": queues.FETCH},
            "wirefeed.fetch_page": {"queue": queues.PAGES},
            "wirefeed.process_page": {"queue": queues.PROCESS},
        },
        # At-least-once delivery; every write is keyed, so a redelivered task changes nothing:
        # articles are unique on canonical url and content_hash, sightings on (feed_id, guid), and the feed
        # row is locked while its new state is decided and written (worker.feed_state.decide).
        "task_acks_late": True,  # ack after the task ran: a worker dying mid-task leaves the message unacked
        "task_reject_on_worker_lost": True,  # a killed pool child's message goes back to the queue (< 1 s)
        "task_acks_on_failure_or_timeout": True,  # a task that failed was handled (recorded / retried by us)
        "worker_prefetch_multiplier": 1,  # a long task never sits behind another on a busy child
        # Visibility timeout: how long Redis keeps a delivered, unacked message before handing it out again.
        # It must exceed the longest time a message is legitimately unacked, else a slow task runs twice:
        # a retry's countdown (<= WIREFEED_RETRY_CAP_SECONDS, or a host-busy wait <=
        # WIREFEED_HOST_BUSY_WAIT_MAX_SECONDS) + the hard time limit + a wait for a free child. With the
        # defaults that is about 8 min, so 15 min. It only matters when a whole worker dies (a killed child
        # is requeued at once); kombu then restores the message on its next sweep after the timeout. The
        # PostgreSQL claim (WIREFEED_CLAIM_TIMEOUT_SECONDS) usually brings the feed back first; a late
        # duplicate of it changes nothing.
        "broker_transport_options": {"visibility_timeout": settings.visibility_timeout},
        "result_backend_transport_options": {"visibility_timeout": settings.visibility_timeout},
        # The soft limit raises SoftTimeLimitExceeded in the task (0 = none); the hard one kills the child.
        "task_soft_time_limit": min(settings.task_soft_time_limit, settings.task_time_limit) or None,
        "task_time_limit": settings.task_time_limit,
        "task_ignore_result": False,
        "result_expires": 3600,
        # feedparser and lxml keep caches that grow with the variety of input: recycle children now and then.
        "worker_max_tasks_per_child": settings.worker_max_tasks_per_child,
        "worker_max_memory_per_child": settings.worker_max_memory_per_child,  # KiB
        # Broker faults: reconnect forever (Redis restarting is routine); tasks already running finish and
        # keep their results (a message lost with Redis is re-sent by the scheduler's claim expiry).
        "broker_connection_retry": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "beat_schedule": {
            "schedule-due-feeds": {
                "task": "wirefeed.schedule_due_feeds",
                "schedule": settings.schedule_every,
                "options": {"expires": max(settings.schedule_every * 2, 10)},
            },
            "schedule-pages": {  # page requests whose message was lost (their claim expired) are sent again
                "task": "wirefeed.schedule_pages",
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
    }


def _environment_settings() -> Settings:
    """The environment's settings; a bad value ends the process with one line naming the variable (Celery's
    own start-up would otherwise print a traceback)."""
    try:
        return get_settings()
    except ConfigError as err:
        print(f"error: {err.reason}", file=sys.stderr)
        raise SystemExit(2) from None


class WirefeedCelery(Celery):
    """A Celery app that carries the settings it was built from: tasks read them as ``self.app.settings``."""

    def __init__(self, settings: Callable[[], Settings] = _environment_settings, **kwargs: Any) -> None:
        kwargs.setdefault("main", "wirefeed")
        kwargs.setdefault("include", ["worker.tasks"])
        super().__init__(**kwargs)  # keyword arguments only: Celery re-creates a pickled app from them
        self._settings_source = settings
        self.add_defaults(lambda: celery_config(self.settings))

    @property
    def settings(self) -> Settings:
        return self._settings_source()  # the environment's are read once per process (get_settings)


def make_app(settings: Settings | None = None) -> WirefeedCelery:
    """The app for ``settings``; without them, for the environment's, read when the app is first used."""
    if settings is None:
        return WirefeedCelery(_environment_settings)
    given = settings
    return WirefeedCelery(lambda: given)


app = make_app()
