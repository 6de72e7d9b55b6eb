"""Thin Celery tasks: they take ids, borrow a pooled connection and call the pipeline.

Messages carry ids and bodies, never ORM objects. The scheduler sends fetch messages only after its
claim has committed; a message lost on the way costs a delay (the claim expires), never an article.
"""

from __future__ import annotations

import base64
import functools
import zlib
from typing import Any

import psycopg
from celery import Task

from worker import fetch_state, pipeline
from worker.app import PROCESS_QUEUE, app
from worker.db import pooled
from worker.politeness import HostBusy, HostPoliteness
from worker.settings import get_settings
from worker.store import feeds as feed_store

# Database hiccups (restart, failover, lock timeout) are retried with backoff; bad input never is.
_RETRY_ON = (psycopg.OperationalError, psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
_RETRY_KW: dict[str, Any] = {
    "autoretry_for": _RETRY_ON,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 8,
}


def pack_body(body: bytes) -> str:
    return base64.b64encode(zlib.compress(body, 3)).decode("ascii")


def unpack_body(data: str, limit: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(base64.b64decode(data), limit + 1)
    return out


HOST_BUSY_RETRY_MAX = 60.0  # seconds; a longer wait goes back to the schedule in PostgreSQL
HOST_BUSY_RETRIES = 8  # then back to the schedule too, so the feed's claim never outlives its task


@functools.lru_cache(maxsize=4)
def _politeness(redis_url: str) -> HostPoliteness:
    """One per process (created after fork, on first use): per-host limits shared by every worker."""
    return HostPoliteness.from_settings(get_settings())


@app.task(name="wirefeed.schedule_due_feeds", ignore_result=True, **_RETRY_KW)
def schedule_due_feeds() -> int:
    """Beat's tick: claim due feeds in PostgreSQL (SKIP LOCKED) and enqueue one fetch each."""
    settings = get_settings()
    with pooled(settings.database_url) as conn:
        ids = feed_store.claim_due(conn, limit=settings.schedule_batch, claim_seconds=settings.claim_timeout)
    for feed_id in ids:
        fetch_feed.delay(feed_id)
    return len(ids)


@app.task(bind=True, name="wirefeed.fetch_feed", **_RETRY_KW)
def fetch_feed(self: Task, feed_id: int) -> dict[str, Any]:
    """Fetch one feed; a changed body goes on to the process queue."""
    settings = get_settings()
    try:
        with pooled(settings.database_url) as conn:
            step = pipeline.fetch_step(conn, settings, feed_id, politeness=_politeness(settings.redis_url))
    except HostBusy as busy:
        # The host is at its in-flight limit, inside its minimum gap, or asked for a Retry-After pause:
        # come back later instead of sleeping in a worker; long waits go back to the schedule.
        wait = busy.retry_after or HOST_BUSY_RETRY_MAX
        if wait <= HOST_BUSY_RETRY_MAX and self.request.retries < HOST_BUSY_RETRIES:
            raise self.retry(countdown=wait, max_retries=None) from None
        with pooled(settings.database_url) as conn:
            fetch_state.postpone(conn, feed_id, wait)
        return {"input": str(feed_id), "feed_id": feed_id, "status": "postponed", "error": busy.reason}
    if step.body is not None:
        process_feed.apply_async(
            args=(feed_id, pack_body(step.body)),
            kwargs={"url": step.url, "content_type": step.content_type, "etag": step.etag,
                    "last_modified": step.last_modified, "fetch_id": step.fetch_id,
                    "cache_max_age": step.cache_max_age},
            queue=PROCESS_QUEUE,
        )
    return step.report.as_json()


@app.task(bind=True, name="wirefeed.process_feed", **_RETRY_KW)
def process_feed(self: Task, feed_id: int, body: str, *, url: str, content_type: str | None = None,
                 etag: str | None = None, last_modified: str | None = None, fetch_id: int | None = None,
                 cache_max_age: int | None = None) -> dict[str, Any]:
    """Parse, normalise, dedupe and store one fetched body."""
    settings = get_settings()
    raw = unpack_body(body, settings.max_feed_bytes)
    with pooled(settings.database_url) as conn:
        report = pipeline.process_body(conn, settings, feed_id, raw, url=url, content_type=content_type,
                                       etag=etag, last_modified=last_modified, fetch_id=fetch_id,
                                       cache_max_age=cache_max_age)
    return report.as_json()
