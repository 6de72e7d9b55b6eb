"""RawEntry → Article (pure). The rules, in the order they are applied:

- key: the item's guid, else its link as given, else a hash of title + body (:func:`entry_key`);
- URL: the link (else a guid that is an http(s) URL) canonicalised against the item's base
  (:mod:`worker.normalize.urls`);
- body: the fullest of content and summary (content wins ties), sanitised by nh3 with relative URLs made
  absolute; plain text read from that sanitised HTML, paragraphs separated by blank lines; syndication wrappers
  removed by :func:`worker.normalize.boilerplate.strip_boilerplate`;
- title: markup-free, entities decoded, white space collapsed, ≤ 1000 characters; an item without one is
  titled by the start of its text;
- dates: :func:`worker.normalize.dates.pick_published` (published → updated → dc:date → now, UTC, clamped future);
- publisher: the wrapper's credit, else the item's ``<source>``, else ``dc:publisher``, else the feed title;
  syndicator: the feed title when it differs from the publisher;
- language: the item's or feed's declaration checked against detection (:mod:`worker.normalize.language`);
- every string is NUL-free valid UTF-8.
An item with no title, no link and no text is unusable: :class:`EntryError`.
"""

from __future__ import annotations

import html as _html
from datetime import datetime
from typing import Any

import xxhash

from worker.errors import NEVER_SWALLOW, EntryError
from worker.models import Article, FeedMeta, RawEntry
from worker.normalize import boilerplate
from worker.normalize.dates import pick_published
from worker.normalize.html import (
    clean_html_to_paragraphs,
    clean_line,
    clean_title,
    looks_like_html,
    loose_html_to_paragraphs,
    nesting_too_deep,
    paragraphs_to_html,
    sanitize_html,
    scrub,
    text_to_paragraphs,
)
from worker.normalize.language import MIN_CHARS_OVERRIDE, normalize_language, resolve_language
from worker.normalize.urls import canonicalize_url
from worker.stories import fingerprint as dedupe

__all__ = ["LanguageTrust", "entry_hash", "entry_key", "normalize_entries", "normalize_entry"]

GUID_MAX = 1000  # longer guids are replaced by a hash (btree index rows must stay small)
SUMMARY_MAX = 2000
AUTHOR_MAX = 500
CATEGORY_MAX = 200
MAX_CATEGORIES = 50
UNTITLED_MAX = 120
MAX_BODY_CHARS = 1_000_000


def _hash(*parts: str | None) -> str:
    """xxh3-128 of the parts, each followed by a unit separator (a missing part is just the separator)."""
    data = "\x1f".join([p or "" for p in parts]) + "\x1f" if parts else ""
    return xxhash.xxh3_128_hexdigest(data.encode("utf-8", "surrogatepass"))


def entry_key(raw: RawEntry) -> str:
    """The item's key within its feed (the sighting guid): guid, else link as given, else a content hash."""
    for candidate in (raw.guid, raw.link):
        if candidate:
            key = scrub(candidate).strip()
            if key:
                return key if len(key) <= GUID_MAX else "xxh3:" + _hash(key)
    return "xxh3:" + _hash(raw.title, raw.content or raw.summary)


def entry_hash(raw: RawEntry) -> str:
    """A cheap digest over the fields that matter: "has this item changed since we last saw it"."""
    return _hash(
        raw.title, raw.link, raw.summary, raw.content, raw.published, raw.updated, raw.dc_date,
        "\x1e".join(raw.authors),
    )


def _pick_body(raw: RawEntry) -> tuple[str | None, bool, bool]:
    """(body, is_html, body_is_summary): the fullest of content and summary."""
    content, summary = raw.content, raw.summary
    if content and content.strip() and (not summary or len(content) >= len(summary)):
        return content, raw.content_is_html, False
    if summary and summary.strip():
        # a summary is HTML unless it is the only body and the entry says otherwise
        return summary, raw.content_is_html if not content else True, True
    return None, True, False


def _authors(raw: RawEntry) -> str | None:
    names: list[str] = []
    for name in raw.authors or ([raw.dc_creator] if raw.dc_creator else []):
        clean = clean_line(name, AUTHOR_MAX)
        # "jane@example.com (Jane Doe)" → "Jane Doe"
        if clean.endswith(")") and "(" in clean and "@" in clean.split("(", 1)[0]:
            clean = clean.split("(", 1)[1][:-1].strip() or clean
        if clean and clean not in names:
            names.append(clean)
    return clean_line(", ".join(names), AUTHOR_MAX) or None


def _categories(raw: RawEntry) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for c in raw.categories:
        clean = clean_line(c, CATEGORY_MAX)
        if clean and clean.casefold() not in seen:
            seen.add(clean.casefold())
            out.append(clean)
            if len(out) >= MAX_CATEGORIES:
                break
    return out


def _enclosures(raw: RawEntry, base: str | None) -> list[dict[str, Any]]:
    out = []
    for enc in raw.enclosures:
        url = enc.get("url")
        if not url or not isinstance(url, str):
            continue
        url = scrub(url).strip()
        if not url.startswith(("http://", "https://")):
            url = canonicalize_url(url, base) or ""  # resolve relative; keeps only http(s)
        if not url:
            continue
        typ = enc.get("type")
        length = enc.get("length")
        out.append({
            "url": url,
            "type": clean_line(typ, 200) or None if isinstance(typ, str) else None,
            "length": length if isinstance(length, int) and length >= 0 else None,
        })
    return out


class LanguageTrust:
    """Language detection made lazy within one feed batch: once :data:`TRUST_AFTER` items declared as
    language X were checked by detection and none contradicted it, later X items are not checked again."""

    TRUST_AFTER = 5

    def __init__(self) -> None:
        self._agreed: dict[str, int] = {}
        self._contradicted: set[str] = set()

    def resolve(self, declared: str | None, text: str) -> str | None:
        decl = normalize_language(declared)
        if decl is None or len(text) < MIN_CHARS_OVERRIDE:
            return resolve_language(decl, text)
        if decl not in self._contradicted and self._agreed.get(decl, 0) >= self.TRUST_AFTER:
            return decl
        found = resolve_language(decl, text)
        if found == decl:
            self._agreed[decl] = self._agreed.get(decl, 0) + 1
        else:
            self._contradicted.add(decl)
        return found


def _untitled(text: str, url: str | None) -> str:
    first = text.split("\n", 1)[0] if text else ""
    if first:
        return clean_line(first, UNTITLED_MAX)
    return url or ""


def normalize_entry(
    raw: RawEntry,
    meta: FeedMeta,
    now: datetime,
    *,
    default_tz: str = "UTC",
    future_skew_seconds: int = 3600,
    language_trust: LanguageTrust | None = None,
) -> Article:
    """One normalised article; :class:`EntryError` when the item has nothing usable.

    ``language_trust`` (shared across one feed's items by :func:`normalize_entries`) skips re-detecting a
    declared language the feed's earlier items already confirmed."""
    key = entry_key(raw)
    base = raw.base_url or meta.url
    link = scrub(raw.link).strip() if raw.link else None
    url = canonicalize_url(link, base) if link else None
    if url is None and raw.guid and raw.guid.startswith(("http://", "https://")):
        url = canonicalize_url(raw.guid)

    body, is_html, body_is_summary = _pick_body(raw)
    if body is not None and len(body) > MAX_BODY_CHARS:
        body = body[:MAX_BODY_CHARS]  # no article is this long; bound the HTML work (the parser copes with the cut)
    content_html: str | None = None
    paragraphs: list[str] = []
    if body is not None:
        html_body = is_html and looks_like_html(body)
        if html_body and nesting_too_deep(body):
            # a nesting bomb would cost the HTML parser quadratic time: keep its text only
            paragraphs = loose_html_to_paragraphs(body)
            content_html = paragraphs_to_html(paragraphs) if paragraphs else None
        elif html_body:
            content_html = sanitize_html(body, base)
            paragraphs = clean_html_to_paragraphs(content_html)
        else:
            paragraphs = text_to_paragraphs(_html.unescape(body) if is_html and "&" in body else body)
            content_html = paragraphs_to_html(paragraphs) if paragraphs else None

    feed_title = clean_line(meta.title, 500) or None
    cleaned = boilerplate.strip_boilerplate(paragraphs, feed_title)
    content_text = "\n\n".join(cleaned.paragraphs)

    summary: str | None = None
    if raw.summary and raw.summary.strip():
        summary = content_text if body_is_summary else "\n\n".join(loose_html_to_paragraphs(raw.summary))
        summary = clean_line(summary, SUMMARY_MAX) if len(summary) > SUMMARY_MAX else (summary or None)

    title = clean_title(raw.title)
    if not title:
        if not content_text and url is None:
            raise EntryError("item has no title, no usable link and no text")
        title = _untitled(content_text, url)

    credit = clean_line(cleaned.credit, 500) if cleaned.credit else ""
    publisher = (
        credit
        or clean_line(raw.source_title, 500)
        or clean_line(raw.dc_publisher, 500)
        or feed_title
        or None
    )
    syndicator = feed_title if feed_title and publisher and feed_title.casefold() != publisher.casefold() else None

    published_at, published_raw = pick_published(
        [(raw.published, raw.published_parsed), (raw.updated, raw.updated_parsed), (raw.dc_date, None)],
        now,
        meta.default_tz or default_tz,
        future_skew_seconds,
    )
    declared = raw.language or meta.language
    text_for_language = content_text or title
    if language_trust is not None:
        language = language_trust.resolve(declared, text_for_language)
    else:
        language = resolve_language(declared, text_for_language)

    return Article(
        guid=key,
        link=link,
        url=url,
        title=title,
        summary=summary,
        content_html=content_html,
        content_text=content_text,
        author=_authors(raw),
        publisher=publisher,
        syndicator=syndicator,
        language=language,
        published_at=published_at,
        published_raw=scrub(published_raw) if published_raw else None,
        categories=_categories(raw),
        enclosures=_enclosures(raw, base),
        content_hash=dedupe.content_hash(content_text, title, url),
        entry_hash=entry_hash(raw),
    )


def normalize_entries(
    raws: list[RawEntry],
    meta: FeedMeta,
    now: datetime,
    *,
    default_tz: str = "UTC",
    future_skew_seconds: int = 3600,
) -> tuple[list[Article], list[tuple[str, str]]]:
    """(articles, skipped as (entry_key, one-line reason)); one bad item never stops the others."""
    articles: list[Article] = []
    skipped: list[tuple[str, str]] = []
    trust = LanguageTrust()
    for i, raw in enumerate(raws):
        try:
            articles.append(
                normalize_entry(
                    raw, meta, now, default_tz=default_tz, future_skew_seconds=future_skew_seconds,
                    language_trust=trust,
                )
            )
        except EntryError as exc:
            skipped.append((_safe_key(raw, i), exc.reason))
        except NEVER_SWALLOW:
            raise
        except Exception as exc:  # per-item isolation: count it, keep going
            msg = " ".join(str(exc).split())[:200]
            skipped.append((_safe_key(raw, i), f"unexpected {type(exc).__name__}: {msg}"))
    return articles, skipped


MAX_LEARNED_KEYS = 50  # a feed's learned boilerplate is a handful of lines, never a text archive
MAX_LEARNED_CHARS = 400  # standing footers and "subscribe" lines are short; long paragraphs are never learned


def apply_learned_boilerplate(articles: list[Article], known: frozenset[str] = frozenset()) -> frozenset[str]:
    """Drop paragraphs that repeat across many items of one feed (``boilerplate.repeated_paragraphs`` over
    this batch, plus the feed's ``known`` keys from earlier batches) from each article's text, re-keying its
    content hash. Returns the feed's learned keys after this batch. Never empties an article."""
    paragraph_lists = [a.content_text.split("\n\n") for a in articles]
    learned = set(known)
    if len(articles) >= 3:  # earlier keys are proven across batches; new ones join while there is room
        short = [[p for p in paras if len(p) <= MAX_LEARNED_CHARS] for paras in paragraph_lists]
        for key in sorted(boilerplate.repeated_paragraphs(short) - learned):
            if len(learned) >= MAX_LEARNED_KEYS:
                break
            learned.add(key)
    if not learned:
        return frozenset()
    for a, paras in zip(articles, paragraph_lists, strict=True):
        kept = [p for p in paras if len(p) > MAX_LEARNED_CHARS or dedupe.text_key(p) not in learned]
        if kept and len(kept) < len(paras):
            a.content_text = "\n\n".join(kept)
            a.content_hash = dedupe.content_hash(a.content_text, a.title, a.url)
    return frozenset(learned)


def _safe_key(raw: RawEntry, index: int) -> str:
    try:
        return entry_key(raw)
    except NEVER_SWALLOW:
        raise
    except Exception:
        return f"#{index}"
