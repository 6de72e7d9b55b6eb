"""Near-duplicate stories in PostgreSQL (issue 5): candidate index, verification, links.

``assign_stories`` runs inside the pipeline's batch transaction, right after the batch's new article rows
are inserted (``story_id`` still NULL). For the whole batch at once:

1. fingerprint each article's cleaned text (``worker.stories.fingerprint.fingerprint``): MinHash signature and candidate
   keys (before any key is claimed);
2. one query looks every key of the batch up in ``article_bands`` (index-only scans, at most
   ``CANDIDATES_PER_KEY`` rows per key, so the cost stays flat however large the table grows); candidates are
   estimated from their stored signatures, and one more query reads the texts of those worth verifying;
3. then, oldest id first and in memory, each article is verified exactly
   (``worker.stories.fingerprint.compare``: Jaccard,
   containment, template guard) against those candidates and against the batch's earlier articles that share
   a key with it; it joins the best verified match's story or starts its own;
4. the decisions (``articles.story_id``, ``article_links`` with method, score and reason) and the index rows
   are written with a handful of statements, whatever the batch size.

Concurrency: before any lookup the batch claims all its keys in ``story_claims`` (sorted, so two batches
never wait on each other in a cycle; see :func:`claim_keys` and migration 0008). A second worker ingesting a
copy of the same story shares at least one key with it (that is what makes it a candidate), so it waits on
that claim until the first batch commits, and then sees its rows. Batches that share no key never wait.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg

from worker.models import Article
from worker.stories import fingerprint as dedupe

SCHEME = 1  # bump when the fingerprint parameters change (old rows are then re-fingerprinted on update)
CANDIDATES_PER_KEY = 20  # newest articles read per key: a hot key (template, common title) stays cheap
PREFILTER_JACCARD = 0.3  # estimated from signatures, before the exact check
PREFILTER_CONTAINMENT = 0.6
VERIFY_LIMIT = 8  # candidates verified exactly per article, best estimate first


@dataclass(frozen=True, slots=True)
class StoryLink:
    """The story decision for one article (also stored in ``article_links``)."""

    article_id: int
    story_id: int
    linked_to: int | None  # the earlier article it matched, None for a new story
    method: str  # "new" | "near_duplicate" | "containment"
    score: float | None
    reason: str
    jaccard: float | None = None
    containment: float | None = None


def _text(a: Article) -> str:
    return a.content_text or a.summary or ""


def int_array(values: Iterable[int]) -> str:
    """An integer array as a PostgreSQL literal (``'{1,2}'``, cast in the query): adapting a Python list
    costs psycopg a type check per element, about 100 µs for a typical article's keys."""
    return "{" + ",".join(map(str, values)) + "}"


def claim_keys(conn: psycopg.Connection, keys: Iterable[int]) -> list[int]:
    """Serialise story assignment between transactions that share any candidate key: one row per key in
    ``story_claims`` (migration 0008), inserted in ascending order, so two batches never wait on each other
    in a cycle. A transaction that meets another's uncommitted claim waits for it to end. Returns the keys
    claimed, for :func:`release_keys`."""
    claimed = sorted(set(keys))
    if claimed:
        conn.execute(
            "INSERT INTO story_claims (band_key) SELECT k FROM unnest(%s::bigint[]) AS k ORDER BY k "
            "ON CONFLICT DO NOTHING",
            (int_array(claimed),),
        )
    return claimed


def release_keys(conn: psycopg.Connection, claimed: list[int]) -> None:
    """Delete this transaction's claims, still inside it. A waiting transaction goes on when this one ends,
    as before; and no claim is ever committed, so every claim of a later batch is a fresh insert that waits
    for any transaction in flight holding the same key (a committed row would make it wait for nothing)."""
    if claimed:
        # a join on the key, not "band_key = ANY(..)": that is planned as a scan of every dead claim row when
        # the table's statistics are missing (autovacuum off), and the scan grows with each batch
        conn.execute("DELETE FROM story_claims c USING unnest(%s::bigint[]) AS k(v) WHERE c.band_key = k.v",
                     (int_array(claimed),))


_CANDIDATES = """
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


@dataclass(slots=True)
class _Stored:
    """An indexed article that shares at least one key with the batch."""

    article_id: int
    story_id: int
    signature: np.ndarray
    shingle_count: int


@dataclass(slots=True)
class _Candidate:
    article_id: int
    story_id: int
    est_jaccard: float
    est_containment: float

    @property
    def estimate(self) -> float:
        return max(self.est_jaccard, self.est_containment)


def _stored_by_key(
    conn: psycopg.Connection, keys: Iterable[int], exclude: Iterable[int]
) -> dict[int, list[_Stored]]:
    """One query for a whole batch: key -> the newest indexed articles under it (at most CANDIDATES_PER_KEY
    per key), with their signatures and stories."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = conn.execute(_CANDIDATES, {
        "keys": int_array(wanted), "per_key": CANDIDATES_PER_KEY, "exclude": int_array(sorted(set(exclude))),
    }).fetchall()
    out: dict[int, list[_Stored]] = {}
    for cid, matched, sig, count, story_id in rows:
        stored = _Stored(int(cid), int(story_id), dedupe.signature_from_bytes(bytes(sig)), int(count))
        for k in matched:
            out.setdefault(int(k), []).append(stored)
    return out


def _estimate(fp: dedupe.Fingerprint, article_id: int, story_id: int, signature: np.ndarray,
              shingle_count: int) -> _Candidate:
    est_j = dedupe.estimated_jaccard(fp.signature, signature)
    est_c = dedupe.estimated_containment(est_j, shingle_count, int(fp.shingles.size))
    return _Candidate(article_id, story_id, est_j, est_c)


def _prefilter(cands: Iterable[_Candidate]) -> tuple[list[_Candidate], _Candidate | None]:
    """The candidates worth an exact check, best estimate first (at most VERIFY_LIMIT), and the closest one
    that did not pass (to explain a "new story" decision)."""
    out: list[_Candidate] = []
    dropped: _Candidate | None = None
    for cand in cands:
        if cand.est_jaccard >= PREFILTER_JACCARD or cand.est_containment >= PREFILTER_CONTAINMENT:
            out.append(cand)
        elif dropped is None or (cand.estimate, -cand.article_id) > (dropped.estimate, -dropped.article_id):
            dropped = cand
    out.sort(key=lambda c: (-c.estimate, c.article_id))
    return out[:VERIFY_LIMIT], dropped


def find_candidates(
    conn: psycopg.Connection, article_id: int, fp: dedupe.Fingerprint
) -> tuple[list[_Candidate], _Candidate | None]:
    """Stored articles sharing a key with ``fp`` that pass the signature prefilter, best estimate first;
    and the closest one that did not pass. (One article's lookup; batches use :func:`assign_stories`.)"""
    return _stored_candidates(fp, _stored_by_key(conn, fp.keys, [article_id]))


def _stored_candidates(
    fp: dedupe.Fingerprint, by_key: dict[int, list[_Stored]]
) -> tuple[list[_Candidate], _Candidate | None]:
    """The indexed articles sharing a key with ``fp``, estimated and prefiltered (see :func:`_prefilter`)."""
    seen = {s.article_id: s for k in fp.keys for s in by_key.get(k, ())}
    return _prefilter(_estimate(fp, s.article_id, s.story_id, s.signature, s.shingle_count) for s in seen.values())


@dataclass(slots=True)
class _Pending:
    """One article of the batch on its way to a story decision."""

    article_id: int
    article: Article
    fp: dedupe.Fingerprint
    stored: list[_Candidate]  # indexed articles that passed the prefilter
    dropped: _Candidate | None


def _texts(conn: psycopg.Connection, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = conn.execute(
        "SELECT id, title, coalesce(nullif(content_text, ''), summary, '') FROM articles WHERE id = ANY(%s::bigint[])",
        (int_array(sorted(ids)),),
    ).fetchall()
    return {int(r[0]): (r[1] or "", r[2] or "") for r in rows}


def _verify(
    article: Article, fp: dedupe.Fingerprint, cands: list[_Candidate], texts: dict[int, tuple[str, str]]
) -> tuple[_Candidate | None, dedupe.Verdict | None, str]:
    """Exact check of each candidate; returns the best match (or None) and, if none, why not."""
    best: tuple[_Candidate, dedupe.Verdict] | None = None
    closest: tuple[_Candidate, dedupe.Verdict] | None = None
    for c in cands:
        if c.article_id not in texts:
            continue
        title, text = texts[c.article_id]
        v = dedupe.compare(title, text, article.title, _text(article), fp_b=fp)
        if v.same and (best is None or (v.score, -c.article_id) > (best[1].score, -best[0].article_id)):
            best = (c, v)
        elif not v.same and (closest is None or v.score > closest[1].score):
            closest = (c, v)
    if best is not None:
        return best[0], best[1], ""
    why = f"closest: article {closest[0].article_id}: {closest[1].reason}" if closest else ""
    return None, None, why


def _decide(p: _Pending, cands: list[_Candidate], dropped: _Candidate | None,
            texts: dict[int, tuple[str, str]]) -> StoryLink:
    aid, fp = p.article_id, p.fp
    if not fp.keys:
        return StoryLink(aid, aid, None, "new", None,
                         f"text too short for near-duplicate matching ({fp.word_count} words)")
    cand, verdict, why = _verify(p.article, fp, cands, texts)
    if not why and dropped is not None:
        why = (f"closest: article {dropped.article_id}, estimated jaccard {dropped.est_jaccard:.2f}, "
               f"containment {dropped.est_containment:.2f} (below the prefilter)")
    if cand is not None and verdict is not None:
        return StoryLink(aid, cand.story_id, cand.article_id, verdict.method, round(verdict.score, 4),
                         f"{verdict.reason} (vs article {cand.article_id})",
                         round(verdict.jaccard, 4), round(verdict.containment, 4))
    return StoryLink(aid, aid, None, "new", None,
                     f"no earlier copy; {why}" if why else "no earlier copy among the candidates")


def _assign_batch(conn: psycopg.Connection, items: list[tuple[int, Article]],
                  fps: dict[int, dedupe.Fingerprint]) -> dict[int, StoryLink]:
    """Story decisions for ``items`` (id order): one lookup for the batch's keys, one read of the texts to
    verify, then each article against the indexed ones and the batch's earlier articles, in memory."""
    if not items:
        return {}
    by_key = _stored_by_key(conn, (k for aid, _ in items for k in fps[aid].keys), (aid for aid, _ in items))
    pending: list[_Pending] = []
    for aid, art in items:
        stored, dropped = _stored_candidates(fps[aid], by_key)
        pending.append(_Pending(aid, art, fps[aid], stored, dropped))
    texts = _texts(conn, {c.article_id for p in pending for c in p.stored})
    links: dict[int, StoryLink] = {}
    batch_keys: dict[int, list[_Pending]] = {}  # key -> earlier articles of this batch indexed under it
    for p in pending:
        earlier = {q.article_id: q for k in p.fp.keys for q in batch_keys.get(k, ())}
        local = [_estimate(p.fp, q.article_id, links[q.article_id].story_id, q.fp.signature,
                           int(q.fp.shingles.size)) for q in earlier.values()]
        cands, dropped = _prefilter([*p.stored, *local, *([p.dropped] if p.dropped else [])])
        for q in earlier.values():
            texts.setdefault(q.article_id, (q.article.title, _text(q.article)))
        links[p.article_id] = _decide(p, cands, dropped, texts)
        for k in p.fp.keys:
            batch_keys.setdefault(k, []).append(p)
    _write(conn, list(links.values()), [(p.article_id, p.fp) for p in pending])
    return links


def _write(conn: psycopg.Connection, links: list[StoryLink], indexed: list[tuple[int, dedupe.Fingerprint]]) -> None:
    """The batch's decisions and index rows: five statements whatever the batch size (arrays unnested on the
    server: one statement per row costs more in the driver than in PostgreSQL)."""
    if links:
        conn.execute(
            "UPDATE articles a SET story_id = v.s FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, s) "
            "WHERE a.id = v.id",
            (int_array(x.article_id for x in links), int_array(x.story_id for x in links)),
        )
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
    _index(conn, indexed)


def _index(conn: psycopg.Connection, items: list[tuple[int, dedupe.Fingerprint]]) -> None:
    """Fingerprint rows and candidate-index rows for these articles (old rows removed by the caller)."""
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
        (SCHEME, int_array(aid for aid, _ in items), [dedupe.signature_bytes(fp.signature) for _, fp in items],
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


def assign_stories(
    conn: psycopg.Connection, new: list[tuple[int, Article]], *, changed: list[tuple[int, Article]] | None = None
) -> dict[int, StoryLink]:
    """Set ``articles.story_id`` for every id in ``new`` (inside the caller's transaction) and say why.

    ``changed``: updated articles of the same batch, whose index rows are refreshed (see
    :func:`refresh_stories`) under the same claims; pass them here rather than calling ``refresh_stories``
    separately, so a batch claims its keys in one sorted sweep and two batches cannot deadlock."""
    if not new and not changed:
        return {}
    items = sorted(new, key=lambda x: x[0])
    upd = sorted(changed or [], key=lambda x: x[0])
    fps = {aid: dedupe.fingerprint(a.title, _text(a)) for aid, a in (*items, *upd)}
    claimed = claim_keys(conn, (k for fp in fps.values() for k in fp.keys))
    out = _assign_batch(conn, items, fps)
    for aid, link in _refresh(conn, upd, fps).items():
        if link is not None:
            out[aid] = link
    release_keys(conn, claimed)
    return out


def refresh_stories(conn: psycopg.Connection, changed: list[tuple[int, Article]]) -> dict[int, StoryLink | None]:
    """An updated article: replace its fingerprint and keys in the index (its story is kept). Articles with
    no fingerprint yet (stored before this module, or by the fallback) get a story decision now."""
    if not changed:
        return {}
    items = sorted(changed, key=lambda x: x[0])
    fps = {aid: dedupe.fingerprint(a.title, _text(a)) for aid, a in items}
    claimed = claim_keys(conn, (k for fp in fps.values() for k in fp.keys))
    out = _refresh(conn, items, fps)
    release_keys(conn, claimed)
    return out


def _refresh(
    conn: psycopg.Connection, items: list[tuple[int, Article]], fps: dict[int, dedupe.Fingerprint]
) -> dict[int, StoryLink | None]:
    if not items:
        return {}
    old: dict[int, list[int]] = dict(conn.execute(
        "SELECT article_id, keys FROM article_fingerprints WHERE article_id = ANY(%s)", ([aid for aid, _ in items],)
    ).fetchall())
    out: dict[int, StoryLink | None] = {}
    unindexed = [(aid, art) for aid, art in items if aid not in old]
    out.update(_assign_batch(conn, unindexed, fps))
    reindex = [(aid, fps[aid]) for aid, _ in items if aid in old]
    for aid, _ in reindex:
        conn.execute("DELETE FROM article_bands WHERE band_key = ANY(%s) AND article_id = %s", (old[aid], aid))
        out[aid] = None
    _index(conn, reindex)
    return out


def prune_bands(conn: psycopg.Connection, limit: int = 10000) -> int:
    """Remove index rows of deleted articles (maintenance; cheap to run periodically). Returns rows removed."""
    cur = conn.execute(
        """DELETE FROM article_bands b WHERE ctid = ANY(ARRAY(
               SELECT b2.ctid FROM article_bands b2
               WHERE NOT EXISTS (SELECT 1 FROM article_fingerprints f WHERE f.article_id = b2.article_id)
               LIMIT %s))""",
        (limit,),
    )
    return cur.rowcount


def story_members(conn: psycopg.Connection, id_or_url: str | int) -> list[dict[str, Any]]:
    """The cluster of an article (by id or canonical URL): each member's outlet, title, score and reason,
    first article first. For ``wirefeed story ID|URL``."""
    if isinstance(id_or_url, int) or str(id_or_url).isdigit():
        row = conn.execute("SELECT coalesce(story_id, id) FROM articles WHERE id = %s", (int(id_or_url),)).fetchone()
    else:
        row = conn.execute("SELECT coalesce(story_id, id) FROM articles WHERE url = %s", (str(id_or_url),)).fetchone()
    if row is None:
        return []
    cols = ("article_id", "story_id", "published_at", "publisher", "syndicator", "title", "url",
            "linked_to", "method", "score", "reason")
    rows = conn.execute(
        """SELECT a.id, coalesce(a.story_id, a.id), a.published_at, a.publisher, a.syndicator, a.title, a.url,
                  l.linked_to, l.method, l.score, l.reason
           FROM articles a LEFT JOIN article_links l ON l.article_id = a.id
           WHERE a.story_id = %s OR a.id = %s
           ORDER BY a.id""",
        (row[0], row[0]),
    ).fetchall()
    return [dict(zip(cols, r, strict=True)) for r in rows]
