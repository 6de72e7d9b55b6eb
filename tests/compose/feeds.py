"""Generated feeds for the compose test: every item a distinct story, so what lands is known exactly.

``write_feeds(dir, feeds, items)`` writes ``NN.xml`` for each feed (RSS 2.0, ``items`` items: the first
ones are always the same, so growing ``items`` adds new items and keeps the old ones) and ``feeds.opml``
subscribing each feed on a host of its own (``feed-NN``: one network alias each on the feed server, so
per-host politeness sees twenty outlets, not one). Files are replaced atomically.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

PORT = 8000
_BASE_DATE = datetime(2024, 3, 1, tzinfo=UTC)
_SYLLABLES = [c + v for c in "bdfklmnprstv" for v in "aeiou"]


def _vocabulary() -> list[str]:
    rng = random.Random(7)
    words: set[str] = set()
    while len(words) < 5000:
        words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


_WORDS = _vocabulary()


def host(feed: int) -> str:
    return f"feed-{feed:02d}"


def feed_url(feed: int) -> str:
    return f"http://{host(feed)}:{PORT}/{feed:02d}.xml"


def item_url(feed: int, n: int) -> str:
    return f"https://outlet{feed:02d}.example/story/{n}"


def guid(feed: int, n: int) -> str:
    return f"outlet{feed:02d}-{n}"


def _item(feed: int, n: int) -> str:
    rng = random.Random(feed * 1_000_003 + n)  # the same item on every run and in every phase
    title = " ".join(rng.choice(_WORDS) for _ in range(6)).capitalize()
    paragraphs = [" ".join(rng.choice(_WORDS) for _ in range(40)).capitalize() + "." for _ in range(3)]
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    when = format_datetime(_BASE_DATE + timedelta(minutes=feed * 10_000 + n))
    return (f"<item><title>{escape(title)} {feed}-{n}</title><link>{item_url(feed, n)}</link>"
            f'<guid isPermaLink="false">{guid(feed, n)}</guid><pubDate>{when}</pubDate>'
            f"<description>{escape(body)}</description></item>")


def feed_xml(feed: int, items: int) -> bytes:
    entries = "".join(_item(feed, n) for n in reversed(range(items)))  # newest first, as feeds are
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Outlet {feed:02d}</title><link>https://outlet{feed:02d}.example/</link>"
            f"<description>generated for the compose test</description>{entries}</channel></rss>").encode()


def opml(feeds: int) -> bytes:
    outlines = "".join(f'<outline type="rss" text="Outlet {f:02d}" xmlUrl="{feed_url(f)}"/>' for f in range(feeds))
    return (f'<?xml version="1.0" encoding="utf-8"?><opml version="2.0"><head><title>compose test</title></head>'
            f"<body>{outlines}</body></opml>").encode()


def _replace(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def write_feeds(directory: Path, feeds: int, items: int) -> None:
    for f in range(feeds):
        _replace(directory / f"{f:02d}.xml", feed_xml(f, items))
    _replace(directory / "feeds.opml", opml(feeds))


def expected(feeds: int, items: int) -> set[tuple[str, str, str]]:
    """(feed URL, guid, article URL) of every item served."""
    return {(feed_url(f), guid(f, n), item_url(f, n)) for f in range(feeds) for n in range(items)}
