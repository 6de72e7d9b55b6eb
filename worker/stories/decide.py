"""The story decision for one batch of articles: candidates in, links out (pure, no I/O).

The caller (``worker.pipeline_stories``) fingerprints the batch, looks its candidate keys up in the story
index once, and hands the stored articles found to :func:`shortlist`; it then reads the texts of those worth
an exact check (:func:`texts_to_verify`) and hands them to :func:`decide_batch`. Each article, oldest id
first, is verified exactly (``fingerprint.compare``: Jaccard, containment, template guard) against its
stored candidates and against the batch's earlier articles that share a key with it; it joins the best
verified match's story or starts its own, and the link says why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from worker.models import Article
from worker.stories import fingerprint as fpr

# same_text / same_url: an article's page turned out to be another article's (worker.pipeline_pages)
LinkMethod = Literal["new", "near_duplicate", "containment", "same_text", "same_url"]

# Lookup caps (README, "Tuning"): they bound the work per article however large the index grows.
CANDIDATES_PER_KEY = 20  # newest articles read per key: a hot key (template, common title) stays cheap
PREFILTER_JACCARD = 0.3  # estimated from signatures, before the exact check
PREFILTER_CONTAINMENT = 0.6
VERIFY_LIMIT = 8  # candidates verified exactly per article, best estimate first


@dataclass(frozen=True, slots=True)
class StoryLink:
    """The story decision for one article (stored in ``article_links``)."""

    article_id: int
    story_id: int
    linked_to: int | None  # the earlier article it matched, None for a new story
    method: LinkMethod
    score: float | None
    reason: str
    jaccard: float | None = None
    containment: float | None = None


@dataclass(slots=True)
class IndexedArticle:
    """A stored article found under at least one of the batch's candidate keys."""

    article_id: int
    story_id: int
    signature: np.ndarray  # its MinHash signature, for the estimate before any text is read
    shingle_count: int
    keys: list[int]  # the batch's keys it is indexed under


@dataclass(frozen=True, slots=True)
class ArticleText:
    """What the exact check reads of a candidate."""

    title: str
    text: str


@dataclass(slots=True)
class Candidate:
    article_id: int
    story_id: int
    est_jaccard: float
    est_containment: float

    @property
    def estimate(self) -> float:
        return max(self.est_jaccard, self.est_containment)


@dataclass(slots=True)
class Pending:
    """One article of the batch on its way to a story decision."""

    article_id: int
    article: Article
    fp: fpr.Fingerprint
    stored: list[Candidate]  # indexed articles that passed the prefilter
    dropped: Candidate | None  # the closest indexed one that did not


def story_text(a: Article) -> str:
    """The text an article is fingerprinted and compared on."""
    return a.content_text or a.summary or ""


def fingerprints(items: Iterable[tuple[int, Article]]) -> dict[int, fpr.Fingerprint]:
    return {aid: fpr.fingerprint(a.title, story_text(a)) for aid, a in items}


def by_key(found: Iterable[IndexedArticle]) -> dict[int, list[IndexedArticle]]:
    """Key -> the stored articles indexed under it."""
    out: dict[int, list[IndexedArticle]] = {}
    for stored in found:
        for k in stored.keys:
            out.setdefault(k, []).append(stored)
    return out


def _estimate(fp: fpr.Fingerprint, article_id: int, story_id: int, signature: np.ndarray,
              shingle_count: int) -> Candidate:
    est_j = fpr.estimated_jaccard(fp.signature, signature)
    est_c = fpr.estimated_containment(est_j, shingle_count, int(fp.shingles.size))
    return Candidate(article_id, story_id, est_j, est_c)


def prefilter(cands: Iterable[Candidate]) -> tuple[list[Candidate], Candidate | None]:
    """The candidates worth an exact check, best estimate first (at most VERIFY_LIMIT), and the closest one
    that did not pass (to explain a "new story" decision)."""
    out: list[Candidate] = []
    dropped: Candidate | None = None
    for cand in cands:
        if cand.est_jaccard >= PREFILTER_JACCARD or cand.est_containment >= PREFILTER_CONTAINMENT:
            out.append(cand)
        elif dropped is None or (cand.estimate, -cand.article_id) > (dropped.estimate, -dropped.article_id):
            dropped = cand
    out.sort(key=lambda c: (-c.estimate, c.article_id))
    return out[:VERIFY_LIMIT], dropped


def stored_candidates(
    fp: fpr.Fingerprint, indexed: Mapping[int, list[IndexedArticle]]
) -> tuple[list[Candidate], Candidate | None]:
    """The stored articles sharing a key with ``fp``, estimated and prefiltered (see :func:`prefilter`)."""
    seen = {s.article_id: s for k in fp.keys for s in indexed.get(k, ())}
    return prefilter(_estimate(fp, s.article_id, s.story_id, s.signature, s.shingle_count) for s in seen.values())


def shortlist(items: Sequence[tuple[int, Article]], fps: Mapping[int, fpr.Fingerprint],
              found: Iterable[IndexedArticle]) -> list[Pending]:
    """Each article of the batch (id order) with the stored candidates that pass the prefilter."""
    indexed = by_key(found)
    out = []
    for aid, art in items:
        stored, dropped = stored_candidates(fps[aid], indexed)
        out.append(Pending(aid, art, fps[aid], stored, dropped))
    return out


def texts_to_verify(pending: Iterable[Pending]) -> set[int]:
    """The stored articles whose texts the exact check needs."""
    return {c.article_id for p in pending for c in p.stored}


def _verify(
    article: Article, fp: fpr.Fingerprint, cands: list[Candidate], texts: Mapping[int, ArticleText]
) -> tuple[Candidate | None, fpr.Verdict | None, str]:
    """Exact check of each candidate; returns the best match (or None) and, if none, why not."""
    best: tuple[Candidate, fpr.Verdict] | None = None
    closest: tuple[Candidate, fpr.Verdict] | None = None
    for c in cands:
        found = texts.get(c.article_id)
        if found is None:  # deleted since it was found in the index
            continue
        v = fpr.compare(found.title, found.text, article.title, story_text(article), fp_b=fp)
        if v.same and (best is None or (v.score, -c.article_id) > (best[1].score, -best[0].article_id)):
            best = (c, v)
        elif not v.same and (closest is None or v.score > closest[1].score):
            closest = (c, v)
    if best is not None:
        return best[0], best[1], ""
    why = f"closest: article {closest[0].article_id}: {closest[1].reason}" if closest else ""
    return None, None, why


def _decide(p: Pending, cands: list[Candidate], dropped: Candidate | None,
            texts: Mapping[int, ArticleText]) -> StoryLink:
    aid, fp = p.article_id, p.fp
    if not fp.keys:
        return StoryLink(aid, aid, None, "new", None,
                         f"text too short for near-duplicate matching ({fp.word_count} words)")
    cand, verdict, why = _verify(p.article, fp, cands, texts)
    if not why and dropped is not None:
        why = (f"closest: article {dropped.article_id}, estimated jaccard {dropped.est_jaccard:.2f}, "
               f"containment {dropped.est_containment:.2f} (below the prefilter)")
    if cand is not None and verdict is not None and verdict.method != "distinct":
        return StoryLink(aid, cand.story_id, cand.article_id, verdict.method, round(verdict.score, 4),
                         f"{verdict.reason} (vs article {cand.article_id})",
                         round(verdict.jaccard, 4), round(verdict.containment, 4))
    return StoryLink(aid, aid, None, "new", None,
                     f"no earlier copy; {why}" if why else "no earlier copy among the candidates")


def decide_batch(pending: Sequence[Pending], texts: Mapping[int, ArticleText]) -> dict[int, StoryLink]:
    """The story of each pending article (in order): its stored candidates and the batch's earlier articles
    that share a key with it, verified exactly; the best verified match's story, or a story of its own."""
    known = dict(texts)
    links: dict[int, StoryLink] = {}
    batch_keys: dict[int, list[Pending]] = {}  # key -> earlier articles of this batch indexed under it
    for p in pending:
        earlier = {q.article_id: q for k in p.fp.keys for q in batch_keys.get(k, ())}
        local = [_estimate(p.fp, q.article_id, links[q.article_id].story_id, q.fp.signature,
                           int(q.fp.shingles.size)) for q in earlier.values()]
        cands, dropped = prefilter([*p.stored, *local, *([p.dropped] if p.dropped else [])])
        for q in earlier.values():
            known.setdefault(q.article_id, ArticleText(q.article.title, story_text(q.article)))
        links[p.article_id] = _decide(p, cands, dropped, known)
        for k in p.fp.keys:
            batch_keys.setdefault(k, []).append(p)
    return links
