"""Feeds and their URL aliases: subscription, scheduling claims and fetch state. Every write to ``feeds``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import kwargs_row

from worker.feed_state.decide import FeedUpdate
from worker.feed_state.model import FEED_FIELDS, Feed
from worker.normalize.feedmeta import feed_title
from worker.redaction import redact

FEED_COLUMNS = ", ".join(FEED_FIELDS)


def _feed(**row: Any) -> Feed:
    return Feed(**{**row, "boilerplate_keys": tuple(row["boilerplate_keys"] or ())})


@dataclass(slots=True)
class AddResult:
    feed_id: int
    created: bool


def add_feed(conn: psycopg.Connection, url: str, title: str | None = None, *,
             poll_interval: int | None = None) -> AddResult:
    """Subscribe ``url``; idempotent: the same URL (or a URL the feed was moved from) gives the same feed.
    ``poll_interval`` (WIREFEED_DEFAULT_INTERVAL_SECONDS) is the new feed's first interval."""
    title = feed_title(title)  # a --name or an OPML outline's text: stored like a feed's own title
    existing = find_feed_id(conn, url)
    if existing is not None:
        if title:
            conn.execute("UPDATE feeds SET title = %s WHERE id = %s AND title IS DISTINCT FROM %s",
                         (title, existing, title))
        return AddResult(existing, False)
    if poll_interval is None:  # the column's default
        row = conn.execute("INSERT INTO feeds (url, title) VALUES (%s, %s) ON CONFLICT (url) DO NOTHING RETURNING id",
                           (url, title)).fetchone()
    else:
        row = conn.execute(
            """INSERT INTO feeds (url, title, poll_interval) VALUES (%s, %s, %s)
               ON CONFLICT (url) DO NOTHING RETURNING id""",
            (url, title, poll_interval)).fetchone()
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


def claim_due(conn: psycopg.Connection, *, limit: int, claim_seconds: int) -> list[tuple[int, int]]:
    """Claim enabled feeds that are due and not claimed (or whose claim expired: a lost message, the last
    resort; a dead worker's claims are given back sooner, :func:`worker.store.workers.give_back_dead`).
    Returns (feed id, claim number) pairs: each claim bumps the number its messages carry. The claims name no
    worker and are stamped as sent (``claim_sent_at``): their messages go to the broker right after the commit,
    and the worker that receives one names itself in its claim.

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
           UPDATE feeds f SET claimed_until = now() + make_interval(secs => %s), claim = f.claim + 1,
                              claimed_by = NULL, claim_sent_at = now()
           FROM due WHERE f.id = due.id
           RETURNING f.id, f.claim""",
        (limit, claim_seconds),
    ).fetchall()
    return sorted((int(r[0]), int(r[1])) for r in rows)


def claim_ids(conn: psycopg.Connection, ids: list[int], *, claim_seconds: int) -> list[tuple[int, int]]:
    """Claim the named feeds (``wirefeed fetch ID…`` / ``--all``) unless another claim is live, never an
    ingest-only feed (:func:`mark_ingest_only`); (feed id, claim number) pairs like :func:`claim_due`."""
    rows = conn.execute(
        """UPDATE feeds SET claimed_until = now() + make_interval(secs => %s), claimed_by = NULL,
                            claim = claim + 1, claim_sent_at = now()
           WHERE id = ANY(%s) AND (claimed_until IS NULL OR claimed_until < now())
             AND NOT (disabled_at IS NOT NULL AND left(url, 7) = 'file://')
           RETURNING id, claim""",
        (claim_seconds, ids),
    ).fetchall()
    return sorted((int(r[0]), int(r[1])) for r in rows)


def all_enabled_ids(conn: psycopg.Connection) -> list[int]:
    return [int(r[0]) for r in conn.execute("SELECT id FROM feeds WHERE disabled_at IS NULL ORDER BY id")]


def feed_with_url(conn: psycopg.Connection, url: str, *, other_than: int) -> int | None:
    """Another feed whose URL is ``url`` (a 301/308 onto it would make a duplicate), or None."""
    row = conn.execute("SELECT id FROM feeds WHERE url = %s AND id <> %s", (url, other_than)).fetchone()
    return int(row[0]) if row else None


def apply_update(conn: psycopg.Connection, feed_id: int, update: FeedUpdate) -> None:
    """Write what :func:`worker.feed_state.decide.decide` decided: the one statement that changes a feed's
    fetch state. The caller holds the row lock (``get_feed(lock=True)``) in its transaction."""
    if update.changes_nothing:
        return
    if update.move_to is not None:
        _move(conn, feed_id, update.move_to)
    # the reader role reads these: a message that quotes a URL or conninfo never stores its secret
    error = redact(update.error_message)[:2000] if update.error_message is not None else None
    disable = redact(update.disable_reason)[:2000] if update.disable_reason is not None else None
    conn.execute(
        """UPDATE feeds SET
               last_fetched_at = CASE WHEN %(fetched)s THEN now() ELSE last_fetched_at END,
               last_success_at = CASE WHEN %(ok)s THEN now() ELSE last_success_at END,
               last_new_entry_at = CASE WHEN %(new)s THEN now() ELSE last_new_entry_at END,
               next_fetch_at = coalesce(%(next)s, next_fetch_at),
               poll_interval = coalesce(%(interval)s, poll_interval),
               claimed_until = CASE WHEN %(release)s THEN NULL ELSE claimed_until END,
               claimed_by = CASE WHEN %(release)s THEN NULL ELSE claimed_by END,
               error_count = coalesce(%(errors)s, error_count),
               hard_error_count = coalesce(%(hard)s, hard_error_count),
               last_error = CASE WHEN %(ok)s THEN %(error)s ELSE coalesce(%(error)s, last_error) END,
               last_error_kind = CASE WHEN %(ok)s THEN %(kind)s ELSE coalesce(%(kind)s, last_error_kind) END,
               last_error_at = CASE WHEN %(error)s::text IS NOT NULL THEN now() ELSE last_error_at END,
               disabled_at = CASE WHEN %(disable)s::text IS NOT NULL THEN coalesce(disabled_at, now())
                                  ELSE disabled_at END,
               disabled_reason = coalesce(%(disable)s, disabled_reason),
               title = coalesce(title, %(title)s), site_url = coalesce(%(site)s, site_url),
               language = coalesce(%(lang)s, language),
               etag = coalesce(%(etag)s, etag), last_modified = coalesce(%(lm)s, last_modified),
               body_hash = coalesce(%(bh)s, body_hash)
           WHERE id = %(id)s""",
        {"fetched": update.fetched, "ok": update.succeeded, "new": update.new_entries,
         "next": update.next_fetch_at, "interval": update.poll_interval, "release": update.release_claim,
         "errors": update.error_count, "hard": update.hard_error_count, "error": error,
         "kind": update.error_kind, "disable": disable, "title": update.title, "site": update.site_url,
         "lang": update.language, "etag": update.etag, "lm": update.last_modified, "bh": update.body_hash,
         "id": feed_id},
    )


def _move(conn: psycopg.Connection, feed_id: int, new_url: str) -> None:
    """A permanent redirect: the feed takes ``new_url`` and keeps its old URL as an alias, so subscribing
    the old URL again finds this feed."""
    old = conn.execute("SELECT url FROM feeds WHERE id = %s", (feed_id,)).fetchone()
    if old is None or old[0] == new_url:
        return
    conn.execute(
        """INSERT INTO feed_aliases (url, feed_id) VALUES (%s, %s)
           ON CONFLICT (url) DO UPDATE SET feed_id = EXCLUDED.feed_id""",
        (old[0], feed_id),
    )
    conn.execute("DELETE FROM feed_aliases WHERE url = %s", (new_url,))
    conn.execute("UPDATE feeds SET url = %s WHERE id = %s", (new_url, feed_id))


INGEST_ONLY = "ingest-only: a local file read by wirefeed ingest (workers cannot read it)"


def is_ingest_only(url: str) -> bool:
    """A ``file://`` feed: the file is the command line's, so only ``wirefeed ingest`` reads it."""
    return url.startswith("file://")


def mark_ingest_only(conn: psycopg.Connection, feed_id: int) -> None:
    """Never handed to workers: disabled with :data:`INGEST_ONLY` as its reason (``wirefeed ingest`` still
    reads the file; beat's scheduler and ``wirefeed fetch`` take enabled feeds only)."""
    conn.execute(
        """UPDATE feeds SET disabled_at = now(), disabled_reason = %s, claimed_until = NULL, claimed_by = NULL
           WHERE id = %s AND (disabled_at IS NULL OR disabled_reason IS DISTINCT FROM %s)""",
        (INGEST_ONLY, feed_id, INGEST_ONLY))


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


def set_page_mode(conn: psycopg.Connection, feed_id: int, mode: str | None) -> bool:
    """The feed's own page mode (``auto``, ``always``, ``never``; None: the global setting)."""
    row = conn.execute("UPDATE feeds SET fetch_pages = %s WHERE id = %s RETURNING id", (mode, feed_id)).fetchone()
    return row is not None
