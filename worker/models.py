"""Plain data passed between the pipeline's stages.

Every stage speaks these types only: ``parse`` yields :class:`ParsedFeed` with :class:`RawEntry` items,
``normalize`` turns a ``RawEntry`` into an :class:`Article`, ``dedupe`` fingerprints an ``Article``
and ``store`` writes it. None of them holds a connection, a socket or a file handle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class RawEntry:
    """One item as the feed gave it, before any clean-up. Strings may hold markup and junk."""

    guid: str | None
    link: str | None  # exactly as the feed gave it (after XML entity decoding)
    title: str | None = None
    summary: str | None = None  # description / summary (may be HTML)
    content: str | None = None  # full body (content:encoded / atom:content / content_html), may be HTML
    content_is_html: bool = True
    authors: list[str] = field(default_factory=list)
    published: str | None = None  # raw date strings, as written in the feed
    updated: str | None = None
    dc_date: str | None = None
    published_parsed: datetime | None = None  # parser's own reading of the raw date, if any (UTC-naive = UTC)
    updated_parsed: datetime | None = None
    categories: list[str] = field(default_factory=list)
    enclosures: list[dict[str, Any]] = field(default_factory=list)  # {"url", "type", "length"}
    language: str | None = None  # xml:lang / item-level language if the feed gives one
    source_title: str | None = None  # RSS <source> / atom:source title: the original outlet
    source_url: str | None = None
    dc_publisher: str | None = None
    dc_creator: str | None = None
    base_url: str | None = None  # xml:base or the feed URL, to resolve relative links


@dataclass(slots=True)
class FeedMeta:
    """Channel-level facts the normaliser needs."""

    url: str  # the feed's own URL (http(s):// or file://)
    title: str | None = None
    site_url: str | None = None
    language: str | None = None
    format: str | None = None  # e.g. "rss20", "atom10", "json11"
    ttl_minutes: int | None = None
    update_period_minutes: int | None = None  # from sy:updatePeriod / sy:updateFrequency
    default_tz: str | None = None  # per-feed default zone for dates without one (IANA name)


@dataclass(slots=True)
class ParsedFeed:
    meta: FeedMeta
    entries: list[RawEntry]
    # Problems the parser hit that did not stop it (feedparser's bozo, entries dropped at parse time).
    warnings: list[str] = field(default_factory=list)
    # Which parser read it: "lxml" (worker.parse.lxml_reader), "feedparser" or "jsonfeed"; "" when not recorded.
    parser: str = ""
    # Entries past the reader's ``max_entries``, counted and never read (JSON Feed: each would cost memory).
    unread: int = 0


@dataclass(slots=True)
class Article:
    """A normalised article, ready for dedupe and storage. All strings are NUL-free and valid UTF-8."""

    guid: str  # the item's key within its feed: its guid, else its raw link, else a content hash
    link: str | None  # the raw link, as given by the feed (kept on the sighting)
    url: str | None  # canonical URL (None when the item had no usable http(s) link)
    title: str
    summary: str | None
    content_html: str | None  # sanitised
    content_text: str  # plain text, boilerplate removed, paragraphs separated by blank lines
    author: str | None
    publisher: str | None  # the outlet that wrote it
    syndicator: str | None  # the outlet whose feed carried it, when different from publisher
    language: str | None  # ISO 639-1
    published_at: datetime  # timezone-aware, UTC
    published_raw: str | None  # the date string as given, when it was clamped or unparseable
    categories: list[str] = field(default_factory=list)
    enclosures: list[dict[str, Any]] = field(default_factory=list)
    content_hash: str = ""  # hex digest of the normalised plain text (see dedupe.content_hash)
    entry_hash: str = ""  # hex digest over the raw entry fields: "has this item changed since last seen"
