"""What operators see: counts of feeds and articles for ``wirefeed status``, ``wirefeed health`` and the
scrape-time metrics. Every number they show comes from these queries, so the three never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg

from worker.store.pages import PageCounts


@dataclass(frozen=True, slots=True)
class FeedCounts:
    """Feeds by state. healthy: enabled, last attempt succeeded; backing_off: enabled and failing (retried
    later with backoff); disabled: stopped, with a reason. Field order is the ``--json`` order."""

    total: int
    enabled: int
    healthy: int
    backing_off: int
    disabled: int
    due: int  # enabled feeds whose next fetch time has passed
    in_error: int  # backing off or disabled
    scheduler_lag_seconds: float  # how long the most overdue enabled feed has waited (0 when none is due)


@dataclass(frozen=True, slots=True)
class ErrorKind:
    """One of the commonest reasons feeds fail: its kind, how many feeds, one example message."""

    kind: str
    feeds: int
    example: str | None


@dataclass(frozen=True, slots=True)
class ArticleCounts:
    total: int
    last_hour: int
    last_day: int
    last_ingest_at: datetime | None  # first-seen time of the newest article


def ping(conn: psycopg.Connection) -> None:
    """A round trip: raises when the server does not answer."""
    conn.execute("SELECT 1")


def has_feeds_table(conn: psycopg.Connection) -> bool:
    """Whether the schema exists at all (a database ``wirefeed migrate`` never ran on has nothing to count)."""
    row = conn.execute("SELECT to_regclass('feeds') IS NOT NULL").fetchone()
    return bool(row and row[0])


def feed_counts(conn: psycopg.Connection) -> FeedCounts:
    row = conn.execute(
        """SELECT count(*),
                  count(*) FILTER (WHERE disabled_at IS NULL AND error_count = 0),
                  count(*) FILTER (WHERE disabled_at IS NULL AND error_count > 0),
                  count(*) FILTER (WHERE disabled_at IS NOT NULL),
                  count(*) FILTER (WHERE disabled_at IS NULL AND next_fetch_at <= now()),
                  coalesce(extract(epoch FROM now() - min(next_fetch_at) FILTER (
                      WHERE disabled_at IS NULL AND next_fetch_at <= now())), 0)
           FROM feeds"""
    ).fetchone()
    assert row is not None  # an aggregate without GROUP BY always returns one row
    total, healthy, backing_off, disabled, due, lag = row
    return FeedCounts(
        total=int(total), enabled=int(healthy) + int(backing_off), healthy=int(healthy),
        backing_off=int(backing_off), disabled=int(disabled), due=int(due),
        in_error=int(backing_off) + int(disabled), scheduler_lag_seconds=round(float(lag), 1),
    )


def top_errors(conn: psycopg.Connection, limit: int = 5) -> list[ErrorKind]:
    """The commonest reasons feeds are failing or disabled, most feeds first."""
    rows = conn.execute(
        """SELECT coalesce(last_error_kind, CASE WHEN disabled_at IS NOT NULL THEN 'disabled' END, 'error'),
                  count(*),
                  (array_agg(coalesce(last_error, disabled_reason) ORDER BY last_error_at DESC NULLS LAST))[1]
           FROM feeds WHERE error_count > 0 OR disabled_at IS NOT NULL OR last_error_kind = 'truncated'
           GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s""",
        (limit,),
    ).fetchall()
    return [ErrorKind(kind=k, feeds=int(n), example=ex) for k, n, ex in rows]


def article_counts(conn: psycopg.Connection) -> ArticleCounts:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM articles),
                  (SELECT count(*) FROM articles WHERE first_seen_at > now() - interval '1 hour'),
                  (SELECT count(*) FROM articles WHERE first_seen_at > now() - interval '1 day'),
                  (SELECT max(first_seen_at) FROM articles)"""
    ).fetchone()
    assert row is not None  # scalar subqueries: always one row
    return ArticleCounts(total=int(row[0]), last_hour=int(row[1]), last_day=int(row[2]), last_ingest_at=row[3])


def last_ingest_epoch(conn: psycopg.Connection) -> float | None:
    """Unix time the newest article was first seen; None when there is none."""
    row = conn.execute("SELECT extract(epoch FROM max(first_seen_at)) FROM articles").fetchone()
    return float(row[0]) if row and row[0] is not None else None


def page_counts(conn: psycopg.Connection) -> PageCounts | None:
    """Page requests waiting now, and how those of the last day ended; None before migration 0010."""
    from worker.store import pages

    return pages.counts(conn) if pages.has_pages_table(conn) else None
