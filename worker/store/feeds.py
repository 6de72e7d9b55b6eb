"""Feeds: subscription, scheduling claims and fetch state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import kwargs_row

from worker.feed_state.model import FEED_FIELDS, Feed

FEED_COLUMNS = ", ".join(FEED_FIELDS)


def _feed(**row: Any) -> Feed:
    return Feed(**{**row, "boilerplate_keys": tuple(row["boilerplate_keys"] or ())})


@dataclass(slots=True)
class AddResult:
    feed_id: int
    created: bool


def add_feed(conn: psycopg.Connection, url: str, title: str | None = None) -> AddResult:
    """Subscribe ``url``; idempotent: the same URL (or a URL the feed was moved from) gives the same feed."""
    existing = find_feed_id(conn, url)
    if existing is not None:
        if title:
            conn.execute("UPDATE feeds SET title = %s WHERE id = %s AND title IS DISTINCT FROM %s",
                         (title, existing, title))
        return AddResult(existing, False)
    row = conn.execute(
        """INSERT INTO feeds (url, title) VALUES (%s, %s)
           ON CONFLICT (url) DO NOTHING RETURNING id""",
        (url, title),
    ).fetchone()
    if row is not None:
        return AddResult(int(row[0]), True)
    found = find_feed_id(conn, url)
    assert found is not None  # a concurrent insert won the race and is now visible
    return AddResult(found, False)


def find_feed_id(conn: psycopg.Connection, url: str) -> int | None:
    """The feed with this URL, or the feed that moved away from it (301/308: ``feed_aliases``)."""
    row = conn.execute(
        """SELECT id FROM feeds WHERE url = %s
           UNION ALL SELECT feed_id FROM feed_aliases WHERE url = %s LIMIT 1""",
        (url, url),
    ).fetchone()
    return int(row[0]) if row else None


def get_feed(conn: psycopg.Connection, feed_id: int, *, lock: bool = False) -> Feed | None:
    """The feed's row; ``lock`` holds it (FOR UPDATE) until the caller's transaction ends."""
    # FEED_COLUMNS is a constant of this module; values always travel as parameters.
    sql = f"SELECT {FEED_COLUMNS} FROM feeds WHERE id = %s" + (" FOR UPDATE" if lock else "")  # noqa: S608
    with conn.cursor(row_factory=kwargs_row(_feed)) as cur:
        return cur.execute(sql, (feed_id,)).fetchone()


def list_feeds(conn: psycopg.Connection) -> list[Feed]:
    with conn.cursor(row_factory=kwargs_row(_feed)) as cur:
        return cur.execute(f"SELECT {FEED_COLUMNS} FROM feeds ORDER BY id").fetchall()  # noqa: S608


def existing_ids(conn: psycopg.Connection, ids: list[int]) -> list[int]:
    return [r[0] for r in conn.execute("SELECT id FROM feeds WHERE id = ANY(%s) ORDER BY id", (ids,))]


def claim_due(conn: psycopg.Connection, *, limit: int, claim_seconds: int) -> list[int]:
    """Claim enabled feeds that are due and not claimed (or whose claim expired: a lost message).

    ``FOR UPDATE SKIP LOCKED`` lets several schedulers run without claiming a feed twice.
    """
    rows = conn.execute(
        """WITH due AS (
               SELECT id FROM feeds
               WHERE disabled_at IS NULL AND next_fetch_at <= now()
                 AND (claimed_until IS NULL OR claimed_until < now())
               ORDER BY next_fetch_at
               LIMIT %s
               FOR UPDATE SKIP LOCKED)
           UPDATE feeds f SET claimed_until = now() + make_interval(secs => %s)
           FROM due WHERE f.id = due.id
           RETURNING f.id""",
        (limit, claim_seconds),
    ).fetchall()
    return sorted(int(r[0]) for r in rows)


def claim_ids(conn: psycopg.Connection, ids: list[int], *, claim_seconds: int) -> list[int]:
    """Claim the named feeds (``wirefeed fetch ID…`` / ``--all``) unless another claim is live."""
    rows = conn.execute(
        """UPDATE feeds SET claimed_until = now() + make_interval(secs => %s)
           WHERE id = ANY(%s) AND (claimed_until IS NULL OR claimed_until < now())
           RETURNING id""",
        (claim_seconds, ids),
    ).fetchall()
    return sorted(int(r[0]) for r in rows)


def all_enabled_ids(conn: psycopg.Connection) -> list[int]:
    return [int(r[0]) for r in conn.execute("SELECT id FROM feeds WHERE disabled_at IS NULL ORDER BY id")]


def record_success(
    conn: psycopg.Connection,
    feed_id: int,
    *,
    next_fetch_at: datetime,
    poll_interval: int,
    title: str | None = None,
    site_url: str | None = None,
    language: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    body_hash: str | None = None,
    new_entries: int = 0,
) -> None:
    """A fetch (or ingest) succeeded: reset errors, release the claim, store validators and meta."""
    conn.execute(
        """UPDATE feeds SET
               last_fetched_at = now(), last_success_at = now(),
               last_new_entry_at = CASE WHEN %(new)s > 0 THEN now() ELSE last_new_entry_at END,
               next_fetch_at = %(next)s, poll_interval = %(interval)s, claimed_until = NULL,
               error_count = 0, last_error = NULL, last_error_kind = NULL,
               title = coalesce(title, %(title)s), site_url = coalesce(%(site)s, site_url),
               language = coalesce(%(lang)s, language),
               etag = coalesce(%(etag)s, etag), last_modified = coalesce(%(lm)s, last_modified),
               body_hash = coalesce(%(bh)s, body_hash)
           WHERE id = %(id)s""",
        {"new": new_entries, "next": next_fetch_at, "interval": poll_interval, "title": title,
         "site": site_url, "lang": language, "etag": etag, "lm": last_modified, "bh": body_hash,
         "id": feed_id},
    )


def record_not_modified(
    conn: psycopg.Connection, feed_id: int, *, next_fetch_at: datetime, poll_interval: int | None = None,
    etag: str | None = None, last_modified: str | None = None,
) -> None:
    conn.execute(
        """UPDATE feeds SET last_fetched_at = now(), last_success_at = now(), next_fetch_at = %s,
               claimed_until = NULL, error_count = 0, last_error = NULL, last_error_kind = NULL,
               poll_interval = coalesce(%s, poll_interval),
               etag = coalesce(%s, etag), last_modified = coalesce(%s, last_modified)
           WHERE id = %s""",
        (next_fetch_at, poll_interval, etag, last_modified, feed_id),
    )


def record_failure(
    conn: psycopg.Connection,
    feed_id: int,
    *,
    kind: str,
    message: str,
    next_fetch_at: datetime,
    disable_reason: str | None = None,
) -> int:
    """Count a failure, keep its reason, schedule the retry; disable when asked. Returns the error count."""
    row = conn.execute(
        """UPDATE feeds SET last_fetched_at = now(), error_count = error_count + 1,
               last_error = %s, last_error_kind = %s, last_error_at = now(),
               next_fetch_at = %s, claimed_until = NULL,
               disabled_at = CASE WHEN %s::text IS NOT NULL THEN coalesce(disabled_at, now()) ELSE disabled_at END,
               disabled_reason = coalesce(%s::text, disabled_reason)
           WHERE id = %s RETURNING error_count""",
        (message[:2000], kind, next_fetch_at, disable_reason, disable_reason, feed_id),
    ).fetchone()
    return int(row[0]) if row else 0


def enable_feed(conn: psycopg.Connection, feed_id: int) -> bool:
    row = conn.execute(
        """UPDATE feeds SET disabled_at = NULL, disabled_reason = NULL, error_count = 0, hard_error_count = 0,
               next_fetch_at = now(), claimed_until = NULL
           WHERE id = %s RETURNING id""",
        (feed_id,),
    ).fetchone()
    return row is not None


def set_boilerplate_keys(conn: psycopg.Connection, feed_id: int, keys: frozenset[str]) -> None:
    """Remember the paragraphs learned as this feed's boilerplate (see normalize.apply_learned_boilerplate)."""
    conn.execute("UPDATE feeds SET boilerplate_keys = %s WHERE id = %s", (sorted(keys), feed_id))
