"""JSON Feed 1.0 / 1.1 (and Dave Winer's "RSS in JSON") → :class:`ParsedFeed` (pure).

feedparser 6 cannot read JSON Feed; this module yields the same entry model the XML path does:
``content_html`` (else ``content_text``) is the body, ``summary`` the summary, ``date_published`` /
``date_modified`` the raw dates, ``authors`` (1.1) or ``author`` (1.0) the authors, ``tags`` the categories,
``attachments`` the enclosures, ``external_url`` the source link, ``language`` the item/feed language (1.1).

Every item is read on its own: a field of the wrong type or an unreadable number (``"²"``, a digit string longer
than Python converts) drops that field; an item that still fails is dropped with a warning, never the feed.
Integer literals longer than :data:`MAX_INT_DIGITS` are kept as their text (``json`` would refuse the whole
document).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from worker.errors import NEVER_SWALLOW, ParseError
from worker.models import FeedMeta, ParsedFeed, RawEntry

__all__ = ["parse_json_feed"]

MAX_DEPTH_BYTES = 64  # a JSON nesting run this deep (``[[[[…``) is refused before json.loads recurses
MAX_INT_DIGITS = 64  # a longer integer literal stays text (int() of thousands of digits is slow or refused)


def _s(value: Any) -> str | None:
    """A JSON scalar as a non-empty string, else None (ids may be numbers; objects are not strings)."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    s = value if isinstance(value, str) else str(value)
    return s if s.strip() else None


def _int(value: Any) -> int | None:
    """A size: a JSON number or a string of ASCII digits in 0 .. 10**15 - 1, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and 0 <= value < 10**15:
        return int(value)
    if isinstance(value, str):
        digits = value.strip()
        if 0 < len(digits) <= 15 and digits.isascii() and digits.isdigit():  # isdigit() alone accepts "²"
            return int(digits)
    return None


def _json_int(literal: str) -> int | str:
    return int(literal) if len(literal) <= MAX_INT_DIGITS else literal


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _authors(obj: dict[str, Any]) -> list[str]:
    found = obj.get("authors")
    items = found if isinstance(found, list) else []
    if not items and isinstance(obj.get("author"), dict):
        items = [obj["author"]]
    names = []
    for a in items:
        name = (_s(a.get("name")) or _s(a.get("url"))) if isinstance(a, dict) else _s(a)
        if name and name not in names:
            names.append(name)
    return names


def _decode(body: bytes) -> Any:
    if b"[" * MAX_DEPTH_BYTES in body or b"{" * MAX_DEPTH_BYTES in body:
        raise ParseError("JSON nested too deeply")
    try:
        # strict=False: raw control characters inside strings
        return json.loads(body, strict=False, parse_int=_json_int)
    except UnicodeDecodeError:
        try:
            return json.loads(body.decode("utf-8", errors="replace"), strict=False, parse_int=_json_int)
        except (ValueError, RecursionError) as exc:
            raise ParseError(f"invalid JSON: {exc}") from None
    except RecursionError:
        raise ParseError("JSON nested too deeply") from None
    except ValueError as exc:
        raise ParseError(f"invalid JSON: {exc}") from None


def _json_feed_item(item: dict[str, Any], base: str, feed_lang: str | None) -> RawEntry:
    html = _s(item.get("content_html"))
    text = _s(item.get("content_text"))
    attachments = _list(item.get("attachments"))
    enclosures = [
        {"url": _s(a.get("url")), "type": _s(a.get("mime_type")), "length": _int(a.get("size_in_bytes"))}
        for a in attachments
        if isinstance(a, dict) and _s(a.get("url"))
    ]
    image = _s(item.get("image")) or _s(item.get("banner_image"))
    if image and all(e["url"] != image for e in enclosures):
        enclosures.append({"url": image, "type": "image/*", "length": None})
    tags = _list(item.get("tags"))
    return RawEntry(
        guid=_s(item.get("id")),
        link=_s(item.get("url")) or _s(item.get("external_url")),
        title=_s(item.get("title")),
        summary=_s(item.get("summary")),
        content=html or text,
        content_is_html=html is not None,
        authors=_authors(item),
        published=_s(item.get("date_published")),
        updated=_s(item.get("date_modified")),
        categories=[t for t in (_s(x) for x in tags) if t],
        enclosures=enclosures,
        language=_s(item.get("language")) or feed_lang,
        source_url=_s(item.get("external_url")),
        base_url=base,
    )


def _json_feed(doc: dict[str, Any], url: str, max_entries: int | None = None) -> ParsedFeed:
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError("JSON Feed without an items list")
    version = str(doc.get("version") or "")
    fmt = "json11" if version.rstrip("/").endswith("1.1") else "json10"
    feed_lang = _s(doc.get("language"))
    base = _s(doc.get("feed_url")) or _s(doc.get("home_page_url")) or url
    if not base.startswith(("http://", "https://")):
        base = url
    warnings: list[str] = []
    entries: list[RawEntry] = []
    unread = 0
    for i, item in enumerate(items):
        if max_entries is not None and len(entries) >= max_entries:
            unread = len(items) - i  # counted, not read: a read entry costs several times its JSON object
            break
        if not isinstance(item, dict):
            warnings.append(f"item {i} is not an object")
            continue
        _isolated(i, partial(_json_feed_item, item, base, feed_lang), entries, warnings)
    meta = FeedMeta(
        url=url,
        title=_s(doc.get("title")),
        site_url=_s(doc.get("home_page_url")),
        language=feed_lang,
        format=fmt,
    )
    return ParsedFeed(meta=meta, entries=entries, warnings=warnings, unread=unread)


def _isolated(i: int, read: Callable[[], RawEntry], entries: list[RawEntry], warnings: list[str]) -> None:
    """``read()`` appended to ``entries``; an item it fails on is dropped with a warning (the feed goes on)."""
    try:
        entries.append(read())
    except NEVER_SWALLOW:
        raise
    except Exception as exc:
        warnings.append(f"item {i} dropped at parse: {type(exc).__name__}: {str(exc)[:200]}")


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _rss_in_json(doc: dict[str, Any], url: str) -> ParsedFeed:
    channel = doc["rss"].get("channel") if isinstance(doc["rss"], dict) else None
    if not isinstance(channel, dict):
        raise ParseError("RSS-in-JSON document without a channel")
    entries: list[RawEntry] = []
    warnings: list[str] = []
    for i, item in enumerate(_listify(channel.get("item"))):
        if isinstance(item, dict):
            _isolated(i, partial(_rss_in_json_item, item, url), entries, warnings)
    meta = FeedMeta(
        url=url,
        title=_s(channel.get("title")),
        site_url=_s(channel.get("link")),
        language=_s(channel.get("language")),
        format="rss-in-json",
    )
    return ParsedFeed(meta=meta, entries=entries, warnings=warnings)


def _rss_in_json_item(item: dict[str, Any], url: str) -> RawEntry:
    guid = item.get("guid")
    guid = _s(guid.get("#value")) if isinstance(guid, dict) else _s(guid)
    return RawEntry(
        guid=guid,
        link=_s(item.get("link")),
        title=_s(item.get("title")),
        summary=_s(item.get("description")),
        published=_s(item.get("pubDate")),
        authors=[a for a in (_s(item.get("author")),) if a],
        categories=[c for c in (_s(x) for x in _listify(item.get("category"))) if c],
        base_url=url,
    )


def parse_json_feed(body: bytes, url: str, *, max_entries: int | None = None) -> ParsedFeed:
    """Parse a JSON Feed (or RSS-in-JSON) body; ParseError when it is JSON but not a feed. A JSON Feed's items
    past ``max_entries`` are counted (``unread``), not read."""
    doc = _decode(body)
    if not isinstance(doc, dict):
        raise ParseError("JSON document is not a feed (top level is not an object)")
    version = doc.get("version")
    if isinstance(version, str) and "jsonfeed.org" in version:
        return _json_feed(doc, url, max_entries)
    if "rss" in doc:
        return _rss_in_json(doc, url)
    if isinstance(doc.get("items"), list) and ("version" in doc or "title" in doc or "home_page_url" in doc):
        parsed = _json_feed(doc, url, max_entries)
        parsed.warnings.append("JSON Feed without a jsonfeed.org version; read as 1.0")
        return parsed
    raise ParseError("JSON document is not a JSON Feed (no jsonfeed.org version)")
