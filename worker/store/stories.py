"""Stories in PostgreSQL: key claims, the candidate index, links, and the reads behind ``wirefeed story``.

Every function runs inside the caller's transaction. Integer arrays are sent as PostgreSQL literals
(:func:`int_array`, cast in the query) and several rows as one statement over unnested arrays: per element
or per row, the driver would cost more than PostgreSQL.

Claims (``story_claims``) serialise story assignment between transactions that share a candidate key: a
batch claims every key before it looks anything up and deletes the claims before it commits, so a second
batch holding a copy of the same story waits on the first's uncommitted claim, then sees its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg

from worker.stories.decide import ArticleText, IndexedArticle, LinkMethod, StoryLink
from worker.stories.fingerprint import SCHEME, Fingerprint, signature_bytes, signature_from_bytes
from worker.stories.redecide import Membership


def int_array(values: Iterable[int]) -> str:
    """An integer array as a PostgreSQL literal (``'{1,2}'``, cast in the query): adapting a Python list
    costs psycopg a type check per element, about 100 µs for a typical article's keys."""
    return "{" + ",".join(map(str, values)) + "}"


# --- claims ----------------------------------------------------------------------------------------------------

def claim_keys(conn: psycopg.Connection, keys: Iterable[int]) -> list[int]:
    """Claim these keys for this transaction: one ``story_claims`` row each, inserted in ascending order, so
    two batches never wait on each other in a cycle. A transaction that meets another's uncommitted claim
    waits for it to end. Returns the keys claimed, for :func:`release_keys`."""
    claimed = sorted(set(keys))
    if claimed:
        conn.execute(
            "INSERT INTO story_claims (band_key) SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k "
            "ON CONFLICT DO NOTHING",
            (int_array(claimed),),
        )
    return claimed


def release_keys(conn: psycopg.Connection, claimed: list[int]) -> None:
    """Delete this transaction's claims, still inside it. A waiting transaction goes on when this one ends;
    and no claim is ever committed, so every claim of a later batch is a fresh insert that waits for any
    transaction in flight holding the same key (a committed row would make it wait for nothing)."""
    if claimed:
        # a join on the key, not "band_key = ANY(..)": that is planned as a scan of every dead claim row when
        # the table's statistics are missing (autovacuum off), and the scan grows with each batch
        conn.execute("DELETE FROM story_claims c USING unnest(%s::bigint[]) AS k(v) WHERE c.band_key = k.v",
                     (int_array(claimed),))


# --- the candidate index -----------------------------------------------------------------------------------------

# At most per_key rows per key, newest first, by index-only scans of article_bands: the cost per batch stays
# flat however large the table grows, and a hot key (a template lead, a common title) stays cheap.
CANDIDATES_SQL = """
SELECT c.article_id, array_agg(q.k), f.signature, f.shingle_count, coalesce(a.story_id, a.id)
FROM unnest(%(keys)s::bigint[]) AS q(k)
CROSS JOIN LATERAL (
    SELECT b.article_id FROM article_bands b
    WHERE b.band_key = q.k
    ORDER BY b.article_id DESC
    LIMIT %(per_key)s
) c
JOIN article_fingerprints f ON f.article_id = c.article_id
JOIN articles a ON a.id = c.article_id
WHERE c.article_id <> ALL(%(exclude)s::bigint[])
GROUP BY c.article_id, f.signature, f.shingle_count, a.story_id, a.id
"""


def indexed_under(conn: psycopg.Connection, keys: Iterable[int], exclude: Iterable[int], *,
                  per_key: int) -> list[IndexedArticle]:
    """One query for a whole batch: the stored articles indexed under any of ``keys`` (the newest ``per_key``
    per key), other than ``exclude``, each with its signature, story and the keys it was found under."""
    wanted = sorted(set(keys))
    if not wanted:
        return []
    rows = conn.execute(CANDIDATES_SQL, {
        "keys": int_array(wanted), "per_key": per_key, "exclude": int_array(sorted(set(exclude))),
    }).fetchall()
    return [IndexedArticle(int(cid), int(story_id), signature_from_bytes(bytes(sig)), int(count),
                           [int(k) for k in matched])
            for cid, matched, sig, count, story_id in rows]


def texts(conn: psycopg.Connection, ids: set[int]) -> dict[int, ArticleText]:
    """Title and text of these articles, as the exact check compares them."""
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, title, coalesce(nullif(content_text, ''), summary, '') FROM articles WHERE id = ANY(%s::bigint[])",
        (int_array(sorted(ids)),),
    ).fetchall()
    return {int(r[0]): ArticleText(r[1] or "", r[2] or "") for r in rows}


def index_keys(conn: psycopg.Connection, ids: Sequence[int]) -> dict[int, list[int]]:
    """The keys each of these articles is indexed under now (articles with no fingerprint are absent)."""
    return dict(conn.execute(
        "SELECT article_id, keys FROM article_fingerprints WHERE article_id = ANY(%s)", (list(ids),)
    ).fetchall())


def drop_index_rows(conn: psycopg.Connection, article_id: int, keys: list[int]) -> None:
    """Remove an article's rows from the candidate index (before :func:`index` writes its new ones)."""
    conn.execute("DELETE FROM article_bands WHERE band_key = ANY(%s) AND article_id = %s", (keys, article_id))


def index(conn: psycopg.Connection, items: Sequence[tuple[int, Fingerprint]]) -> None:
    """Fingerprint rows (replacing any) and candidate-index rows for these articles: two statements whatever
    their number (the caller has removed older index rows)."""
    if not items:
        return
    keys = [sorted(set(fp.keys)) for _, fp in items]
    conn.execute(
        """INSERT INTO article_fingerprints (article_id, scheme, signature, shingle_count, word_count, keys)
           SELECT v.id, %s, v.sig, v.shingles, v.words, v.keys::bigint[]
           FROM unnest(%s::bigint[], %s::bytea[], %s::int[], %s::int[], %s::text[]) AS v(id, sig, shingles, words, keys)
           ON CONFLICT (article_id) DO UPDATE SET scheme = EXCLUDED.scheme, signature = EXCLUDED.signature,
               shingle_count = EXCLUDED.shingle_count, word_count = EXCLUDED.word_count,
               keys = EXCLUDED.keys, updated_at = now()""",
        (SCHEME, int_array(aid for aid, _ in items), [signature_bytes(fp.signature) for _, fp in items],
         int_array(int(fp.shingles.size) for _, fp in items), int_array(fp.word_count for _, fp in items),
         [int_array(k) for k in keys]),
    )
    band_keys = [k for ks in keys for k in ks]
    if band_keys:
        band_ids = [aid for (aid, _), ks in zip(items, keys, strict=True) for _ in ks]
        conn.execute(
            "INSERT INTO article_bands (band_key, article_id) SELECT * FROM unnest(%s::bigint[], %s::bigint[])",
            (int_array(band_keys), int_array(band_ids)),
        )


def prune_bands(conn: psycopg.Connection, limit: int = 10000) -> int:
    """Remove up to ``limit`` index rows of deleted articles (``article_bands`` has no foreign key: one would
    cost a lookup per key on every insert). Returns the rows removed."""
    cur = conn.execute(
        """DELETE FROM article_bands b WHERE ctid = ANY(ARRAY(
               SELECT b2.ctid FROM article_bands b2
               WHERE NOT EXISTS (SELECT 1 FROM article_fingerprints f WHERE f.article_id = b2.article_id)
               LIMIT %s))""",
        (limit,),
    )
    return cur.rowcount


# --- links ---------------------------------------------------------------------------------------------------

def set_stories(conn: psycopg.Connection, links: Sequence[StoryLink]) -> None:
    """``articles.story_id`` of each linked article, in one statement."""
    if links:
        conn.execute(
            "UPDATE articles a SET story_id = v.s FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, s) "
            "WHERE a.id = v.id",
            (int_array(x.article_id for x in links), int_array(x.story_id for x in links)),
        )


def write_links(conn: psycopg.Connection, links: Sequence[StoryLink], *, set_story: bool = True) -> None:
    """Each article's story and the reason for it: two statements whatever the batch size. ``set_story``
    False: the rows already carry their story (inserted with it), only the links are written."""
    if not links:
        return
    if set_story:
        set_stories(conn, links)
    conn.execute(
        """INSERT INTO article_links (article_id, linked_to, story_id, method, score, jaccard, containment, reason)
           SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[], %s::real[], %s::real[],
                                %s::real[], %s::text[])
           ON CONFLICT (article_id) DO UPDATE SET linked_to = EXCLUDED.linked_to,
               story_id = EXCLUDED.story_id, method = EXCLUDED.method, score = EXCLUDED.score,
               jaccard = EXCLUDED.jaccard, containment = EXCLUDED.containment, reason = EXCLUDED.reason,
               created_at = now()""",
        ([x.article_id for x in links], [x.linked_to for x in links], [x.story_id for x in links],
         [x.method for x in links], [x.score for x in links], [x.jaccard for x in links],
         [x.containment for x in links], [x.reason for x in links]),
    )


# --- a story decided again (an article's page arrived) ----------------------------------------------------------

def membership(conn: psycopg.Connection, article_id: int) -> Membership | None:
    row = conn.execute(
        """SELECT coalesce(a.story_id, a.id),
                  (SELECT count(*) FROM articles o WHERE o.story_id = a.id AND o.id <> a.id)
           FROM articles a WHERE a.id = %s""", (article_id,)).fetchone()
    return Membership(article_id, int(row[0]), int(row[1])) if row else None


def merge_stories(conn: psycopg.Connection, gone: int, into: int, reason: str) -> int:
    """Every article of story ``gone`` joins story ``into``; each one's link keeps why. Returns how many moved."""
    conn.execute(
        """UPDATE article_links SET story_id = %s, reason = left(reason || '; ' || %s, 2000)
           WHERE article_id IN (SELECT id FROM articles WHERE story_id = %s)""", (into, reason, gone))
    cur = conn.execute("UPDATE articles SET story_id = %s WHERE story_id = %s", (into, gone))
    return cur.rowcount


def set_link_reason(conn: psycopg.Connection, article_id: int, reason: str) -> bool:
    """Replace the reason of an article's story link (its story unchanged); False when it has no link."""
    cur = conn.execute("UPDATE article_links SET reason = left(%s, 2000), created_at = now() WHERE article_id = %s",
                       (reason, article_id))
    return cur.rowcount > 0


def story_of(conn: psycopg.Connection, article_id: int) -> int | None:
    row = conn.execute("SELECT coalesce(story_id, id) FROM articles WHERE id = %s", (article_id,)).fetchone()
    return int(row[0]) if row else None


# --- reads: ``wirefeed story`` and ``wirefeed reindex-stories`` --------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoryMember:
    """One article of a story, with why it is in it. Field order is ``wirefeed story --json``'s."""

    article_id: int
    story_id: int
    published_at: datetime | None
    publisher: str | None
    syndicator: str | None
    title: str
    url: str | None
    linked_to: int | None
    method: LinkMethod | None  # None: no decision stored (an article from before story detection)
    score: float | None
    reason: str | None


def story_members(conn: psycopg.Connection, id_or_url: str | int) -> list[StoryMember]:
    """The story of an article (by id or canonical URL), first article first; empty when there is none."""
    if isinstance(id_or_url, int) or str(id_or_url).isdigit():
        row = conn.execute("SELECT coalesce(story_id, id) FROM articles WHERE id = %s", (int(id_or_url),)).fetchone()
    else:
        row = conn.execute("SELECT coalesce(story_id, id) FROM articles WHERE url = %s", (str(id_or_url),)).fetchone()
    if row is None:
        return []
    rows = conn.execute(
        """SELECT a.id, coalesce(a.story_id, a.id), a.published_at, a.publisher, a.syndicator, a.title, a.url,
                  l.linked_to, l.method, l.score, l.reason
           FROM articles a LEFT JOIN article_links l ON l.article_id = a.id
           WHERE a.story_id = %s OR a.id = %s
           ORDER BY a.id""",
        (row[0], row[0]),
    ).fetchall()
    return [StoryMember(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class StaleArticle:
    """An article whose fingerprint is missing or from an older scheme: what re-indexing it reads."""

    article_id: int
    url: str | None
    title: str
    content_text: str
    summary: str | None


def count_stale(conn: psycopg.Connection, *, everything: bool = False) -> int:
    """How many articles have no fingerprint or one from an older scheme (all of them with ``everything``)."""
    row = conn.execute(
        """SELECT count(*) FROM articles a LEFT JOIN article_fingerprints f ON f.article_id = a.id
           WHERE %s OR f.article_id IS NULL OR f.scheme < %s""", (everything, SCHEME)).fetchone()
    return int(row[0]) if row else 0


def stale_after(conn: psycopg.Connection, after_id: int, limit: int, *, everything: bool = False
                ) -> list[StaleArticle]:
    """The next ``limit`` stale articles (see :func:`count_stale`) with ids above ``after_id``, in id order."""
    rows = conn.execute(
        """SELECT a.id, a.url, a.title, a.content_text, a.summary
           FROM articles a LEFT JOIN article_fingerprints f ON f.article_id = a.id
           WHERE a.id > %s AND (%s OR f.article_id IS NULL OR f.scheme < %s)
           ORDER BY a.id LIMIT %s""", (after_id, everything, SCHEME, limit)).fetchall()
    return [StaleArticle(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]
