"""What a page changes in its article (pure): the text, and the metadata the feed lacked.

- text: the page's paragraphs replace the feed's text when the page says more
  (:func:`worker.pages.when.page_replaces_feed`); ``text_source`` becomes ``page``, and the content hash is
  taken again over the new text (the story is decided again by the caller);
- author, language: the page's, when the feed gave none;
- published time: the page's, when the feed gave no date at all (the article then carries its first-seen
  time);
- publisher: the outlet the page names (JSON-LD ``sourceOrganization``, ``citation_publisher``) replaces a
  publisher that was only the feed's own title, which becomes the syndicator; a publisher the feed named
  itself (a credit line, ``<source>``, ``dc:publisher``) is kept;
- credit: the outlet credited inside the page's text ("… (Ahram Online)", "Read the original article on …"),
  kept as attribution;
- original URL: the page's "Read the original article" / "Source:" link.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from worker.normalize.dates import parse_date
from worker.normalize.html import paragraphs_to_html
from worker.pages.model import PageResult
from worker.pages.when import page_replaces_feed
from worker.stories.fingerprint import content_hash, words

__all__ = ["ArticleFacts", "PageUpdate", "merge_page"]


@dataclass(frozen=True, slots=True)
class ArticleFacts:
    """What the article holds before its page arrives."""

    article_id: int
    url: str | None
    title: str
    summary: str | None
    content_text: str
    content_html: str | None
    author: str | None
    publisher: str | None
    syndicator: str | None
    language: str | None
    published_at: datetime
    feed_title: str | None  # the title of the feed the page was requested for
    feed_undated: bool  # the item carried no date: published_at is when it was first seen
    content_hash: str


@dataclass(frozen=True, slots=True)
class PageUpdate:
    """The article's fields after its page (all of them: unchanged ones as they were)."""

    text_source: str  # "page" when the text was replaced, else "feed"
    content_text: str
    content_html: str | None
    content_hash: str
    author: str | None
    publisher: str | None
    syndicator: str | None
    language: str | None
    published_at: datetime
    credit: str | None
    original_url: str | None
    feed_words: int
    page_words: int

    @property
    def replaced(self) -> bool:
        return self.text_source == "page"


def _published(facts: ArticleFacts, page: PageResult) -> datetime:
    if not facts.feed_undated or not page.published_at:
        return facts.published_at
    found = parse_date(page.published_at)
    if found is None or found > facts.published_at:  # a page date after first sight is a page update time
        return facts.published_at
    return found


def _publisher(facts: ArticleFacts, page: PageResult) -> tuple[str | None, str | None]:
    feed_title = (facts.feed_title or "").casefold()
    only_the_feed = facts.syndicator is None and (facts.publisher is None or facts.publisher.casefold() == feed_title)
    if page.publisher and only_the_feed and page.publisher.casefold() != feed_title:
        return page.publisher, facts.publisher or facts.feed_title
    return facts.publisher, facts.syndicator


def merge_page(facts: ArticleFacts, page: PageResult) -> PageUpdate:
    """The article after a usable page (``page.ok``); see the module's docstring."""
    feed_words = len(words(facts.content_text))
    page_words = len(words(page.text))
    publisher, syndicator = _publisher(facts, page)
    update = PageUpdate(
        text_source="feed", content_text=facts.content_text, content_html=facts.content_html,
        content_hash=facts.content_hash, author=facts.author or page.author, publisher=publisher,
        syndicator=syndicator, language=facts.language or page.language, published_at=_published(facts, page),
        credit=page.credit, original_url=page.original_url, feed_words=feed_words, page_words=page_words)
    if not page_replaces_feed(feed_words, page_words):
        return update
    text = "\n\n".join(page.paragraphs) if page.paragraphs else page.text
    return replace(update, text_source="page", content_text=text,
                   content_html=paragraphs_to_html(page.paragraphs or text.split("\n\n")),
                   content_hash=content_hash(text, facts.title, facts.url))
