"""Fetch history (``feed_fetches``): one row per fetch, completed once its body is processed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg
from psycopg.rows import dict_row

from worker.redaction import redact


@dataclass(slots=True)
class FetchRecord:
    feed_id: int
    url: str
    outcome: Literal["modified", "not_modified", "error"]
    status: int | None = None
    final_url: str | None = None
    not_modified_by: Literal["304", "hash"] | None = None
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
         rec.error_kind, redact(rec.error_message or "")[:2000] or None, rec.feed_id),
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
         redact(error_message or "")[:2000] or None, fetch_id),
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
