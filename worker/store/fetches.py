"""Fetch history (``feed_fetches``) and feed URL aliases (``feed_aliases``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row


@dataclass(slots=True)
class FetchRecord:
    feed_id: int
    url: str
    outcome: str  # "modified" | "not_modified" | "error"
    status: int | None = None
    final_url: str | None = None
    not_modified_by: str | None = None  # "304" | "hash"
    bytes: int = 0
    duration_ms: int = 0
    entries_seen: int | None = None
    entries_new: int | None = None
    error_kind: str | None = None
    error_message: str | None = None


def record_fetch(conn: psycopg.Connection, rec: FetchRecord) -> int:
    """Insert one fetch row; returns its id (to fill in entries once the body is processed)."""
    row = conn.execute(
        """INSERT INTO feed_fetches (feed_id, url, final_url, status, outcome, not_modified, not_modified_by,
                                     bytes, duration_ms, entries_seen, entries_new, error_kind, error_message)
           SELECT %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s
           WHERE EXISTS (SELECT 1 FROM feeds WHERE id = %s)
           RETURNING id""",
        (rec.feed_id, rec.url, rec.final_url, rec.status, rec.outcome, rec.outcome == "not_modified",
         rec.not_modified_by, rec.bytes, rec.duration_ms, rec.entries_seen, rec.entries_new,
         rec.error_kind, (rec.error_message or "")[:2000] or None, rec.feed_id),
    ).fetchone()
    return int(row[0]) if row else 0


def set_entries(
    conn: psycopg.Connection, fetch_id: int, *, seen: int, new: int,
    not_modified_by: str | None = None, error_kind: str | None = None, error_message: str | None = None,
) -> None:
    """Complete a fetch row after processing: entries counts, or the body's own failure (e.g. parse)."""
    conn.execute(
        """UPDATE feed_fetches SET entries_seen = %s, entries_new = %s,
               outcome = CASE WHEN %s::text IS NOT NULL THEN 'not_modified'
                              WHEN %s::text IS NOT NULL THEN 'error' ELSE outcome END,
               not_modified = not_modified OR %s::text IS NOT NULL,
               not_modified_by = coalesce(%s::text, not_modified_by),
               error_kind = coalesce(%s::text, error_kind), error_message = coalesce(%s::text, error_message)
           WHERE id = %s""",
        (seen, new, not_modified_by, error_kind, not_modified_by, not_modified_by, error_kind,
         (error_message or "")[:2000] or None, fetch_id),
    )


def recent_fetches(conn: psycopg.Connection, feed_id: int, limit: int = 20) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            """SELECT id, fetched_at, url, final_url, status, outcome, not_modified, not_modified_by, bytes,
                      duration_ms, entries_seen, entries_new, error_kind, error_message
               FROM feed_fetches WHERE feed_id = %s ORDER BY fetched_at DESC, id DESC LIMIT %s""",
            (feed_id, limit),
        ).fetchall()


def prune_fetches(conn: psycopg.Connection, *, older_than: datetime, keep_per_feed: int = 20) -> int:
    """Delete history older than ``older_than``, but keep each feed's newest ``keep_per_feed`` rows."""
    cur = conn.execute(
        """DELETE FROM feed_fetches f
           WHERE f.fetched_at < %s
             AND f.id NOT IN (
                 SELECT k.id FROM feeds, LATERAL (
                     SELECT id FROM feed_fetches WHERE feed_id = feeds.id
                     ORDER BY fetched_at DESC, id DESC LIMIT %s) k
                 WHERE feeds.id = f.feed_id)""",
        (older_than, keep_per_feed),
    )
    return cur.rowcount


def add_alias(conn: psycopg.Connection, url: str, feed_id: int) -> None:
    conn.execute(
        """INSERT INTO feed_aliases (url, feed_id) VALUES (%s, %s)
           ON CONFLICT (url) DO UPDATE SET feed_id = EXCLUDED.feed_id""",
        (url, feed_id),
    )


def move_feed(conn: psycopg.Connection, feed_id: int, new_url: str) -> int | None:
    """A permanent redirect: the feed takes ``new_url`` and keeps its old URL as an alias.

    Returns the id of another feed that already has ``new_url`` (the feed then keeps its URL), else None.
    """
    other = conn.execute("SELECT id FROM feeds WHERE url = %s AND id <> %s", (new_url, feed_id)).fetchone()
    if other is not None:
        return int(other[0])
    old = conn.execute("SELECT url FROM feeds WHERE id = %s FOR UPDATE", (feed_id,)).fetchone()
    if old is None or old[0] == new_url:
        return None
    add_alias(conn, old[0], feed_id)
    conn.execute("DELETE FROM feed_aliases WHERE url = %s", (new_url,))
    conn.execute("UPDATE feeds SET url = %s WHERE id = %s", (new_url, feed_id))
    return None


def count_hard_failure(conn: psycopg.Connection, feed_id: int, *, hard: bool) -> int:
    """Extend the feed's run of hard failures (a soft failure leaves it as is); returns the run length.

    A success resets it (``reset_hard_failures``).
    """
    row = conn.execute(
        """UPDATE feeds SET hard_error_count = hard_error_count + CASE WHEN %s THEN 1 ELSE 0 END
           WHERE id = %s RETURNING hard_error_count""",
        (hard, feed_id),
    ).fetchone()
    return int(row[0]) if row else 0


def reset_hard_failures(conn: psycopg.Connection, feed_id: int) -> None:
    conn.execute("UPDATE feeds SET hard_error_count = 0 WHERE id = %s AND hard_error_count <> 0", (feed_id,))


def disable_feed(conn: psycopg.Connection, feed_id: int, reason: str) -> None:
    conn.execute(
        """UPDATE feeds SET disabled_at = coalesce(disabled_at, now()), disabled_reason = %s, claimed_until = NULL
           WHERE id = %s""",
        (reason[:2000], feed_id),
    )


def postpone_feed(conn: psycopg.Connection, feed_id: int, seconds: float) -> None:
    """Push the next fetch back (host busy or rate limited) without counting an error; releases the claim."""
    conn.execute(
        """UPDATE feeds SET next_fetch_at = greatest(next_fetch_at, now() + make_interval(secs => %s)),
               claimed_until = NULL
           WHERE id = %s""",
        (seconds, feed_id),
    )
