"""The benchmark's generated feeds: fixed bytes for a fixed seed, and shaped like real news feeds."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from bench import gen
from worker.normalize.entry import normalize_entries
from worker.parse.feed import parse_feed


def test_same_seed_same_bytes_and_another_seed_other_bytes() -> None:
    assert gen.feed_bytes(3, n_feeds=20) == gen.feed_bytes(3, n_feeds=20)
    assert gen.feed_bytes(3, n_feeds=20, seed=1) != gen.feed_bytes(3, n_feeds=20)


@pytest.mark.parametrize(
    ("index", "root", "version"),
    [
        (0, b"<rss", "rss20"),  # most feeds are RSS 2.0 with content:encoded
        (gen.ATOM_EVERY - 1, b"<feed", "atom10"),  # one in ATOM_EVERY is Atom 1.0
    ],
)
def test_feed_parses_strictly_with_50_items_of_news_size(index: int, root: bytes, version: str) -> None:
    body = gen.feed_bytes(index, n_feeds=20)
    assert root in body[:400]
    assert 150_000 < len(body) < 330_000  # ~230 KB, like a big outlet's full-text feed
    d = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    assert not d.bozo, d.get("bozo_exception")
    assert d.version == version
    assert len(d.entries) == gen.ITEMS_PER_FEED
    html = d.entries[0].content[0].value
    assert html.count("<p") >= 6 and "<img " in html and "<figure" in html


def test_feeds_normalise_to_distinct_articles_with_some_wire_copies() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    texts: list[str] = []
    for i in range(6):
        parsed = parse_feed(gen.feed_bytes(i, n_feeds=6), f"https://bench.example/{i}")
        articles, skipped = normalize_entries(parsed.entries, parsed.meta, now)
        assert skipped == []
        assert all(len(a.content_text) > 600 for a in articles)  # full text, not teasers
        assert all("utm_" not in (a.url or "") for a in articles)  # tracking parameters in links get stripped
        texts += [a.content_text for a in articles]
    # wire stories appear in more than one feed (some with an edited opening); everything else is unique
    paragraphs = Counter(p for t in texts for p in t.split("\n\n") if len(p) > 200)
    shared = sum(1 for n in paragraphs.values() if n > 1)
    assert 0 < shared < 0.15 * len(paragraphs)


def test_feed_set_writes_once_and_reuses(tmp_path: Path) -> None:
    paths = gen.feed_set(tmp_path / "set", 3)
    assert [p.name for p in paths] == ["feed00000.xml", "feed00001.xml", "feed00002.xml"]
    stamp = [p.stat().st_mtime_ns for p in paths]
    assert gen.feed_set(tmp_path / "set", 3) == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamp  # cached: not rewritten
    assert paths[1].read_bytes() == gen.feed_bytes(1, n_feeds=3)
