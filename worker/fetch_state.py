"""What one fetch does to its feed's stored state: history row, schedule, backoff, move, disable.

The pipeline calls these around ``fetch_feed_body``; the decisions themselves are the pure functions of
:mod:`worker.feed_state.schedule`, the SQL is in :mod:`worker.store`. Each function runs in its own transaction.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import psycopg

from worker.errors import FetchError, PermanentFetchError
from worker.feed_state import schedule
from worker.feed_state.model import Feed
from worker.models import ParsedFeed
from worker.settings import Settings
from worker.store import feeds as feed_store
from worker.store import fetches as fetch_store

if TYPE_CHECKING:
    from worker.fetch.http import FetchOutcome


def fetch_failed(
    conn: psycopg.Connection, settings: Settings, feed: Feed, err: FetchError, elapsed: float,
    now: datetime | None = None,
) -> str | None:
    """Record a failed fetch: history, error count, backoff; disable on 410 or a long hard run.

    Returns the disable reason when the feed was disabled.
    """
    now = now or datetime.now(UTC)
    feed_id = feed.id
    hard = isinstance(err, PermanentFetchError)
    with conn.transaction():
        fetch_store.record_fetch(conn, fetch_store.FetchRecord(
            feed_id=feed_id, url=feed.url, outcome="error", status=err.status,
            duration_ms=round(elapsed * 1000), error_kind=err.kind, error_message=err.reason,
        ))
        run = fetch_store.count_hard_failure(conn, feed_id, hard=hard)
        reason = schedule.disable_reason(
            kind=err.kind, permanent=hard, message=err.reason, hard_error_count=run,
            threshold=settings.disable_after_errors, now=now, last_success_at=feed.last_success_at,
            failing_since=feed.created_at,  # never succeeded: failing since it was added
        )
        delay = schedule.backoff(feed.error_count + 1, base=settings.backoff_base,
                                 cap=float(settings.max_interval), rand=random.random(), retry_after=err.retry_after)
        feed_store.record_failure(conn, feed_id, kind=err.kind, message=err.reason,
                                  next_fetch_at=now + timedelta(seconds=delay), disable_reason=reason)
    return reason


def fetch_succeeded(
    conn: psycopg.Connection, settings: Settings, feed: Feed, out: FetchOutcome,
    now: datetime | None = None,
) -> int:
    """Record a fetch that got an answer (modified or not): history row, move on 301/308, and for a
    not-modified answer the next schedule. Returns the history row id (completed after processing)."""
    now = now or datetime.now(UTC)
    feed_id = feed.id
    with conn.transaction():
        if out.permanent_redirect_to:
            other = fetch_store.move_feed(conn, feed_id, out.permanent_redirect_to)
            if other is not None:
                fetch_store.disable_feed(
                    conn, feed_id,
                    f"moved permanently to {out.permanent_redirect_to}, already subscribed as feed {other}")
        fetch_id = fetch_store.record_fetch(conn, fetch_store.FetchRecord(
            feed_id=feed_id, url=feed.url, final_url=out.final_url, outcome=out.outcome, status=out.status,
            not_modified_by=out.not_modified_by, bytes=out.bytes_read, duration_ms=round(out.elapsed * 1000),
        ))
        fetch_store.reset_hard_failures(conn, feed_id)
        if out.outcome == "not_modified":
            sched = schedule.next_fetch_at(
                now, poll_interval=feed.poll_interval, had_new_entries=False,
                hints=schedule.Hints(cache_max_age=out.cache_max_age, retry_after=out.retry_after),
                min_interval=settings.min_interval, max_interval=settings.max_interval,
            )
            feed_store.record_not_modified(conn, feed_id, next_fetch_at=sched.at, poll_interval=sched.interval,
                                           etag=out.etag, last_modified=out.last_modified)
    return fetch_id


def _dates(parsed: ParsedFeed) -> Iterable[datetime]:
    for e in parsed.entries:
        d = e.published_parsed or e.updated_parsed
        if d is not None:
            yield d if d.tzinfo is not None else d.replace(tzinfo=UTC)


def schedule_after_parse(
    settings: Settings, feed: Feed | None, parsed: ParsedFeed, new_entries: int, now: datetime,
    cache_max_age: int | None = None,
) -> schedule.Schedule:
    """Next fetch after a body was processed: adapted to the feed's publishing rhythm and its hints."""
    return schedule.next_fetch_at(
        now,
        poll_interval=feed.poll_interval if feed else settings.default_interval,
        published=list(_dates(parsed)),
        had_new_entries=new_entries > 0,
        hints=schedule.Hints(ttl_minutes=parsed.meta.ttl_minutes,
                             update_period_minutes=parsed.meta.update_period_minutes,
                             cache_max_age=cache_max_age),
        min_interval=settings.min_interval,
        max_interval=settings.max_interval,
    )


def postpone(conn: psycopg.Connection, feed_id: int, seconds: float) -> None:
    """The host asked everyone to wait (or stays busy): fetch this feed later, no error counted."""
    with conn.transaction():
        fetch_store.postpone_feed(conn, feed_id, seconds)
