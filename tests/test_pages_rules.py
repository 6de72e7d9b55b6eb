"""The page step's pure rules: when a page is fetched (``auto``), when its text replaces the feed's, what it
changes in the article, and what a new story decision does to the article's current story."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.pages import PageResult
from worker.pages.apply import ArticleFacts, merge_page
from worker.pages.when import page_replaces_feed, resolve_mode, truncated, wants_page
from worker.stories.decide import StoryLink
from worker.stories.redecide import Membership, redecide

URL = "https://news.example/2025/09/story.html"
SENTENCE = "The minister met his counterpart in Cairo on Tuesday to discuss security cooperation. "


@pytest.mark.parametrize(
    ("mode", "url", "text", "history", "fetch"),
    [
        # never: nothing, whatever the text
        ("never", URL, "", (), False),
        # always: every item with an http(s) link
        ("always", URL, SENTENCE * 80, (), True),
        # no http(s) link: nothing to fetch, whatever the mode
        ("always", None, "", (), False),
        ("auto", "ftp://news.example/x", "", (), False),
        # auto: a title and a link only
        ("auto", URL, "", (), True),
        # auto: one or two sentences are a summary
        ("auto", URL, SENTENCE * 2, (), True),
        # auto: a long text cut with an ellipsis
        ("auto", URL, SENTENCE * 20 + "The talks continued …", (), True),
        # auto: a long text ending in a "Read more" link
        ("auto", URL, SENTENCE * 20 + "Read more", (), True),
        # auto: "Continue reading" with the page's name after it
        ("auto", URL, SENTENCE * 20 + "Continue reading on Example News", (), True),
        # auto: a full article (300 words) in the feed: no page
        ("auto", URL, SENTENCE * 22, (), False),
        # auto: the feed's last pages ran 3x longer than its items: a 150-word item is a summary too
        ("auto", URL, SENTENCE * 11, ((150, 450), (160, 500), (140, 420)), True),
        # auto: that history is too short to count (two pages)
        ("auto", URL, SENTENCE * 11, ((150, 450), (160, 500)), False),
        # auto: pages no longer than the items: the feed carries its articles
        ("auto", URL, SENTENCE * 11, ((300, 310), (280, 300), (290, 295)), False),
        # auto: a history of summaries does not make a 2,000-word item one
        ("auto", URL, SENTENCE * 160, ((150, 450), (160, 500), (140, 420)), False),
    ],
)
def test_wants_page(mode: str, url: str | None, text: str, history: tuple[tuple[int, int], ...], fetch: bool) -> None:
    decision = wants_page(mode, url=url, text=text, history=history)  # type: ignore[arg-type]
    assert decision.fetch is fetch, decision.why
    assert decision.why


@pytest.mark.parametrize(
    ("text", "cut"),
    [
        ("He said the talks would go on…", True),  # a unicode ellipsis
        ("He said the talks would go on...", True),  # three dots
        ("He said the talks would go on [...]", True),  # WordPress's excerpt marker
        ("He said the talks would go on. (more…)", True),  # WordPress's more link
        ("He said the talks would go on. Read more »", True),  # a read-more link with an arrow
        ("He said the talks would go on. Read the full story", True),
        ("He said the talks would go on.", False),  # a sentence that ends
        ("", False),  # nothing
    ],
)
def test_truncated(text: str, cut: bool) -> None:
    assert truncated(text) is cut


@pytest.mark.parametrize(
    ("setting", "feed", "run", "mode"),
    [
        ("auto", None, True, "auto"),  # no feed setting: the global one
        ("auto", "always", True, "always"),  # the feed's own setting wins over auto
        ("always", "never", True, "never"),  # ... and over always
        ("never", "always", True, "never"),  # the global never is absolute (tests, checks without a page server)
        ("always", "always", False, "never"),  # ingest --no-pages: nothing in this run
        ("auto", "bogus", True, "auto"),  # an unknown stored value: the global setting
    ],
)
def test_resolve_mode(setting: str, feed: str | None, run: bool, mode: str) -> None:
    assert resolve_mode(setting, feed, run) == mode  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("feed_words", "page_words", "replaces"),
    [
        (40, 300, True),  # a summary and its article
        (0, 50, True),  # no feed text at all
        (300, 300, False),  # the page says no more
        (300, 120, False),  # an extraction that missed part of the article never costs text
    ],
)
def test_page_replaces_feed(feed_words: int, page_words: int, replaces: bool) -> None:
    assert page_replaces_feed(feed_words, page_words) is replaces


def _facts(**kw: object) -> ArticleFacts:
    base: dict[str, object] = dict(
        article_id=7, url="https://allafrica.com/stories/1.html", title="Egypt: Chiefs meet in Cairo",
        summary="[SIS] The chiefs met.", content_text="[SIS] The chiefs met.",
        content_html="<p>[SIS] The chiefs met.</p>",
        author=None, publisher="allAfrica.com: Egypt", syndicator=None, language="en",
        published_at=datetime(2025, 9, 17, 6, 12, tzinfo=UTC), feed_title="allAfrica.com: Egypt",
        feed_undated=False, content_hash="h0")
    base.update(kw)
    return ArticleFacts(**base)  # type: ignore[arg-type]


PAGE = PageResult(url="https://allafrica.com/stories/1.html", title="Chiefs meet", text="one two three four five six",
                  paragraphs=["one two three", "four five six"], author="Jane Roe", language="fr",
                  published_at="2025-09-16T20:00:00+00:00", publisher="Egypt State Information Service",
                  credit="Ahram Online", original_url="https://www.sis.gov.eg/Story/1")


@pytest.mark.parametrize(
    ("facts", "field", "value"),
    [
        # the page's text replaces a shorter feed text, as paragraphs
        (_facts(content_text="one"), "content_text", "one two three\n\nfour five six"),
        (_facts(content_text="one"), "text_source", "page"),
        (_facts(content_text="one"), "content_html", "<p>one two three</p><p>four five six</p>"),
        # a feed text as long as the page stays, and its hash with it
        (_facts(content_text="a b c d e f"), "text_source", "feed"),
        (_facts(content_text="a b c d e f"), "content_hash", "h0"),
        # the page's publisher replaces a publisher that was only the feed's title; the feed becomes the syndicator
        (_facts(), "publisher", "Egypt State Information Service"),
        (_facts(), "syndicator", "allAfrica.com: Egypt"),
        # a publisher the feed named itself (a credit line, <source>) is kept
        (_facts(publisher="Reuters", syndicator="allAfrica.com: Egypt"), "publisher", "Reuters"),
        # the credit and the original's link are kept as attribution
        (_facts(), "credit", "Ahram Online"),
        (_facts(), "original_url", "https://www.sis.gov.eg/Story/1"),
        # author and language only where the feed gave none
        (_facts(), "author", "Jane Roe"),
        (_facts(author="John Doe"), "author", "John Doe"),
        (_facts(), "language", "en"),
        (_facts(language=None), "language", "fr"),
        # the page's date only when the item had none (its first-seen time is then later than the page's date)
        (_facts(), "published_at", datetime(2025, 9, 17, 6, 12, tzinfo=UTC)),
        (_facts(feed_undated=True), "published_at", datetime(2025, 9, 16, 20, 0, tzinfo=UTC)),
    ],
)
def test_merge_page(facts: ArticleFacts, field: str, value: object) -> None:
    assert getattr(merge_page(facts, PAGE), field) == value


def _link(story: int, method: str = "near_duplicate", linked: int | None = 3) -> StoryLink:
    return StoryLink(10, story, linked if method != "new" else None, method, 0.8, "jaccard 0.8")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("now", "link", "action", "story", "merged_from"),
    [
        # the page confirms the article's story
        (Membership(10, 3, 0), _link(3), "keep", 3, None),
        # alone in its own story, the page matches story 3: it moves there
        (Membership(10, 10, 0), _link(3), "move", 3, None),
        # first of a story two others joined, the page matches older story 3: story 10 merges into 3
        (Membership(10, 10, 2), _link(3), "merge", 3, 10),
        # ... matches a newer story 12: story 12 merges into 10 (a story's id is its first article's)
        (Membership(10, 10, 2), _link(12, linked=12), "merge", 10, 12),
        # a member of story 5, the page is closer to story 3: kept in 5 (moving it would split story 5)
        (Membership(10, 5, 0), _link(3), "keep", 5, None),
        # the page matches nothing, the article is in story 5: kept (never split)
        (Membership(10, 5, 0), _link(10, "new"), "keep", 5, None),
        # the page matches nothing, the article alone: its own story still
        (Membership(10, 10, 0), _link(10, "new"), "keep", 10, None),
    ],
)
def test_redecide(now: Membership, link: StoryLink, action: str, story: int, merged_from: int | None) -> None:
    r = redecide(now, link)
    assert (r.action, r.story_id, r.merged_from) == (action, story, merged_from)
    assert r.reason.startswith("page text")
    if action == "merge":
        assert r.merged_reason and f"article {now.article_id}" in r.merged_reason
    if action == "keep" and story != link.story_id:
        assert "split" in r.reason
