"""Feed autodiscovery: link extraction table, body sniffing, and a page served by the loopback server."""

from __future__ import annotations

import pytest

from tests.httpserver import FeedServer, Route
from worker.fetch.discover import find_feed_links, resolve_subscription, sniff
from worker.settings import Settings

BASE = "https://site.example/blog/"


def page(head: str) -> str:
    return f"<!DOCTYPE html><html><head>{head}</head><body><p>hi</p></body></html>"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ('<link rel="alternate" type="application/rss+xml" href="/feed.xml" title="Posts">',
         [("https://site.example/feed.xml", "rss", "Posts")]),  # the common case, root-relative
        ('<link rel="alternate" type="application/atom+xml" href="atom.xml">',
         [("https://site.example/blog/atom.xml", "atom", None)]),  # relative to the page
        ('<link rel="alternate" type="application/feed+json" href="https://cdn.example/f.json">',
         [("https://cdn.example/f.json", "json", None)]),  # JSON Feed, absolute
        ('<LINK REL="Alternate" TYPE="Application/RSS+XML; charset=utf-8" HREF="/r">',
         [("https://site.example/r", "rss", None)]),  # case and parameters ignored
        ('<link rel="alternate feed" type="application/rss+xml" href="/multi">',
         [("https://site.example/multi", "rss", None)]),  # rel with several tokens
        ('<base href="https://other.example/x/"><link rel="alternate" type="application/rss+xml" href="f">',
         [("https://other.example/x/f", "rss", None)]),  # <base href> wins over the page URL
        ('<link rel="alternate" type="text/html" hreflang="fr" href="/fr/">', []),  # a translation, not a feed
        ('<link rel="stylesheet" type="application/rss+xml" href="/s">', []),  # wrong rel
        ('<link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">', []),  # not http(s)
        ('<link rel="alternate" type="application/rss+xml" href="/a">'
         '<link rel="alternate" type="application/atom+xml" href="/b">'
         '<link rel="alternate" type="application/rss+xml" href="/a">',
         [("https://site.example/a", "rss", None), ("https://site.example/b", "atom", None)]),  # order, no repeats
        ("", []),  # no links at all
    ],
)
def test_find_feed_links(head: str, expected: list[tuple[str, str, str | None]]) -> None:
    got = [(link.url, link.format, link.title) for link in find_feed_links(page(head), BASE)]
    assert got == expected


@pytest.mark.parametrize(
    ("body", "ctype", "kind"),
    [
        (b'<?xml version="1.0"?><rss version="2.0"></rss>', "application/rss+xml", "feed"),  # RSS
        (b'\xef\xbb\xbf<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>', None, "feed"),  # BOM
        (b'<rss version="2.0"><channel/></rss>', "text/html", "feed"),  # feed served as text/html
        (b'{"version": "https://jsonfeed.org/version/1.1"}', "application/json", "feed"),  # JSON Feed
        (b"<!DOCTYPE html><html><head></head></html>", "text/html", "html"),  # a web page
        (b'<?xml version="1.0"?><!DOCTYPE html><html xmlns="http://www.w3.org/1999/xhtml">', None, "html"),  # XHTML
        (b"hello", "text/plain", "unknown"),  # neither
    ],
)
def test_sniff(body: bytes, ctype: str | None, kind: str) -> None:
    assert sniff(body, ctype) == kind


def settings() -> Settings:
    return Settings(allow_private_addresses=True, fetch_deadline=5.0)  # type: ignore[call-arg]


def test_resolve_subscription_follows_the_page_link() -> None:
    with FeedServer() as srv:
        srv.route("/", Route(body=page('<link rel="alternate" type="application/rss+xml" href="/feed.xml" '
                                       'title="Site feed">').encode(),
                             headers={"Content-Type": "text/html; charset=utf-8"}))
        srv.route("/feed.xml", Route(body=b'<?xml version="1.0"?><rss version="2.0"/>'))
        sub = resolve_subscription(srv.url("/"), settings())
        assert sub.url == srv.url("/feed.xml") and sub.discovered_from == srv.url("/")
        assert sub.title == "Site feed"
        direct = resolve_subscription(srv.url("/feed.xml"), settings())
        assert direct.url == srv.url("/feed.xml") and direct.discovered_from is None


def test_resolve_subscription_keeps_url_when_page_has_no_feed_or_fails() -> None:
    with FeedServer() as srv:
        srv.route("/plain", Route(body=page("").encode(), headers={"Content-Type": "text/html"}))
        sub = resolve_subscription(srv.url("/plain"), settings())
        assert sub.url == srv.url("/plain") and "names no feed" in (sub.note or "")
        gone = resolve_subscription(srv.url("/missing"), settings())
        assert gone.url == srv.url("/missing") and "HTTP 404" in (gone.note or "")
