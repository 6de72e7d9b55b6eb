"""The story decision (pure): candidates in, links out, with no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.test_dedupe import CAIRO, CAIRO_TITLE, REWRITE, SUDAN, SUDAN_TITLE
from worker.models import Article
from worker.stories import decide
from worker.stories.decide import ArticleText, IndexedArticle, StoryLink
from worker.stories.fingerprint import fingerprint

ORIGINAL = (CAIRO_TITLE, "\n\n".join(CAIRO))
UPDATE = ("Update: " + CAIRO_TITLE, "\n\n".join(REWRITE))
SUMMARY = (CAIRO_TITLE, CAIRO[0])
NEAR_MISS = (SUDAN_TITLE, "\n\n".join(SUDAN))  # same template, another meeting
TEASER = ("Brief", "Short teaser.")

# Stored articles the index can return: article id -> (story id, title, text).
STORED = {10: (4, *ORIGINAL), 11: (11, *NEAR_MISS)}


def _article(title: str, text: str) -> Article:
    return Article(guid=title, link=None, url=None, title=title, summary=None, content_html=None,
                   content_text=text, author=None, publisher=None, syndicator=None, language="en",
                   published_at=datetime(2025, 9, 16, tzinfo=UTC), published_raw=None)


def _found(batch_keys: set[int], stored_ids: list[int]) -> list[IndexedArticle]:
    """What the index lookup returns: each stored article indexed under one of the batch's keys."""
    out = []
    for sid in stored_ids:
        story, title, text = STORED[sid]
        fp = fingerprint(title, text)
        shared = sorted(batch_keys & set(fp.keys))
        if shared:
            out.append(IndexedArticle(sid, story, fp.signature, int(fp.shingles.size), shared))
    return out


def _decide(batch: list[tuple[str, str]], stored_ids: list[int], *, texts_of: list[int] | None = None
            ) -> list[StoryLink]:
    """Batch articles get ids 100, 101, ...; ``texts_of``: the stored ids whose texts are still there."""
    items = [(100 + i, _article(t, x)) for i, (t, x) in enumerate(batch)]
    fps = decide.fingerprints(items)
    found = _found({k for fp in fps.values() for k in fp.keys}, stored_ids)
    pending = decide.shortlist(items, fps, found)
    wanted = decide.texts_to_verify(pending)
    texts = {sid: ArticleText(*STORED[sid][1:]) for sid in wanted
             if texts_of is None or sid in texts_of}
    return list(decide.decide_batch(pending, texts).values())


@pytest.mark.parametrize(
    ("batch", "stored", "texts_of", "want"),
    [
        # a rewrite of a stored article joins that article's story (not its id)
        ([UPDATE], [10], None, [(4, 10, "near_duplicate", "vs article 10")]),
        # a summary-only copy is contained in the stored article
        ([SUMMARY], [10], None, [(4, 10, "containment", "vs article 10")]),
        # the same template about another meeting: a story of its own, the reason names the closest article
        ([ORIGINAL], [11], None, [(100, None, "new", "closest: article 11")]),
        # of two candidates, the verified one wins; the near miss is not linked
        ([UPDATE], [10, 11], None, [(4, 10, "near_duplicate", "vs article 10")]),
        # nothing in the index: a new story
        ([ORIGINAL], [], None, [(100, None, "new", "no earlier copy among the candidates")]),
        # a candidate deleted between the lookup and the text read is skipped
        ([UPDATE], [10], [], [(100, None, "new", "no earlier copy")]),
        # too short to fingerprint: its own story, whatever the index holds
        ([TEASER], [10], None, [(100, None, "new", "too short for near-duplicate matching")]),
        # copies inside one batch: the later links to the earlier, which starts the story
        ([ORIGINAL, UPDATE], [], None, [(100, None, "new", "no earlier copy"),
                                        (100, 100, "near_duplicate", "vs article 100")]),
        # in one batch with a stored original: both copies join the stored story
        ([UPDATE, SUMMARY], [10], None, [(4, 10, "near_duplicate", "vs article 10"),
                                         (4, 10, "containment", "vs article 10")]),
    ],
)
def test_decide_batch(batch: list[tuple[str, str]], stored: list[int], texts_of: list[int] | None,
                      want: list[tuple[int, int | None, str, str]]) -> None:
    links = _decide(batch, stored, texts_of=texts_of)
    assert [link.article_id for link in links] == [100 + i for i in range(len(batch))]
    for link, (story_id, linked_to, method, reason) in zip(links, want, strict=True):
        assert (link.story_id, link.linked_to, link.method) == (story_id, linked_to, method)
        assert reason in link.reason
        assert (link.score is None) is (method == "new")


def test_prefilter_keeps_the_best_estimates_and_names_the_closest_dropped() -> None:
    cands = [decide.Candidate(i, i, est_jaccard=j, est_containment=0.0)
             for i, j in enumerate([0.9, 0.1, 0.25, *([0.5] * decide.VERIFY_LIMIT)])]
    kept, dropped = decide.prefilter(cands)
    assert len(kept) == decide.VERIFY_LIMIT and kept[0].article_id == 0  # best first, capped
    assert dropped is not None and dropped.article_id == 2  # 0.25 is the closest below the prefilter
