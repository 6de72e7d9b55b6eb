"""Feed autodiscovery: a site's HTML page names its feeds in ``<link rel="alternate" type=...>``.

``find_feed_links`` and ``sniff`` are pure; ``resolve_subscription`` fetches the page once (with the
fetcher's limits and SSRF guard) and returns the URL to subscribe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser

from worker.errors import FetchError
from worker.settings import Settings

# an href holding blanks, control or bidi characters is no address to subscribe (nor to print)
_UNPRINTABLE = re.compile("[\\s\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069]")
FEED_TYPES = {
    "application/rss+xml": "rss",
    "application/atom+xml": "atom",
    "application/feed+json": "json",
    "application/rdf+xml": "rdf",
    "application/x.atom+xml": "atom",
    "application/x-atom+xml": "atom",
}
_FEED_START = re.compile(rb"^\s*(<\?xml|<rss\b|<feed\b|<rdf:rdf\b|<!--|\{)", re.IGNORECASE)
_HTML_START = re.compile(rb"<!doctype\s+html|<html\b|<head\b|<body\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class FeedLink:
    url: str
    format: str  # "rss" | "atom" | "json" | "rdf"
    title: str | None = None


def sniff(body: bytes, content_type: str | None) -> str:
    """``"feed"``, ``"html"`` or ``"unknown"``: what a fetched body is, trusting bytes over headers."""
    head = body[:2048].lstrip(b"\xef\xbb\xbf")
    if _FEED_START.match(head) and not _HTML_START.search(head[:512]):
        return "feed"
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if _HTML_START.search(head) or ctype in ("text/html", "application/xhtml+xml"):
        return "html"
    return "unknown"


def find_feed_links(html: bytes | str, base_url: str) -> list[FeedLink]:
    """Feeds an HTML page advertises, in document order, resolved to absolute http(s) URLs."""
    tree = LexborHTMLParser(html if isinstance(html, str) else html.decode("utf-8", "replace"))
    base = base_url
    base_node = tree.css_first("base[href]")
    if base_node is not None and base_node.attributes.get("href"):
        base = urljoin(base_url, (base_node.attributes.get("href") or "").strip())
    found: list[FeedLink] = []
    seen: set[str] = set()
    for node in tree.css("link[rel][href]"):
        attrs = node.attributes
        rels = (attrs.get("rel") or "").lower().split()
        ctype = (attrs.get("type") or "").split(";", 1)[0].strip().lower()
        if "alternate" not in rels or ctype not in FEED_TYPES:
            continue
        url = urljoin(base, (attrs.get("href") or "").strip())
        if urlsplit(url).scheme not in ("http", "https") or url in seen or _UNPRINTABLE.search(url):
            continue
        seen.add(url)
        title = (attrs.get("title") or "").strip() or None
        found.append(FeedLink(url=url, format=FEED_TYPES[ctype], title=title))
    return found


@dataclass(frozen=True, slots=True)
class Subscription:
    url: str  # what to subscribe
    discovered_from: str | None = None  # the HTML page it was found on
    title: str | None = None
    note: str | None = None  # why the URL was kept as given (page unreachable, no feed link, ...)


def resolve_subscription(url: str, settings: Settings) -> Subscription:
    """The feed URL to subscribe for ``url``: itself if it is a feed, else the feed its page links to.

    Never fails: when the page cannot be fetched or names no feed, the URL is kept as given with a note.
    """
    from worker.fetch.http import fetch_feed_body

    try:
        out = fetch_feed_body(url, etag=None, last_modified=None, previous_body_hash=None, settings=settings)
    except FetchError as err:
        return Subscription(url, note=f"not checked: {err.reason}")
    body = out.body or b""
    kind = sniff(body, out.content_type)
    if kind != "html":
        return Subscription(out.permanent_redirect_to or url)
    links = find_feed_links(body, out.final_url)
    if not links:
        return Subscription(url, note="the page names no feed (<link rel=alternate>); subscribed as given")
    return Subscription(links[0].url, discovered_from=url, title=links[0].title)
