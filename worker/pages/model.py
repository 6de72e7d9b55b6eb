"""What the page stage takes and gives (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Why a page gave no usable article. The pipeline keeps the item's summary and records the reason.
NOT_HTML = "not_html"  # a PDF, an image, JSON... (by content type or by its first bytes)
UNDECODABLE = "undecodable"  # no charset makes text of it (binary, or mostly invalid bytes)
EMPTY = "empty"  # the extractor found no article text
SOFT_404 = "soft_404"  # an error page served with 200
CONSENT_WALL = "consent_wall"  # a cookie or consent interstitial instead of the article
PAYWALL = "paywall"  # a subscribers-only stub: a teaser and a sign-up prompt
HOMEPAGE = "homepage"  # a section front or home page (lists of links), not one article
DIFFERENT_STORY = "different_story"  # an article, but not the one the feed item describes
REASONS = (NOT_HTML, UNDECODABLE, EMPTY, SOFT_404, CONSENT_WALL, PAYWALL, HOMEPAGE, DIFFERENT_STORY)


@dataclass(frozen=True, slots=True)
class PageHints:
    """What the feed already knows about the item, to check and guide the page's extraction."""

    title: str | None = None
    summary: str | None = None
    feed_title: str | None = None  # the feed's own title: a credit naming it is spelled like it
    site_blocks: frozenset[str] = frozenset()  # text keys of blocks seen on many pages of the site (boilerplate)


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on the work one page may cost: the decoder and parser see at most ``max_bytes``; the extractor at
    most ``max_nodes`` elements (the rest of the document is cut, in document order). The extractor spends about
    0.1-0.2 ms of CPU per element (15,000 ``<p>`` or ``<div>`` elements: 2-3 s), so 8,000 keeps one page under
    about 1.5 s; the article pages of ``tests/data/pages`` have at most ~1,500 elements."""

    max_bytes: int = 3 * 1024 * 1024
    max_nodes: int = 8_000


@dataclass(slots=True)
class PageResult:
    """One page's article and metadata. ``reason`` is None for a usable article; otherwise one of
    :data:`REASONS`, with ``detail`` saying why in words (``text`` may still hold what was found, e.g. a
    paywall's teaser). The first nine fields are ``wirefeed extract --json``'s."""

    url: str | None
    title: str | None = None
    text: str = ""  # the paragraphs joined by blank lines
    author: str | None = None
    published_at: str | None = None  # UTC, ISO 8601
    language: str | None = None  # ISO 639-1
    canonical_url: str | None = None
    original_url: str | None = None  # the original's address when the page says it republishes one
    site_name: str | None = None
    paragraphs: list[str] = field(default_factory=list)
    publisher: str | None = None  # the outlet that wrote or issued the article, when the page names it
    credit: str | None = None  # the outlet credited inside the text (sign-off or "Read the original on …")
    reason: str | None = None
    detail: str | None = None
    encoding: str | None = None
    truncated: bool = False  # the page was cut to the limits before extraction
    removed: list[str] = field(default_factory=list)  # what the boilerplate layer cut, for debugging

    @property
    def ok(self) -> bool:
        return self.reason is None

    def contract_json(self, given: str) -> dict[str, object]:
        """The object ``wirefeed extract --json`` prints for this page (``given``: the input as given)."""
        return {"input": given, "url": self.url, "title": self.title, "text": self.text, "author": self.author,
                "published_at": self.published_at, "language": self.language,
                "canonical_url": self.canonical_url, "original_url": self.original_url,
                "site_name": self.site_name, "error": None if self.ok else f"{self.reason}: {self.detail}"}
