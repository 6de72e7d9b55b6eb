"""Articles and sightings: the exact-duplicate levels and the batch write of one feed's items.

Every function runs inside the caller's transaction and never commits."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

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
    # reserved id of a row that lost a race to a concurrent writer -> the id of the article that won it
    replaced: dict[int, int] = field(default_factory=dict)

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


# Every column of a new row in one statement per batch (arrays unnested): one parse and one plan for the
# batch, not one per row. The row is written once: its id reserved beforehand (:func:`reserve_ids`), its story
# decided before the insert, and its ingest_seq drawn here under the commit-order lock (migration 0013).
# categories travel as JSON arrays: a text[] per row cannot be one element of a text[][] (arrays of arrays
# must be rectangular).
_INSERT = """
INSERT INTO articles (id, url, title, summary, content_text, content_html, author, publisher, syndicator,
                      language, published_at, published_raw, content_hash, feed_id, categories, enclosures,
                      story_id, ingest_seq)
OVERRIDING SYSTEM VALUE
SELECT v.id, v.url, v.title, v.summary, v.content_text, v.content_html, v.author, v.publisher, v.syndicator,
       v.language, v.published_at, v.published_raw, v.content_hash, %s,
       ARRAY(SELECT jsonb_array_elements_text(v.categories)), v.enclosures, v.story_id,
       nextval('articles_ingest_seq')
FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
            %s::text[], %s::text[], %s::timestamptz[], %s::text[], %s::text[], %s::jsonb[], %s::jsonb[],
            %s::bigint[])
     WITH ORDINALITY AS v(id, url, title, summary, content_text, content_html, author, publisher, syndicator,
                          language, published_at, published_raw, content_hash, categories, enclosures,
                          story_id, n)
ORDER BY v.n
ON CONFLICT DO NOTHING
RETURNING id
"""

# Commit-order lock of articles.ingest_seq (migration 0004: key 0x77697266, "wirf"), held to the commit.
_SEQ_LOCK = "SELECT pg_advisory_xact_lock(2003399270)"


def reserve_ids(conn: psycopg.Connection, n: int) -> list[int]:
    """``n`` new article ids, ascending, drawn from the identity sequence of ``articles.id``: the ids of the
    rows a batch is about to insert, known before the insert (their stories are decided on them)."""
    if n <= 0:
        return []
    rows = conn.execute(
        "SELECT nextval(pg_get_serial_sequence('articles', 'id')) FROM generate_series(1, %s)", (n,)).fetchall()
    return sorted(int(r[0]) for r in rows)


def _literal(value: object) -> str:
    """One element of a PostgreSQL array literal: NULL, or the value's text in double quotes."""
    if value is None:
        return "NULL"
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def array_literal(values: Iterable[object]) -> str:
    """Values as one PostgreSQL array literal (``'{"a",NULL}'``, cast in the query). psycopg adapts a list
    element by element in Python; for a batch's sixteen columns that cost more than the insert's own parsing."""
    return "{" + ",".join(map(_literal, values)) + "}"


def _insert_rows(conn: psycopg.Connection, feed_id: int, rows: list[tuple[int, Article]],
                 story_of: Mapping[int, int]) -> set[int]:
    """Insert the batch's new rows (reserved ids, in id order) in one statement; returns the ids inserted
    (a row missing lost a race on the URL or the text to a concurrent writer)."""
    arts = [a for _, a in rows]
    cols: list[list[object]] = [
        [aid for aid, _ in rows], [a.url for a in arts], [a.title for a in arts], [a.summary for a in arts],
        [a.content_text for a in arts], [a.content_html for a in arts], [a.author for a in arts],
        [a.publisher for a in arts], [a.syndicator for a in arts], [a.language for a in arts],
        [a.published_at for a in arts], [a.published_raw for a in arts], [a.content_hash for a in arts],
        [json.dumps(a.categories) for a in arts], [json.dumps(a.enclosures) for a in arts],
        [story_of.get(aid) for aid, _ in rows],
    ]
    cur = conn.execute(_INSERT, (feed_id, *(array_literal(c) for c in cols)))
    return {int(r[0]) for r in cur.fetchall()}


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


# (rows about to be inserted: reserved id and item; the batch's changed items) -> story id per reserved id
StoryDecider = Callable[[list[tuple[int, Article]], list[tuple[int, Article]]], Mapping[int, int]]


def store_batch(
    conn: psycopg.Connection,
    feed_id: int,
    items: list[Article],
    known: dict[str, Known],
    *,
    stories: StoryDecider | None = None,
) -> BatchResult:
    """Write one feed's new and changed items inside the caller's transaction.

    Exact duplicates (same canonical URL or same normalised text, already stored or earlier in this
    batch) are not stored twice: their sighting points at the existing article. Every item gets a
    sighting. Concurrent writers of the same article meet at the unique indexes (ON CONFLICT).

    Each new row is written once: its id is reserved first, ``stories`` (when given) decides its story on
    that id before the insert, and the insert numbers it (``ingest_seq``) under the commit-order lock, which
    the transaction then holds to its commit. Without ``stories`` the rows' story_id stays NULL (the caller
    sets it). A row that lost a race is in ``replaced`` with the article that won.
    """
    if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
        # outside a transaction, the savepoint of a changed item would be a transaction of its own and commit
        raise RuntimeError("store_batch must run inside the caller's transaction")
    result = BatchResult()
    target: dict[str, int] = {}  # guid -> article id
    fresh = [a for a in items if a.guid not in known]
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
    rows = list(zip(reserve_ids(conn, len(to_insert)), to_insert, strict=True))
    changed = [(known[a.guid].article_id, a) for a in items if a.guid in known]
    # The story decision claims its keys before this transaction writes any article row, and the commit-order
    # lock comes after every claim: a transaction holding the lock never waits for a claim (docs/operations.md).
    story_of = stories(rows, changed) if stories is not None else {}
    if rows or changed:
        conn.execute(_SEQ_LOCK)
    for aid, a in changed:
        target[a.guid] = _update_changed(conn, aid, a)
        result.changed.append((target[a.guid], a))

    lost_race: dict[int, Article] = {}
    if rows:
        inserted = _insert_rows(conn, feed_id, rows, story_of)
        for aid, a in rows:
            if aid not in inserted:
                lost_race[aid] = a  # a concurrent writer stored it first
                continue
            target[a.guid] = aid
            result.new.append((aid, a))
            by_hash[a.content_hash] = aid
            if a.url:
                by_url[a.url] = aid
    if lost_race:
        u2, h2 = _lookup(conn, [a.url for a in lost_race.values() if a.url],
                         [a.content_hash for a in lost_race.values()])
        by_url.update(u2)
        by_hash.update(h2)
        pending_dups.extend(lost_race.values())
        for lost_id, a in lost_race.items():
            winner = by_hash.get(a.content_hash) or (by_url.get(a.url) if a.url else None)
            if winner is not None:
                result.replaced[lost_id] = winner
    for a in pending_dups:
        found = by_hash.get(a.content_hash) or (by_url.get(a.url) if a.url else None)
        if found is None:  # pragma: no cover - both keys vanished: only if a row was deleted meanwhile
            raise RuntimeError(f"article for item {a.guid!r} disappeared during the batch")
        target[a.guid] = found
        result.duplicates += 1

    if items:
        last = list({a.guid: a for a in items}.values())  # one row per guid (the last item wins, as before)
        conn.execute(
            """INSERT INTO article_sightings (feed_id, guid, article_id, link, entry_hash)
               SELECT %s, v.guid, v.article_id, v.link, v.entry_hash
               FROM unnest(%s::text[], %s::bigint[], %s::text[], %s::text[]) AS v(guid, article_id, link, entry_hash)
               ON CONFLICT (feed_id, guid) DO UPDATE
               SET article_id = EXCLUDED.article_id, link = EXCLUDED.link,
                   entry_hash = EXCLUDED.entry_hash, changed_at = now()""",
            (feed_id, array_literal(a.guid for a in last), array_literal(target[a.guid] for a in last),
             array_literal(a.link for a in last), array_literal(a.entry_hash for a in last)),
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
