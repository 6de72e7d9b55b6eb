"""The story step of the pipeline: claim the batch's keys, look them up, decide, write.

The decision is ``worker.stories.decide`` (pure); every statement is ``worker.store.stories``. This module
only orders them, inside the caller's batch transaction, and keeps the concurrency rules:

* every candidate key of the batch (new and changed articles alike) is claimed before anything is looked up,
  in one sorted sweep, so two batches never wait on each other in a cycle; a second batch holding a copy of
  the same story shares a key with the first, waits for it to commit, and then finds its rows;
* the claims are deleted again before the caller commits, so no claim is ever left behind;
* the index is read once per batch (and the candidates' texts once): statements whose results are not needed
  right away go out in the caller's pipeline mode without a round trip each.

``wirefeed reindex-stories`` (:func:`reindex`) runs the same step over stored articles, one transaction per
batch of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from worker.models import Article
from worker.store import stories as story_store
from worker.stories import decide
from worker.stories.decide import Candidate, LinkMethod, StoryLink
from worker.stories.fingerprint import Fingerprint
from worker.stories.redecide import Redecision, redecide


def assign_stories(
    conn: psycopg.Connection, new: list[tuple[int, Article]], *, changed: list[tuple[int, Article]] | None = None
) -> dict[int, StoryLink]:
    """Set ``articles.story_id`` for every id in ``new`` (inside the caller's transaction) and say why.

    ``changed``: updated articles of the same batch, whose index rows are refreshed (see
    :func:`refresh_stories`) under the same claims; pass them here rather than calling ``refresh_stories``
    separately, so a batch claims its keys in one sorted sweep and two batches cannot deadlock.

    The pipeline decides its new articles' stories before inserting them instead (:func:`decide_stories`,
    then :func:`write_stories`): this is for rows already stored."""
    if not new and not changed:
        return {}
    step = decide_stories(conn, new, changed or [])
    return write_stories(conn, step, {aid for aid, _ in new}, set_story=True)


@dataclass(slots=True)
class StoryStep:
    """A batch's story decisions, made before its new rows are inserted (their keys claimed until
    :func:`write_stories`)."""

    claimed: list[int]
    fps: dict[int, Fingerprint]
    links: dict[int, StoryLink]  # new article id -> its story decision
    pending: list[decide.Pending]
    changed: list[tuple[int, Article]]


def decide_stories(conn: psycopg.Connection, new: list[tuple[int, Article]],
                   changed: list[tuple[int, Article]]) -> StoryStep:
    """Claim the batch's keys (new and changed articles, one sorted sweep) and decide the story of each new
    article on the ids it will have: nothing is written but the claims. The caller inserts the rows with
    these stories, then calls :func:`write_stories` (which releases the claims)."""
    items = sorted(new, key=lambda x: x[0])
    upd = sorted(changed, key=lambda x: x[0])
    fps = decide.fingerprints([*items, *upd])
    claimed = story_store.claim_keys(conn, (k for fp in fps.values() for k in fp.keys))
    links, pending = _decide(conn, items, fps)
    return StoryStep(claimed, fps, links, pending, upd)


def write_stories(conn: psycopg.Connection, step: StoryStep, inserted: set[int], *,
                  changed: list[tuple[int, Article]] | None = None, replaced: dict[int, int] | None = None,
                  set_story: bool = False) -> dict[int, StoryLink]:
    """Store the decisions of :func:`decide_stories` for the rows that were inserted (their links and index
    rows), refresh the changed articles' index rows, and release the claims.

    ``replaced``: rows that lost a race (reserved id -> the article that won): an article of the batch linked
    to one of them joins the winner's story instead (its row is updated: a second write, only then).
    ``set_story``: the rows were inserted without their story (``articles.story_id`` is written here).
    ``changed``: the changed items with the article each one was finally written to (an update whose new text
    was already another article's moved the item there), when it differs from the ids decided on."""
    if changed is not None:
        fp_of = {id(a): step.fps[aid] for aid, a in step.changed}
        step.changed = sorted(changed, key=lambda x: x[0])
        step.fps.update({aid: fp_of[id(a)] for aid, a in changed if id(a) in fp_of})
    links = {aid: link for aid, link in step.links.items() if aid in inserted}
    if replaced:
        fixed = _relink(conn, links, replaced)
        links.update(fixed)
        if not set_story:
            story_store.set_stories(conn, list(fixed.values()))
    story_store.write_links(conn, list(links.values()), set_story=set_story)
    story_store.index(conn, [(p.article_id, p.fp) for p in step.pending if p.article_id in inserted])
    out = dict(links)
    for aid, link in _refresh(conn, step.changed, step.fps).items():
        if link is not None:
            out[aid] = link
    story_store.release_keys(conn, step.claimed)
    return out


def _relink(conn: psycopg.Connection, links: dict[int, StoryLink], replaced: dict[int, int]) -> dict[int, StoryLink]:
    """The links that point at a row that was never stored (it lost a race), pointed at the winner instead."""
    out: dict[int, StoryLink] = {}
    for aid, link in links.items():
        if link.story_id not in replaced and link.linked_to not in replaced:
            continue
        story = link.story_id
        if story in replaced:
            story = story_store.story_of(conn, replaced[story]) or replaced[story]
        linked_to = replaced.get(link.linked_to, link.linked_to) if link.linked_to is not None else None
        out[aid] = StoryLink(aid, story, linked_to, link.method, link.score,
                             f"{link.reason} (its copy was stored concurrently as article {linked_to})",
                             link.jaccard, link.containment)
    return out


def refresh_stories(conn: psycopg.Connection, changed: list[tuple[int, Article]]) -> dict[int, StoryLink | None]:
    """Updated articles: replace each one's fingerprint and keys in the index (its story is kept, None in the
    result). An article with no fingerprint yet (stored before story detection) gets a story decision now."""
    if not changed:
        return {}
    items = sorted(changed, key=lambda x: x[0])
    fps = decide.fingerprints(items)
    claimed = story_store.claim_keys(conn, (k for fp in fps.values() for k in fp.keys))
    out = _refresh(conn, items, fps)
    story_store.release_keys(conn, claimed)
    return out


def find_candidates(conn: psycopg.Connection, article_id: int, fp: Fingerprint
                    ) -> tuple[list[Candidate], Candidate | None]:
    """One article's lookup (batches go through :func:`assign_stories`): the stored articles sharing a key
    with ``fp`` that pass the prefilter, best estimate first, and the closest one that did not."""
    found = story_store.indexed_under(conn, fp.keys, [article_id], per_key=decide.CANDIDATES_PER_KEY)
    return decide.stored_candidates(fp, decide.by_key(found))


def _decide(conn: psycopg.Connection, items: list[tuple[int, Article]], fps: dict[int, Fingerprint]
            ) -> tuple[dict[int, StoryLink], list[decide.Pending]]:
    """Story decisions for ``items`` (id order), with their keys already claimed: nothing is written."""
    if not items:
        return {}, []
    found = story_store.indexed_under(conn, (k for aid, _ in items for k in fps[aid].keys),
                                      (aid for aid, _ in items), per_key=decide.CANDIDATES_PER_KEY)
    pending = decide.shortlist(items, fps, found)
    return decide.decide_batch(pending, story_store.texts(conn, decide.texts_to_verify(pending))), pending


def _assign(conn: psycopg.Connection, items: list[tuple[int, Article]],
            fps: dict[int, Fingerprint]) -> dict[int, StoryLink]:
    """Story decisions for stored ``items`` (id order), with their keys already claimed, written."""
    links, pending = _decide(conn, items, fps)
    story_store.write_links(conn, list(links.values()))
    story_store.index(conn, [(p.article_id, p.fp) for p in pending])
    return links


def _refresh(conn: psycopg.Connection, items: list[tuple[int, Article]],
             fps: dict[int, Fingerprint]) -> dict[int, StoryLink | None]:
    if not items:
        return {}
    old = story_store.index_keys(conn, [aid for aid, _ in items])
    out: dict[int, StoryLink | None] = {}
    out.update(_assign(conn, [(aid, art) for aid, art in items if aid not in old], fps))
    reindexed = [(aid, fps[aid]) for aid, _ in items if aid in old]
    for aid, _ in reindexed:
        story_store.drop_index_rows(conn, aid, old[aid])
        out[aid] = None
    story_store.index(conn, reindexed)
    return out


def redecide_story(conn: psycopg.Connection, article_id: int, article: Article, *, why: str) -> Redecision | None:
    """An article's text changed (its page arrived): fingerprint it again, look it up as a new article would be,
    and apply :func:`worker.stories.redecide.redecide` (never splitting a story); its index rows are replaced.
    Inside the caller's transaction; None when the article is gone."""
    fp = decide.fingerprints([(article_id, article)])[article_id]
    old = story_store.index_keys(conn, [article_id]).get(article_id, [])
    claimed = story_store.claim_keys(conn, [*fp.keys, *old])
    found = story_store.indexed_under(conn, fp.keys, [article_id], per_key=decide.CANDIDATES_PER_KEY)
    pending = decide.shortlist([(article_id, article)], {article_id: fp}, found)
    link = decide.decide_batch(pending, story_store.texts(conn, decide.texts_to_verify(pending)))[article_id]
    result = _apply_redecision(conn, link, why)
    if old:
        story_store.drop_index_rows(conn, article_id, old)
    story_store.index(conn, [(article_id, fp)])
    story_store.release_keys(conn, claimed)
    return result


def join_story_of(conn: psycopg.Connection, article_id: int, other_id: int, method: LinkMethod,
                  reason: str) -> Redecision | None:
    """The article is another one (its page's text or canonical URL is ``other_id``'s): it joins that article's
    story by the same rule (:func:`worker.stories.redecide.redecide`)."""
    story = story_store.story_of(conn, other_id)
    if story is None:
        return None
    return _apply_redecision(conn, StoryLink(article_id, story, other_id, method, 1.0, reason), "page")


def _apply_redecision(conn: psycopg.Connection, link: StoryLink, why: str) -> Redecision | None:
    now = story_store.membership(conn, link.article_id)
    if now is None:
        return None
    result = redecide(now, link, why)
    if result.action == "merge" and result.merged_from is not None:
        story_store.merge_stories(conn, result.merged_from, result.story_id, result.merged_reason or "")
    if result.action != "keep" or link.story_id == now.story_id:
        story_store.write_links(conn, [StoryLink(link.article_id, result.story_id, link.linked_to, link.method,
                                                 link.score, result.reason, link.jaccard, link.containment)])
    elif not story_store.set_link_reason(conn, link.article_id, result.reason):
        story_store.write_links(conn, [StoryLink(link.article_id, now.story_id, None, "new", None, result.reason)])
    return result


@dataclass(slots=True)
class ReindexProgress:
    last_id: int
    reindexed: int  # fingerprints replaced
    assigned: int  # articles that had none and got a story decision


def _as_article(row: story_store.StaleArticle) -> Article:
    """The fields story assignment reads (title, text, summary); the others are not used by it."""
    return Article(guid=str(row.article_id), link=None, url=row.url, title=row.title, summary=row.summary,
                   content_html=None, content_text=row.content_text, author=None, publisher=None,
                   syndicator=None, language=None, published_at=datetime.now(UTC), published_raw=None)


def reindex(conn: psycopg.Connection, *, everything: bool = False, batch: int = 500) -> Iterator[ReindexProgress]:
    """Re-fingerprint the articles indexed under an older scheme, or with no fingerprint (every article with
    ``everything``), in id order, one transaction per ``batch``; yields the running totals after each commit.

    After the fingerprint parameters change, every article's candidate keys change: without this, new
    articles would no longer find the older ones. An article keeps its story."""
    last, reindexed, assigned = 0, 0, 0
    while True:
        with conn.transaction():
            rows = story_store.stale_after(conn, last, batch, everything=everything)
            if not rows:
                return
            links = refresh_stories(conn, [(r.article_id, _as_article(r)) for r in rows])
        last = rows[-1].article_id
        assigned += sum(1 for link in links.values() if link is not None)
        reindexed += sum(1 for link in links.values() if link is None)
        yield ReindexProgress(last, reindexed, assigned)
