"""Delivery attempts per (task, feed) (``task_attempts``, migration 0005): poison detection across
redeliveries that Celery's retry counter does not see (killed workers, re-claimed feeds)."""

from __future__ import annotations

import psycopg

# A row not touched for this long is stale: the count restarts (yesterday's outage is not today's poison).
STALE_AFTER = "1 day"


def begin(conn: psycopg.Connection, task: str, feed_id: int) -> int:
    """Count one more start of ``task`` for ``feed_id``; returns the count including this one.

    Returns 0 when the feed does not exist (nothing to count). The caller commits.
    """
    row = conn.execute(
        """INSERT INTO task_attempts (task, feed_id)
           SELECT %(task)s, %(feed)s WHERE EXISTS (SELECT 1 FROM feeds WHERE id = %(feed)s)
           ON CONFLICT (task, feed_id) DO UPDATE SET
               attempts = CASE WHEN task_attempts.last_at < now() - %(stale)s::interval THEN 1
                               ELSE task_attempts.attempts + 1 END,
               first_at = CASE WHEN task_attempts.last_at < now() - %(stale)s::interval THEN now()
                               ELSE task_attempts.first_at END,
               last_at = now()
           RETURNING attempts""",
        {"task": task, "feed": feed_id, "stale": STALE_AFTER},
    ).fetchone()
    return int(row[0]) if row else 0


def failed(conn: psycopg.Connection, task: str, feed_id: int, error: str) -> None:
    """Keep the last unexpected error beside the count (the count itself was taken by :func:`begin`)."""
    conn.execute("UPDATE task_attempts SET last_error = %s, last_at = now() WHERE task = %s AND feed_id = %s",
                 (error[:2000], task, feed_id))


def forget_one(conn: psycopg.Connection, task: str, feed_id: int) -> None:
    """This start ended in a way that does not count (a transient outage it will retry): take it back."""
    conn.execute(
        "UPDATE task_attempts SET attempts = greatest(attempts - 1, 0) WHERE task = %s AND feed_id = %s",
        (task, feed_id))


def clear(conn: psycopg.Connection, task: str, feed_id: int) -> None:
    """The task finished (success or a recorded, known failure): the run of attempts is over."""
    conn.execute("DELETE FROM task_attempts WHERE task = %s AND feed_id = %s", (task, feed_id))


def get(conn: psycopg.Connection, task: str, feed_id: int) -> int:
    row = conn.execute("SELECT attempts FROM task_attempts WHERE task = %s AND feed_id = %s",
                       (task, feed_id)).fetchone()
    return int(row[0]) if row else 0
