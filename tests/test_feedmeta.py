"""A feed's title and site address are fit to store: no markup, no control characters, bounded."""

from __future__ import annotations

import pytest

from worker.normalize.feedmeta import feed_title, site_url
from worker.normalize.html import TITLE_MAX


def test_feed_title_is_one_clean_bounded_line() -> None:
    # C1 characters are read as cp1252, as in items
    assert feed_title("<b>Daily</b> &amp;amp; News\x1b]0;x\x07\n\x9b ") == "Daily & News]0;x ›"
    long = feed_title("word " * 100_000)
    assert long is not None and len(long) <= TITLE_MAX and long.endswith("…")
    assert feed_title("  <br/> ") is None and feed_title(None) is None


@pytest.mark.parametrize(("given", "kept"), [
    ("https://news.example/", "https://news.example/"),
    ("  HTTP://news.example/section?x=1#top ", "HTTP://news.example/section?x=1#top"),
    ("javascript:alert(1)", None),
    ("data:text/html,<script>", None),
    ("/relative", None),
    ("https://news.example/a b", None),
    ("https://news.example/\x1b]0;x\x07", None),
    ("https://news.example/\u202eexe", None),
    ("https://user:pw@news.example/", None),
    ("https://news.example/" + "a" * 3000, None),
    ("", None),
])
def test_site_url_is_an_absolute_http_address_or_nothing(given: str, kept: str | None) -> None:
    assert site_url(given) == kept
