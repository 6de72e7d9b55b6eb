"""Canonical URL rules (worker/normalize/urls.py), one row per rule."""

from __future__ import annotations

import pytest

from worker.normalize.urls import canonicalize_url, is_tracking_param

_LONG_PATH = "/" + "a" * 2100

CASES = [
    # longer than MAX_URL_LENGTH (2,048): not an article address, and over PostgreSQL's btree row limit
    ("https://example.com" + _LONG_PATH, None, None),
    # exactly at the bound: kept
    ("https://example.com/" + "b" * 2028, None, "https://example.com/" + "b" * 2028),
    # scheme and host are lower-cased, default port dropped, empty path becomes "/"
    ("HTTP://Example.COM:80", None, "http://example.com/"),
    # https default port dropped, other ports kept
    ("https://example.com:443/a", None, "https://example.com/a"),
    ("https://example.com:8443/a", None, "https://example.com:8443/a"),
    # fragment dropped
    ("https://example.com/story#comments", None, "https://example.com/story"),
    # a "#!" hashbang route identifies the page and is kept
    ("https://example.com/#!/story/1", None, "https://example.com/#!/story/1"),
    # utm_* removed, identifying parameters kept in their order
    ("https://ex.com/a?utm_source=rss&id=3&utm_medium=feed&p=2", None, "https://ex.com/a?id=3&p=2"),
    # the AllAfrica fixture's link loses its utm junk
    (
        "https://allafrica.com/stories/202509160123.html?utm_source=rss&utm_medium=feed&utm_campaign=egypt",
        None,
        "https://allafrica.com/stories/202509160123.html",
    ),
    # click ids and mailing-list ids
    ("https://ex.com/a?fbclid=AB&gclid=CD&mc_cid=1&mc_eid=2&_hsenc=x&ocid=rss&cmpid=f", None, "https://ex.com/a"),
    # parameter names compare case-insensitively and percent-decoded
    ("https://ex.com/a?UTM_Source=x&%75tm_medium=y&q=1", None, "https://ex.com/a?q=1"),
    # parameter order and spelling are not touched (no sorting, "+" kept)
    ("https://ex.com/s?z=1&a=b+c", None, "https://ex.com/s?z=1&a=b+c"),
    # a query of only tracking parameters disappears with its "?"
    ("https://ex.com/a?utm_campaign=x", None, "https://ex.com/a"),
    # relative link resolved against the item base
    ("../news/1.html", "https://ex.com/blog/posts/", "https://ex.com/blog/news/1.html"),
    # root-relative link resolved against the feed URL
    ("/news/2?utm_source=x", "http://ex.com/feed.xml", "http://ex.com/news/2"),
    # protocol-relative link takes the base's scheme
    ("//cdn.ex.com/a", "http://ex.com/", "http://cdn.ex.com/a"),
    # protocol-relative link without a base defaults to https
    ("//cdn.ex.com/a", None, "https://cdn.ex.com/a"),
    # dot segments removed in an absolute URL
    ("https://ex.com/a/./b/../c", None, "https://ex.com/a/c"),
    # spaces and non-ASCII in the path are percent-encoded, IDN host in punycode
    ("http://bücher.de/ä b", None, "http://xn--bcher-kva.de/%C3%A4%20b"),
    # percent escapes upper-cased, not decoded (an encoded "/" keeps its meaning)
    ("https://ex.com/a%2fb", None, "https://ex.com/a%2Fb"),
    # surrounding white space and embedded newlines (CDATA links) removed
    ("  https://ex.com/a\n  ", None, "https://ex.com/a"),
    # trailing dot on the host dropped
    ("https://ex.com./a", None, "https://ex.com/a"),
    # IPv6 literal with a port
    ("http://[::1]:8080/x", None, "http://[::1]:8080/x"),
    # javascript:, mailto:, tag:, file: and data: are not article URLs
    ("javascript:alert(1)", "https://ex.com/", None),
    ("mailto:news@ex.com", None, None),
    ("tag:example.com,2006:/blog/1", None, None),
    ("file:///etc/passwd", None, None),
    ("data:text/html,hi", None, None),
    # relative link without a base cannot be resolved
    ("/news/1", None, None),
    # relative link against a file:// feed stays a file URL: rejected
    ("post.html", "file:///tmp/feed.xml", None),
    # a bad port makes the URL unusable
    ("http://ex.com:99999999/", None, None),
    # no host
    ("http:///path", None, None),
    # empty
    ("", None, None),
]


@pytest.mark.parametrize(("url", "base", "expected"), CASES)
def test_canonicalize_url(url: str, base: str | None, expected: str | None) -> None:
    assert canonicalize_url(url, base) == expected


@pytest.mark.parametrize(
    ("name", "tracking"),
    [
        ("utm_content", True),  # any utm_ parameter
        ("fbclid", True),  # Facebook click id
        ("WT.mc_id", True),  # Webtrends, case-insensitive
        ("id", False),  # identifies the article
        ("p", False),  # WordPress post id
        ("page", False),  # pagination changes the document
        ("ref", False),  # too generic to drop
    ],
)
def test_is_tracking_param(name: str, tracking: bool) -> None:
    assert is_tracking_param(name) is tracking


def test_canonical_form_is_stable() -> None:
    once = canonicalize_url("HTTPS://Ex.com:443/a/../b?utm_source=x&k=v#f")
    assert once == "https://ex.com/b?k=v"
    assert canonicalize_url(once) == once


# URLs the fast path (_SIMPLE) takes, and near misses it must hand to the general path: both give the same answer.
FAST_PATH_CASES = [
    "https://ex.com",
    "https://ex.com/",
    "https://ex.com?id=1",
    "https://ex.com/a?",
    "https://ex.com/a?utm_source=rss&utm_medium=feed&id=3",
    "https://ex.com/a?UTM_Source=x&q=1&&",
    "https://ex.com/a?x=1?y=2&fbclid=z",
    "https://ex.com/a/b-c_d~e!$&'()*+,;=:@/f",
    "http://sub-1.ex.co.uk/2025/09/01/slug.html?p=42",
    "https://ex.com/" + "b" * 2028,
    "https://ex.com/" + "b" * 2029,
    "https://ex.com/a?" + "q" * 2100,
    # near misses: general path
    "https://ex.com/a/./b", "https://ex.com/a/../b", "https://ex.com/.well-known/x", "https://ex.com/a?x=/./",
    "https://Ex.com/a", "HTTPS://ex.com/a", "https://ex.com./a", "https://ex..com/a", "https://.ex.com/a",
    "https://ex.com:443/a", "https://ex.com:8080/a", "https://u:p@ex.com/a", "https://ex.com/a%2fb",
    "https://ex.com/a#frag", "https://ex.com/#!/x", "https://ex.com/a b", "https://ex.com/ä", "https://bücher.de/",
    "https://ex.com/a?%75tm_source=x&k=v", "https://ex.com/[x]", "https://[::1]/a", "https://ex.com/a\tb",
    "https://ex.com/a\\b", "https://ex.com/a\"b", "https://ex.com/a<b>", "https://ex.com/a|b",
]


@pytest.mark.parametrize("url", FAST_PATH_CASES)
def test_fast_path_agrees_with_the_general_path(url: str) -> None:
    from worker.normalize import urls

    assert canonicalize_url(url) == urls._canonicalize(url, None)
    assert canonicalize_url(url, "https://base.example/feed") == urls._canonicalize(url, "https://base.example/feed")


def test_fast_path_is_taken_for_the_common_case() -> None:
    from worker.normalize import urls

    assert urls._SIMPLE.fullmatch("https://news.example/2025/09/01/a-b?utm_source=rss&id=0") is not None
    assert urls._SIMPLE.fullmatch("https://news.example/a#x") is None
