"""Article pages in PostgreSQL: the requests (``article_pages``), their claims and outcomes, what a page changes
in its article, URL aliases (``article_urls``) and the counts operators see.

Every function runs inside the caller's transaction and never commits."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg
from psycopg.rows import class_row

from worker.pages.apply import ArticleFacts, PageUpdate

# --- requests ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A page wanted for an article, as the batch that stored the item asks for it."""

    article_id: int
    feed_id: int
    url: str
    item_key: str
    reason: str
    feed_undated: bool
    feed_words: int


@dataclass(frozen=True, slots=True)
class PageRow:
    """One ``article_pages`` row, as the page step reads it."""

    article_id: int
    feed_id: int | None
    url: str
    item_key: str
    status: str
    claim: int
    fetch_claim: int | None
    attempts: int
    feed_undated: bool


def feed_page_mode(conn: psycopg.Connection, feed_id: int) -> str | None:
    """The feed's own page mode (``wirefeed feeds set ID --pages``), None for the global setting."""
    row = conn.execute("SELECT fetch_pages FROM feeds WHERE id = %s", (feed_id,)).fetchone()
    return row[0] if row else None


def history(conn: psycopg.Connection, feed_id: int, limit: int = 10) -> list[tuple[int, int]]:
    """(item words, page words) of the feed's most recent pages that were read, newest first."""
    rows = conn.execute(
        """SELECT feed_words, page_words FROM article_pages
           WHERE feed_id = %s AND page_words IS NOT NULL AND feed_words IS NOT NULL
           ORDER BY extracted_at DESC NULLS LAST LIMIT %s""", (feed_id, limit)).fetchall()
    return [(int(f), int(p)) for f, p in rows]


def request_pages(conn: psycopg.Connection, requests: Sequence[PageRequest]) -> int:
    """Ask for these pages. An article whose page was already asked for under the same item key keeps its
    request as it is (re-ingesting never fetches again); a new key (the item's link or title changed) starts
    over. Returns the requests made or restarted."""
    if not requests:
        return 0
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO article_pages (article_id, feed_id, url, item_key, reason, feed_undated, feed_words)
               VALUES (%s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (article_id) DO UPDATE SET
                   feed_id = EXCLUDED.feed_id, url = EXCLUDED.url, item_key = EXCLUDED.item_key,
                   status = 'pending', reason = EXCLUDED.reason, detail = NULL, http_status = NULL,
                   final_url = NULL, canonical_url = NULL, site_name = NULL, duplicate_of = NULL,
                   feed_undated = EXCLUDED.feed_undated, feed_words = EXCLUDED.feed_words, page_words = NULL,
                   requested_at = now(), fetched_at = NULL, extracted_at = NULL, updated_at = now(),
                   fetch_claim = NULL, claimed_until = NULL, attempts = 0
               WHERE article_pages.item_key <> EXCLUDED.item_key""",
            [(r.article_id, r.feed_id, r.url, r.item_key, r.reason, r.feed_undated, r.feed_words) for r in requests],
        )
        return max(cur.rowcount, 0)


@dataclass(frozen=True, slots=True)
class KeptText:
    """The page text an article holds, and the item key it was fetched for."""

    article_id: int
    item_key: str
    content_text: str
    content_html: str | None
    content_hash: str
    author: str | None


def page_texts(conn: psycopg.Connection, article_ids: Iterable[int]) -> dict[int, KeptText]:
    """The articles among these whose text came from their page."""
    ids = sorted(set(article_ids))
    if not ids:
        return {}
    with conn.cursor(row_factory=class_row(KeptText)) as cur:
        rows = cur.execute(
            """SELECT a.id AS article_id, p.item_key, a.content_text, a.content_html, a.content_hash, a.author
               FROM articles a JOIN article_pages p ON p.article_id = a.id
               WHERE a.id = ANY(%s) AND a.text_source = 'page'""", (ids,)).fetchall()
    return {r.article_id: r for r in rows}


def back_to_feed_text(conn: psycopg.Connection, article_ids: Sequence[int]) -> None:
    """These articles hold their feed's text again (their item changed): the page's attribution goes with it."""
    if article_ids:
        conn.execute("""UPDATE articles SET text_source = 'feed', credit = NULL, original_url = NULL
                        WHERE id = ANY(%s) AND text_source = 'page'""", (list(article_ids),))


# --- claims ---------------------------------------------------------------------------------------------------


_CLAIM = """
UPDATE article_pages u SET claim = u.claim + 1, claimed_until = now() + make_interval(secs => %(seconds)s),
       claimed_by = (SELECT id FROM workers WHERE id = %(worker)s)
FROM (SELECT p.article_id FROM article_pages p
      WHERE p.status IN ('pending', 'fetched') AND (p.claimed_until IS NULL OR p.claimed_until < now())
        AND (%(feed)s::bigint IS NULL OR p.feed_id = %(feed)s)
        AND (%(ids)s::bigint[] IS NULL OR p.article_id = ANY(%(ids)s))
      ORDER BY p.claimed_until NULLS FIRST, p.article_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) d
WHERE u.article_id = d.article_id
RETURNING u.article_id, u.claim
"""


def claim(conn: psycopg.Connection, *, claim_seconds: int, feed_id: int | None = None,
          article_ids: Sequence[int] | None = None, limit: int = 500,
          worker_id: str | None = None) -> list[tuple[int, int]]:
    """Claim page requests that wait for a fetch or an extraction and are not claimed (or whose claim expired):
    those of one feed, these articles, or any. Returns (article id, claim number) pairs; a message carries
    its claim number, and one of an older claim finds the row moved on and does nothing. ``worker_id``: the
    worker claiming (its claims come back if it dies before a task takes them; None: the command line)."""
    rows = conn.execute(_CLAIM, {"seconds": claim_seconds, "feed": feed_id, "limit": limit, "worker": worker_id,
                                 "ids": list(article_ids) if article_ids is not None else None}).fetchall()
    return sorted((int(a), int(c)) for a, c in rows)


_GET = "SELECT article_id, feed_id, url, item_key, status, claim, fetch_claim, attempts, feed_undated " \
       "FROM article_pages WHERE article_id = %s"
_GET_LOCKED = "SELECT article_id, feed_id, url, item_key, status, claim, fetch_claim, attempts, feed_undated " \
              "FROM article_pages WHERE article_id = %s FOR UPDATE"


def get(conn: psycopg.Connection, article_id: int, *, lock: bool = False) -> PageRow | None:
    with conn.cursor(row_factory=class_row(PageRow)) as cur:
        return cur.execute(_GET_LOCKED if lock else _GET, (article_id,)).fetchone()


def begin_attempt(conn: psycopg.Connection, article_id: int) -> int:
    """Count one more start of a page task for this article; the count including it (0: no such request)."""
    row = conn.execute("UPDATE article_pages SET attempts = attempts + 1 WHERE article_id = %s RETURNING attempts",
                       (article_id,)).fetchone()
    return int(row[0]) if row else 0


def forget_attempt(conn: psycopg.Connection, article_id: int) -> None:
    conn.execute("UPDATE article_pages SET attempts = greatest(attempts - 1, 0) WHERE article_id = %s", (article_id,))


def release(conn: psycopg.Connection, article_id: int, claim_no: int, *, after_seconds: float) -> None:
    """A claim that waits (a busy host, robots.txt unavailable): the sweep takes it again after this long."""
    conn.execute(
        """UPDATE article_pages SET claimed_until = now() + make_interval(secs => %s), attempts = 0
           WHERE article_id = %s AND claim = %s""", (after_seconds, article_id, claim_no))


def mark_fetched(conn: psycopg.Connection, article_id: int, claim_no: int, *, http_status: int | None,
                 final_url: str | None) -> bool:
    """The page's body was fetched under this claim (before it is sent on to be extracted)."""
    row = conn.execute(
        """UPDATE article_pages SET status = 'fetched', fetch_claim = claim, http_status = %s, final_url = %s,
                  fetched_at = now(), updated_at = now(), attempts = 0
           WHERE article_id = %s AND claim = %s AND status IN ('pending', 'fetched') RETURNING 1""",
        (http_status, final_url, article_id, claim_no)).fetchone()
    return row is not None


def finish(conn: psycopg.Connection, article_id: int, status: str, *, reason: str | None, detail: str | None,
           http_status: int | None = None, final_url: str | None = None, canonical_url: str | None = None,
           site_name: str | None = None, duplicate_of: int | None = None, page_words: int | None = None,
           feed_words: int | None = None, fetched: bool = False) -> None:
    """The request's outcome: extracted, kept (the feed's text stays), refused (robots.txt) or failed."""
    conn.execute(
        """UPDATE article_pages SET status = %s, reason = %s, detail = %s,
                  http_status = coalesce(%s, http_status), final_url = coalesce(%s, final_url),
                  canonical_url = %s, site_name = %s, duplicate_of = %s, page_words = %s,
                  feed_words = coalesce(%s, feed_words),
                  fetched_at = CASE WHEN %s THEN now() ELSE fetched_at END,
                  extracted_at = CASE WHEN %s IN ('extracted', 'kept') THEN now() END,
                  updated_at = now(), claimed_until = NULL, attempts = 0
           WHERE article_id = %s""",
        (status, reason, (detail or "")[:1000] or None, http_status, final_url, canonical_url, site_name,
         duplicate_of, page_words, feed_words, fetched, status, article_id))


# --- the article ---------------------------------------------------------------------------------------------


_FACTS = """
SELECT a.id, a.url, a.title, a.summary, a.content_text, a.content_html, a.author, a.publisher, a.syndicator,
       a.language, a.published_at, f.title, coalesce(p.feed_undated, false), a.content_hash
FROM articles a LEFT JOIN article_pages p ON p.article_id = a.id
LEFT JOIN feeds f ON f.id = coalesce(p.feed_id, a.feed_id)
WHERE a.id = %s
"""
_FACTS_LOCKED = _FACTS + "FOR UPDATE OF a\n"


def facts(conn: psycopg.Connection, article_id: int, *, lock: bool = False) -> ArticleFacts | None:
    """What the article holds now, with its request's feed title and date flag (row locked with ``lock``)."""
    row = conn.execute(_FACTS_LOCKED if lock else _FACTS, (article_id,)).fetchone()
    return ArticleFacts(*row) if row else None


def article_with_url(conn: psycopg.Connection, url: str, *, other_than: int) -> int | None:
    """Another article stored under this canonical URL (its own, or an alias)."""
    row = conn.execute(
        """SELECT id FROM articles WHERE url = %s AND id <> %s
           UNION ALL SELECT article_id FROM article_urls WHERE url = %s AND article_id <> %s LIMIT 1""",
        (url, other_than, url, other_than)).fetchone()
    return int(row[0]) if row else None


def article_with_hash(conn: psycopg.Connection, content_hash: str, *, other_than: int) -> int | None:
    row = conn.execute("SELECT id FROM articles WHERE content_hash = %s AND id <> %s",
                       (content_hash, other_than)).fetchone()
    return int(row[0]) if row else None


def apply_update(conn: psycopg.Connection, article_id: int, u: PageUpdate) -> None:
    """Write what the page changes (inside a savepoint the caller holds: another article may have taken the
    text's hash in the meantime, and the unique index then refuses it)."""
    conn.execute(
        """UPDATE articles SET text_source = %s, content_text = %s, content_html = %s, content_hash = %s,
                  author = %s, publisher = %s, syndicator = %s, language = %s, published_at = %s, credit = %s,
                  original_url = %s, updated_at = now()
           WHERE id = %s""",
        (u.text_source, u.content_text, u.content_html, u.content_hash, u.author, u.publisher, u.syndicator,
         u.language, u.published_at, u.credit, u.original_url, article_id))


def add_alias(conn: psycopg.Connection, url: str, article_id: int) -> bool:
    """``url`` (a page's canonical URL) names this article too, unless it names another already."""
    row = conn.execute(
        """INSERT INTO article_urls (url, article_id, source)
           SELECT %s, %s, 'canonical' WHERE NOT EXISTS (SELECT 1 FROM articles WHERE url = %s)
           ON CONFLICT (url) DO NOTHING RETURNING 1""", (url, article_id, url)).fetchone()
    return row is not None


# --- what operators see ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageCounts:
    """Page requests: waiting now, and how those of the last day ended. Field order is ``--json``'s."""

    pending: int  # waiting for a fetch
    fetched: int  # fetched, waiting for extraction
    extracted_last_day: int  # the page's text is now the article's
    kept_last_day: int  # read fine, the feed's text kept (not longer, or another article's text)
    refused_last_day: int  # robots.txt disallows them
    failed_last_day: int
    failed_by_reason: dict[str, int]


def counts(conn: psycopg.Connection) -> PageCounts:
    rows = conn.execute(
        # two index scans (the due index, the updated_at index), never the whole table
        """SELECT status, reason, count(*) FROM (
               SELECT status, coalesce(reason, '') AS reason FROM article_pages
               WHERE status IN ('pending', 'fetched')
               UNION ALL
               SELECT status, coalesce(reason, '') FROM article_pages
               WHERE updated_at > now() - interval '1 day' AND status NOT IN ('pending', 'fetched')) r
           GROUP BY 1, 2""").fetchall()
    by: dict[str, int] = {}
    failed: dict[str, int] = {}
    for status, reason, n in rows:
        by[status] = by.get(status, 0) + int(n)
        if status == "failed":
            failed[reason or "unknown"] = int(n)
    return PageCounts(pending=by.get("pending", 0), fetched=by.get("fetched", 0),
                      extracted_last_day=by.get("extracted", 0), kept_last_day=by.get("kept", 0),
                      refused_last_day=by.get("refused", 0), failed_last_day=by.get("failed", 0),
                      failed_by_reason=dict(sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))))


def has_pages_table(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass('article_pages') IS NOT NULL").fetchone()
    return bool(row and row[0])
