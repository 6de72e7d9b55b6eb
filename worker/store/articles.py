"""Articles and sightings: the exact-duplicate levels and the batch write of one feed's items.

Every function runs inside the caller's transaction and never commits."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

import psycopg
from psycopg.types.json import Jsonb

from worker.models import Article

NOTIFY_CHANNEL = "wirefeed_articles"
_NOTIFY_CHUNK = 200  # ids per NOTIFY payload (PostgreSQL caps a payload at 8000 bytes)


@dataclass(slots=True)
class Known:
    article_id: int
    entry_hash: str


@dataclass(slots=True)
class BatchResult:
    new: list[tuple[int, Article]] = field(default_factory=list)  # rows inserted by this batch
    changed: list[tuple[int, Article]] = field(default_factory=list)  # known items with new title or text
    duplicates: int = 0  # items that landed on an article that already existed (URL or text)

    @property
    def updated(self) -> int:
        return len(self.changed)


def known_entries(conn: psycopg.Connection, feed_id: int, guids: list[str]) -> dict[str, Known]:
    """One query: which of these items has this feed shown before, and with which entry hash."""
    if not guids:
        return {}
    rows = conn.execute(
        "SELECT guid, article_id, entry_hash FROM article_sightings WHERE feed_id = %s AND guid = ANY(%s)",
        (feed_id, guids),
    ).fetchall()
    return {g: Known(int(a), h) for g, a, h in rows}


def _lookup(conn: psycopg.Connection, urls: list[str], hashes: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    by_url: dict[str, int] = {}
    by_hash: dict[str, int] = {}
    if not urls and not hashes:
        return by_url, by_hash
    # One index probe per value, whatever the planner's statistics say: "url = ANY(..) OR content_hash =
    # ANY(..)" is planned as a sequential scan of articles when they are missing or stale, a cost that grows
    # with the table; two joins on the unique indexes cannot be.
    rows = conn.execute(
        """SELECT a.id, a.url, a.content_hash FROM unnest(%s::text[]) AS u(v) JOIN articles a ON a.url = u.v
           UNION ALL
           SELECT a.id, a.url, a.content_hash FROM unnest(%s::text[]) AS h(v)
           JOIN articles a ON a.content_hash = h.v
           UNION ALL
           SELECT u.article_id, u.url, NULL FROM unnest(%s::text[]) AS w(v) JOIN article_urls u ON u.url = w.v""",
        (urls, hashes, urls),
    ).fetchall()
    for aid, url, chash in rows:  # article_urls: another address of an article (a page's canonical URL)
        if url is not None:
            by_url.setdefault(url, int(aid))
        if chash is not None:
            by_hash[chash] = int(aid)
    return by_url, by_hash


_INSERT = """
INSERT INTO articles (url, title, summary, content_text, content_html, author, publisher, syndicator,
                      language, published_at, published_raw, content_hash, feed_id, categories, enclosures)
VALUES (%(url)s, %(title)s, %(summary)s, %(content_text)s, %(content_html)s, %(author)s, %(publisher)s,
        %(syndicator)s, %(language)s, %(published_at)s, %(published_raw)s, %(content_hash)s, %(feed_id)s,
        %(categories)s, %(enclosures)s)
ON CONFLICT DO NOTHING
RETURNING id
"""


def _row(a: Article, feed_id: int) -> dict[str, object]:
    return {
        "url": a.url, "title": a.title, "summary": a.summary, "content_text": a.content_text,
        "content_html": a.content_html, "author": a.author, "publisher": a.publisher,
        "syndicator": a.syndicator, "language": a.language, "published_at": a.published_at,
        "published_raw": a.published_raw, "content_hash": a.content_hash, "feed_id": feed_id,
        "categories": a.categories, "enclosures": Jsonb(a.enclosures),
    }


def _update_changed(conn: psycopg.Connection, article_id: int, a: Article) -> int:
    """Apply a changed item's new title/text to its article. If the new text is already another
    article's (unique content hash or URL), the item now points at that one instead."""
    try:
        with conn.transaction():  # a savepoint in the caller's transaction: a unique violation undoes only this
            conn.execute(
                """UPDATE articles SET title = %s, summary = %s, content_text = %s, content_html = %s,
                       author = %s, content_hash = %s, categories = %s, enclosures = %s,
                       url = coalesce(url, %s), updated_at = now()
                   WHERE id = %s""",
                (a.title, a.summary, a.content_text, a.content_html, a.author, a.content_hash,
                 a.categories, Jsonb(a.enclosures), a.url, article_id),
            )
        return article_id
    except psycopg.errors.UniqueViolation:
        by_url, by_hash = _lookup(conn, [a.url] if a.url else [], [a.content_hash])
        return by_hash.get(a.content_hash) or (by_url.get(a.url) if a.url else None) or article_id


def store_batch(
    conn: psycopg.Connection,
    feed_id: int,
    items: list[Article],
    known: dict[str, Known],
) -> BatchResult:
    """Write one feed's new and changed items inside the caller's transaction.

    Exact duplicates (same canonical URL or same normalised text, already stored or earlier in this
    batch) are not stored twice: their sighting points at the existing article. Every item gets a
    sighting. Concurrent writers of the same article meet at the unique indexes (ON CONFLICT).
    """
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        # outside a transaction, the savepoint of a changed item would be a transaction of its own and commit
        raise RuntimeError("store_batch must run inside the caller's transaction")
    result = BatchResult()
    target: dict[str, int] = {}  # guid -> article id
    fresh: list[Article] = []
    for a in items:
        k = known.get(a.guid)
        if k is not None:
            target[a.guid] = _update_changed(conn, k.article_id, a)
            result.changed.append((target[a.guid], a))
        else:
            fresh.append(a)

    by_url, by_hash = _lookup(conn, [a.url for a in fresh if a.url], [a.content_hash for a in fresh])
    to_insert: list[Article] = []
    pending_dups: list[Article] = []
    batch_urls: set[str] = set()
    batch_hashes: set[str] = set()
    for a in fresh:
        existing = by_hash.get(a.content_hash) or (by_url.get(a.url) if a.url else None)
        if existing is not None:
            target[a.guid] = existing
            result.duplicates += 1
        elif a.content_hash in batch_hashes or (a.url is not None and a.url in batch_urls):
            pending_dups.append(a)  # a copy of an item earlier in this batch: resolved after insert
        else:
            to_insert.append(a)
            batch_hashes.add(a.content_hash)
            if a.url:
                batch_urls.add(a.url)

    lost_race: list[Article] = []
    if to_insert:
        with conn.cursor() as cur:
            cur.executemany(_INSERT, [_row(a, feed_id) for a in to_insert], returning=True)
            for a in to_insert:
                row = cur.fetchone()
                if row is None:
                    lost_race.append(a)  # a concurrent writer stored it first
                else:
                    target[a.guid] = int(row[0])
                    result.new.append((int(row[0]), a))
                    by_hash[a.content_hash] = int(row[0])
                    if a.url:
                        by_url[a.url] = int(row[0])
                cur.nextset()
    if lost_race:
        u2, h2 = _lookup(conn, [a.url for a in lost_race if a.url], [a.content_hash for a in lost_race])
        by_url.update(u2)
        by_hash.update(h2)
        pending_dups.extend(lost_race)
    for a in pending_dups:
        aid = by_hash.get(a.content_hash) or (by_url.get(a.url) if a.url else None)
        if aid is None:  # pragma: no cover - both keys vanished: only if a row was deleted meanwhile
            raise RuntimeError(f"article for item {a.guid!r} disappeared during the batch")
        target[a.guid] = aid
        result.duplicates += 1

    if items:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO article_sightings (feed_id, guid, article_id, link, entry_hash)
                   VALUES (%s, %s, %s, %s, %s)
                   ON CONFLICT (feed_id, guid) DO UPDATE
                   SET article_id = EXCLUDED.article_id, link = EXCLUDED.link,
                       entry_hash = EXCLUDED.entry_hash, changed_at = now()""",
                [(feed_id, a.guid, target[a.guid], a.link, a.entry_hash) for a in items],
            )
    return result


def notify_new(conn: psycopg.Connection, feed_id: int, rows: Iterable[tuple[int, int | None]]) -> None:
    """Queue NOTIFY payloads (delivered at commit) listing the new articles and their stories."""
    rows = list(rows)
    for i in range(0, len(rows), _NOTIFY_CHUNK):
        chunk = rows[i : i + _NOTIFY_CHUNK]
        payload = json.dumps({
            "feed_id": feed_id,
            "articles": [{"id": aid, "story_id": sid} for aid, sid in chunk],
        }, separators=(",", ":"))
        conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, payload))
