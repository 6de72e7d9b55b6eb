"""Thin Celery tasks: they take ids, borrow a pooled connection and call the pipeline.

Messages carry ids and bodies, never ORM objects. The scheduler sends fetch messages only after its
claim has committed; a message lost on the way costs a delay (the claim expires), never an article.

Failures at the task boundary (:func:`_guarded`) follow :mod:`worker.retry`: PostgreSQL or Redis outages
and serialization conflicts are retried with backoff; an unexpected exception is retried a few times and
then recorded on the feed as poison (kind ``internal``), so the queue keeps moving. Starts are also
counted in PostgreSQL (``task_attempts``), so a feed that kills or hangs its worker every time (which
Celery's own retry counter never sees) is caught the same way.
"""

from __future__ import annotations

import base64
import functools
import random
import zlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from celery import Task, signals
from celery.exceptions import Retry

from worker import pipeline, queues, retry
from worker.app import app
from worker.errors import FetchError, InputError
from worker.fetch.politeness import HostPoliteness
from worker.ops import signals as _signals  # noqa: F401  (connects logging, metrics and heartbeat handlers)
from worker.ops import telemetry
from worker.ops.logs import get_logger
from worker.settings import Settings
from worker.store import attempts as attempt_store
from worker.store import feeds as feed_store
from worker.store import fetches as fetch_store
from worker.store.db import forget_pools, pooled

log = get_logger("wirefeed.tasks")

# The scheduler's tick has no feed to blame: database hiccups are simply retried with backoff.
_RETRY_ON = (psycopg.OperationalError, psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected)
_RETRY_KW: dict[str, Any] = {
    "autoretry_for": _RETRY_ON,
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "retry_jitter": True,
    "max_retries": 8,
}

FETCH, PROCESS = "fetch", "process"  # task_attempts.task


def pack_body(body: bytes) -> str:
    return base64.b64encode(zlib.compress(body, 3)).decode("ascii")


def unpack_body(data: str, limit: int) -> bytes:
    d = zlib.decompressobj()
    out = d.decompress(base64.b64decode(data), limit + 1)
    return out




@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """A prefork child must not use connections its parent opened: start with no pools."""
    forget_pools()


@functools.lru_cache(maxsize=4)
def _politeness(redis_url: str) -> HostPoliteness:
    """One per process (created after fork, on first use): per-host limits shared by every worker."""
    return HostPoliteness.from_settings(app.settings)


def _policy(settings: Settings) -> retry.Policy:
    return retry.Policy.from_settings(settings)


def _quietly(settings: Settings, what: str, fn: Callable[[psycopg.Connection], Any]) -> None:
    """Bookkeeping that must not turn one failure into another (the database may be the thing down)."""
    try:
        with pooled(settings) as conn:
            fn(conn)
    except Exception as exc:
        log.warning("task_bookkeeping_failed", what=what, error=retry.describe(exc, 200))


def record_poison(settings: Settings, task: str, feed_id: int, message: str, *, fetch_id: int | None = None) -> bool:
    with pooled(settings) as conn:
        found = pipeline.record_poison(conn, settings, feed_id, message, fetch_id=fetch_id)
        with conn.transaction():
            attempt_store.clear(conn, task, feed_id)
    return found


def _poison_report(feed_id: int, message: str) -> dict[str, Any]:
    return {"input": str(feed_id), "feed_id": feed_id, "status": "error", "error_kind": "internal",
            "error": message}


def _guarded(task: Task, name: str, feed_id: int, run: Callable[[], dict[str, Any]], *,
             fetch_id: int | None = None) -> dict[str, Any]:
    """Run one feed task under the retry policy (see the module docstring)."""
    settings = app.settings
    policy = _policy(settings)
    started = 0
    try:
        with pooled(settings) as conn:
            started = attempt_store.begin(conn, name, feed_id)
        if started > policy.max_internal:
            message = (f"the {name} task started {started - 1} times and never finished (worker killed, "
                       "out of memory or over its hard time limit); giving up until the next scheduled fetch")
            log.error("task_poison", task=name, feed_id=feed_id, attempts=started - 1, error=message)
            record_poison(settings, name, feed_id, message, fetch_id=fetch_id)
            return _poison_report(feed_id, message)
        result = run()
    except Retry:  # the task chose to come back later (host busy): not an attempt that failed
        if started:
            _quietly(settings, "forget_attempt", lambda c: attempt_store.forget_one(c, name, feed_id))
        raise
    except Exception as exc:
        kind = retry.classify(exc)
        transient = kind in ("database", "broker", "conflict")
        attempt = task.request.retries + 1 if transient else max(task.request.retries + 1, started)
        decision = retry.decide(exc, attempt, policy, random.random())
        error = retry.describe(exc)
        log.warning("task_failed", task=name, feed_id=feed_id, attempt=attempt, kind=kind,
                    action=decision.action, countdown=decision.countdown, error=error)
        if transient and started:
            _quietly(settings, "forget_attempt", lambda c: attempt_store.forget_one(c, name, feed_id))
        elif started:
            _quietly(settings, "note_attempt", lambda c: attempt_store.failed(c, name, feed_id, error))
        if decision.action == "retry":
            raise task.retry(exc=exc, countdown=decision.countdown, max_retries=None) from None
        if decision.action == "poison":
            message = f"internal error after {attempt} attempts: {error}"
            record_poison(settings, name, feed_id, message, fetch_id=fetch_id)
            return _poison_report(feed_id, message)
        if decision.action == "record" and isinstance(exc, InputError | FetchError):
            with pooled(settings) as conn:
                pipeline.record_failure(conn, settings, feed_id, exc)
                with conn.transaction():
                    attempt_store.clear(conn, name, feed_id)
            return {"input": str(feed_id), "feed_id": feed_id, "status": "error", "error_kind": exc.kind,
                    "error": exc.reason}
        # "drop": PostgreSQL or Redis stayed away through every retry. The message is acked as failed;
        # the feed's claim expires and the scheduler sends it again once things are back.
        raise
    _quietly(settings, "clear_attempts", lambda c: attempt_store.clear(c, name, feed_id))
    return result


@app.task(name="wirefeed.schedule_due_feeds", ignore_result=True, **_RETRY_KW)
def schedule_due_feeds() -> int:
    """Beat's tick: claim due feeds in PostgreSQL (SKIP LOCKED) and enqueue one fetch each."""
    settings = app.settings
    with pooled(settings) as conn:
        ids = feed_store.claim_due(conn, limit=settings.schedule_batch, claim_seconds=settings.claim_timeout)
    for feed_id in ids:
        fetch_feed.delay(feed_id)
    return len(ids)


@app.task(name="wirefeed.prune_fetch_history", ignore_result=True, **_RETRY_KW)
def prune_fetch_history() -> int:
    """Daily: drop fetch history older than WIREFEED_FETCH_HISTORY_DAYS (each feed keeps its newest 20)."""
    settings = app.settings
    days = settings.fetch_history_days
    with pooled(settings) as conn:
        return fetch_store.prune_fetches(conn, older_than=datetime.now(UTC) - timedelta(days=days))


@app.task(name="wirefeed.prune_story_index", ignore_result=True, **_RETRY_KW)
def prune_story_index(max_rounds: int = 100) -> int:
    """Daily: drop near-duplicate index rows (``article_bands``) left by deleted articles, 10,000 rows per
    transaction, at most ``max_rounds`` transactions per run. Returns the rows removed."""
    from worker.stories.assign import prune_bands

    settings = app.settings
    removed = 0
    with pooled(settings) as conn:
        for _ in range(max_rounds):
            with conn.transaction():
                n = prune_bands(conn)
            removed += n
            if n < 10_000:
                break
    return removed


# max_retries=None: no Celery-side cap. Celery's default (3) would end a task with MaxRetriesExceededError
# before our own limits (HOST_BUSY_RETRIES, the retry policy's attempts) decide, and that error would then be
# taken for an internal failure: a feed waiting its turn on a busy host was recorded as poison.
@app.task(bind=True, name="wirefeed.fetch_feed", max_retries=None)
def fetch_feed(self: Task, feed_id: int) -> dict[str, Any]:
    """Fetch one feed; a changed body goes on to the process queue."""
    settings = app.settings

    def run() -> dict[str, Any]:
        with pooled(settings) as conn:
            step = pipeline.fetch_step(conn, settings, feed_id, politeness=_politeness(settings.redis_url))
            if step.wait is not None:
                # The host is at its in-flight limit, inside its minimum gap, or asked for a Retry-After pause:
                # come back later instead of sleeping in a worker; long waits go back to the schedule.
                wait = step.wait
                if wait <= settings.host_busy_wait_max and self.request.retries < settings.host_busy_waits:
                    raise self.retry(countdown=wait, max_retries=None)
                pipeline.postpone(conn, settings, feed_id, wait)
                return step.report.as_json()
        telemetry.fetch_done(step.report, modified=step.body is not None)
        if step.body is not None:
            process_feed.apply_async(
                args=(feed_id, pack_body(step.body)),
                kwargs={"url": step.url, "content_type": step.content_type, "etag": step.etag,
                        "last_modified": step.last_modified, "fetch_id": step.fetch_id,
                        "cache_max_age": step.cache_max_age},
                queue=queues.PROCESS,
            )
        return step.report.as_json()

    return _guarded(self, FETCH, feed_id, run)


@app.task(bind=True, name="wirefeed.process_feed", max_retries=None)
def process_feed(self: Task, feed_id: int, body: str, *, url: str, content_type: str | None = None,
                 etag: str | None = None, last_modified: str | None = None, fetch_id: int | None = None,
                 cache_max_age: int | None = None) -> dict[str, Any]:
    """Parse, normalise, dedupe and store one fetched body."""
    settings = app.settings

    def run() -> dict[str, Any]:
        raw = unpack_body(body, settings.max_feed_bytes)
        with pooled(settings) as conn:
            report = pipeline.process_body(conn, settings, feed_id, raw, url=url, content_type=content_type,
                                           etag=etag, last_modified=last_modified, fetch_id=fetch_id,
                                           cache_max_age=cache_max_age)
        telemetry.batch_done(report)
        return report.as_json()

    return _guarded(self, PROCESS, feed_id, run, fetch_id=fetch_id)
