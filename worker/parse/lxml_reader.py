"""The lxml reader: a well-formed RSS 2.0 or Atom 1.0 feed straight into ``RawEntry`` / ``FeedMeta`` (pure).

feedparser is the parser of record; this reader serves the common case about four times faster, through lxml's
public API only. It reads what the project's model needs and declines (:func:`parse_fast` returns ``None``, and
:func:`worker.parse.feed.parse_feed` hardens the body and hands it to feedparser) whenever its reading might not
be the one feedparser gives:

- the bytes: anything but UTF-8 or ASCII, a NUL, a DOCTYPE or ENTITY declaration, more tags or ``&`` than the
  hardening allows, XML that lxml refuses in strict mode (no recovery, no DTD, no entities, no network);
- the shape: a root other than ``<rss>`` with one ``<channel>`` or an Atom 1.0 ``<feed>``, RSS 1.0 / RDF or
  Atom 0.3 namespaces, a prefix bound to two namespaces, a namespace it does not know bound to a prefix
  feedparser reads by name (``dc``, ``media``, ...);
- the vocabulary: an element it neither reads nor knows to be irrelevant (see ``_ITEM`` and ``_CHANNEL``), or
  one it knows but does not model (``media:title``, ``itunes:summary``, an item-level ``<image>``, Atom
  ``<source>``), two titles, summaries or dates of one kind in one item, markup inside a text element, XHTML,
  base64 or out-of-line content, a plain-text summary in an RSS feed (feedparser may call it HTML);
- the values: text that looks like UTF-8 read as Latin-1, or holds C1 control characters (feedparser repairs
  both), an author written as an e-mail address, a date outside RFC 822 / RFC 3339 with a UTC or numeric
  zone, a relative reference when the base is not a plain http(s) URL (feedparser rewrites a ``file:///`` base),
  a reference with extra slashes after ``scheme://``, a link with ``&name;`` in it.

The rules it shares with feedparser are those of the formats: the first summary is the summary, every
``content`` / ``content:encoded`` a body, an alternate HTML ``<link href>`` or the text of ``<link>`` the link, a
permalink ``<guid>`` (or Atom ``<id>``) the link when no link came before it; references resolved against
``xml:base``; ids kept as written. ``tests/test_lxml_reader.py`` holds it to its own expectations (fixtures
with JSON beside them) and ``tests/test_fastparse.py`` to feedparser's reading over the whole corpus.
"""

from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

from lxml import etree

from worker.errors import NEVER_SWALLOW
from worker.models import FeedMeta, ParsedFeed, RawEntry
from worker.parse import fields
from worker.parse.limits import MAX_ELEMENTS, MAX_REFERENCES

__all__ = ["Decline", "parse_fast", "parse_fast_or_reason"]


class Decline(Exception):
    """Not sure to read this body as feedparser would; ``reason`` is a short tag for statistics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_fast(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed | None:
    """The feed read by lxml, or ``None`` when this reader declines it (see the module docstring)."""
    return parse_fast_or_reason(body, url, content_type)[0]


def parse_fast_or_reason(body: bytes, url: str, content_type: str | None = None) -> tuple[ParsedFeed | None, str]:
    """(feed, "") when this reader serves the body, else (None, short reason)."""
    try:
        return _Reader(url).read(body, content_type), ""
    except Decline as d:
        return None, d.reason
    except NEVER_SWALLOW:
        raise
    except Exception as exc:  # anything unexpected: the parser of record decides
        return None, f"error:{type(exc).__name__}"


# --- vocabulary -------------------------------------------------------------------------------------------

XML_NS = "http://www.w3.org/XML/1998/namespace"
ATOM_NS = "http://www.w3.org/2005/Atom"

# Namespaces by lower-cased URI → the short name the tables below use. Atom's elements are read like RSS's own
# (feedparser does the same, so <atom:link> in an RSS item is a link). "~" marks namespaces whose elements
# never matter to the model; "!" ones this reader does not read at all.
_NAMESPACES = {
    ATOM_NS.lower(): "",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms",
    "http://search.yahoo.com/mrss/": "media",
    "http://search.yahoo.com/mrss": "media",
    "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://purl.org/rss/1.0/modules/syndication/": "sy",
    **dict.fromkeys((
        "http://purl.org/rss/1.0/modules/slash/", "http://wellformedweb.org/commentapi/",
        "http://rssnamespace.org/feedburner/ext/1.0", "http://www.georss.org/georss", "http://www.opengis.net/gml",
        "http://www.w3.org/2003/01/geo/wgs84_pos#", "http://purl.org/syndication/thread/1.0",
        "http://backend.userland.com/creativecommonsrssmodule", "http://web.resource.org/cc/",
        "http://creativecommons.org/ns#license", "http://webns.net/mvcb/", "http://podlove.org/simple-chapters",
        "http://www.google.com/schemas/play-podcasts/1.0", "https://podcastindex.org/namespace/1.0",
    ), "~"),
    **dict.fromkeys((
        "http://www.w3.org/1999/xhtml", "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/", "http://purl.org/atom/ns#",
    ), "!"),
}
# Prefixes feedparser reads by name whatever namespace they are bound to: a namespace this reader does not know
# may not use them (nor be the default namespace).
_CLAIMED_PREFIXES = frozenset({"", "atom", "content", "dc", "dcterms", "itunes", "media", "rdf", "xhtml"})

FOREIGN = "?"  # an element of a namespace outside the table: no meaning to the model

# What an element directly inside an item or entry is to this reader: a field it reads, "skip" (irrelevant to
# the model, children allowed only as listed in _SKIP_CHILDREN), or absent (decline).
_ITEM = {
    ("", "title"): "title", ("dc", "title"): "title",
    ("", "link"): "link",
    ("", "guid"): "id", ("", "id"): "id",
    ("", "description"): "summary", ("", "summary"): "summary", ("dc", "description"): "summary",
    ("", "content"): "content", ("content", "encoded"): "content",
    ("", "pubdate"): "published", ("", "published"): "published", ("", "issued"): "published",
    ("dcterms", "issued"): "published",
    ("", "updated"): "updated", ("", "modified"): "updated", ("dc", "date"): "updated",
    ("dcterms", "modified"): "updated",
    ("", "author"): "author", ("dc", "creator"): "author", ("dc", "author"): "author",
    ("", "category"): "category", ("dc", "subject"): "category",
    ("", "enclosure"): "enclosure",
    ("media", "content"): "media", ("media", "group"): "media", ("media", "thumbnail"): "media",
    ("", "source"): "source",
    ("dc", "publisher"): "publisher",
    **dict.fromkeys((
        ("", "comments"), ("", "rights"), ("", "copyright"), ("", "created"), ("", "expirationdate"),
        ("", "contributor"), ("dc", "rights"), ("dc", "language"), ("dc", "identifier"), ("dc", "type"),
        ("dc", "format"), ("dc", "source"), ("dc", "relation"), ("dc", "coverage"), ("dc", "contributor"),
        ("dcterms", "created"), ("dcterms", "valid"), ("dcterms", "available"), ("dcterms", "license"),
        ("itunes", "duration"), ("itunes", "explicit"), ("itunes", "image"), ("itunes", "episode"),
        ("itunes", "season"), ("itunes", "episodetype"), ("itunes", "block"), ("itunes", "subtitle"),
        ("itunes", "title"), ("itunes", "order"), ("itunes", "isclosedcaptioned"),
    ), "skip"),
}
# The same for the children of <channel> (RSS) or <feed> (Atom).
_CHANNEL = {
    ("", "item"): "entry", ("", "entry"): "entry",
    ("", "title"): "title", ("dc", "title"): "title",
    ("", "link"): "link",
    ("", "guid"): "id", ("", "id"): "id",
    ("", "language"): "language", ("dc", "language"): "language",
    ("", "ttl"): "ttl", ("sy", "updateperiod"): "period", ("sy", "updatefrequency"): "frequency",
    **dict.fromkeys((
        ("", "description"), ("", "subtitle"), ("", "tagline"), ("", "lastbuilddate"), ("", "pubdate"),
        ("", "updated"), ("", "published"), ("", "modified"), ("", "generator"), ("", "docs"), ("", "copyright"),
        ("", "rights"), ("", "managingeditor"), ("", "webmaster"), ("", "category"), ("", "cloud"), ("", "rating"),
        ("", "skiphours"), ("", "skipdays"), ("", "image"), ("", "textinput"), ("", "icon"), ("", "logo"),
        ("", "author"), ("", "contributor"), ("sy", "updatebase"),
    ), "skip"),
}
_AUTHOR_PARTS = frozenset({("", "name"), ("", "email"), ("", "uri")})
# Children a skipped element may have (checked to any depth); elements of "~" and foreign namespaces always may.
_SKIP_CHILDREN: dict[tuple[str, str], frozenset[tuple[str, str]]] = {
    ("", "contributor"): _AUTHOR_PARTS, ("", "author"): _AUTHOR_PARTS,
    ("", "image"): frozenset({("", "title"), ("", "url"), ("", "link"), ("", "width"), ("", "height"),
                              ("", "description")}),
    ("", "textinput"): frozenset({("", "title"), ("", "description"), ("", "name"), ("", "link")}),
    ("", "skiphours"): frozenset({("", "hour")}), ("", "skipdays"): frozenset({("", "day")}),
}
# media:* inside an item: read (content, thumbnail, group), irrelevant, or declined (titles, descriptions,
# keywords and categories feed the item's own fields in feedparser).
_MEDIA_SKIP = frozenset({"credit", "rating", "restriction", "license", "player", "copyright", "text", "hash",
                         "embed", "status", "price", "community", "comments", "peerlink", "location", "subtitle",
                         "scenes", "scene", "statistics", "starrating", "tags", "backlinks", "backlink", "param",
                         "responses", "response", "scenetitle", "scenedescription", "scenestarttime",
                         "sceneendtime"})

_MEDIA_SKIP_KEYS = frozenset(("media", name) for name in _MEDIA_SKIP)
_MEDIA_READ = frozenset({("media", "content"), ("media", "thumbnail"), ("media", "group"), ("media", "description"),
                         ("media", "keywords"), ("media", "category")})
_SCOPE_ATTRS = frozenset({"xml:base", "xml:lang", "base", "lang"})
_TEXT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html", "xhtml": "application/xhtml+xml"}
_RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}

_XMLNS = re.compile(rb"""xmlns(?::([A-Za-z_][\w.\-]*))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_XML_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:\-]+)", re.I)
_UTF8 = frozenset({"utf-8", "utf8"})
_ASCII_SAFE = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1",
                         "iso-8859-15", "windows-1252", "cp1252"})
_C1 = re.compile("[\x80-\x9f]")
_EXTRA_SLASHES = re.compile(r"[A-Za-z][A-Za-z0-9+,\-.]*:///")  # scheme:/// (feedparser folds the slashes)
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_ENTITY_LIKE = re.compile(r"&[A-Za-z0-9_]+;")
_RFC822 = re.compile(
    r"(?:[A-Za-z]{3},\s*)?(\d{1,2})\s+([A-Za-z]{3})\s+(\d{4})\s+(\d{2}):(\d{2})(?::(\d{2}))?"
    r"\s+(?:(GMT|UTC?|Z)|([+-])(\d{2})(\d{2}))\Z"
)
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:(Z)|([+-])(\d{2}):(\d{2})))?\Z"
)
_MONTHS = {m: i for i, m in enumerate(
    ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1)}

_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False, "no_network": True, "huge_tree": False, "recover": False, "load_dtd": False,
    "dtd_validation": False, "remove_comments": True, "remove_pis": True, "strip_cdata": True,
    "collect_ids": False,
}
_LOCAL = threading.local()  # an lxml parser is not shared between threads


# --- helpers ----------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _key(tag: str) -> tuple[str, str]:
    """(short namespace name, lower-cased local name) of a Clark-notation tag; FOREIGN for other namespaces."""
    if tag[0] != "{":
        return "", tag.lower()
    uri, local = tag[1:].split("}", 1)
    short = _NAMESPACES.get(uri.lower(), FOREIGN)
    return short, local.lower()


def _name(el: Any) -> tuple[str, str]:
    tag = el.tag
    if not isinstance(tag, str):
        raise Decline("node")
    return _key(tag)


def _text(el: Any, what: str) -> str:
    """An element's text, stripped; declines markup inside it and text feedparser would repair."""
    if len(el):
        raise Decline(f"markup:{what}")
    value = (el.text or "").strip()
    if not value.isascii():
        if _C1.search(value):
            raise Decline("c1-controls")
        try:
            value.encode("latin-1").decode("utf-8")
        except UnicodeError:
            return value
        raise Decline("latin-1-mojibake")  # UTF-8 read as Latin-1 somewhere upstream: feedparser repairs it
    return value


def _attrs(el: Any) -> dict[str, str]:
    """Attributes by lower-cased name (``xml:base`` / ``xml:lang`` under those names); rel and type lowered."""
    out: dict[str, str] = {}
    for name, value in el.items():
        if name[0] == "{":
            uri, local = name[1:].split("}", 1)
            name = f"xml:{local}" if uri == XML_NS else f"{{{uri}}}{local}"
        out[name.lower()] = value
    for name in ("rel", "type"):
        if name in out:
            out[name] = out[name].lower()
    return out


@lru_cache(maxsize=256)
def _plain_base(base: str) -> bool:
    """Whether relative references may be resolved against ``base`` here: an http(s) URL that resolving against
    itself leaves unchanged (a ``file:///`` or otherwise unusual base is rewritten by feedparser)."""
    return base.startswith(("http://", "https://")) and not _EXTRA_SLASHES.match(base) and urljoin(base, base) == base


def _join(base: str, ref: str) -> str:
    """``ref`` resolved against ``base``."""
    if _EXTRA_SLASHES.match(ref):
        raise Decline("url:slashes")
    if not _SCHEME.match(ref) and not _plain_base(base):
        raise Decline("url:relative-to-unusual-base")
    try:
        return urljoin(base, ref)
    except ValueError:
        raise Decline("url:invalid") from None


def _text_type(name: str, a: dict[str, str], default: str, *, rss: bool) -> str:
    """The content type of a text construct; declines what this reader does not model."""
    if "mode" in a or "src" in a:
        raise Decline(f"attr:{name}")
    value = a.get("type", default).lower()
    ctype = _TEXT_TYPES.get(value, value)
    if ctype not in ("text/plain", "text/html"):
        raise Decline(f"type:{name}")  # XHTML, base64 or an unknown type
    if rss and ctype == "text/plain" and name != "title":
        raise Decline(f"plain-text:{name}")  # feedparser guesses whether it is HTML
    return ctype


def _date(value: str) -> datetime | None:
    """An RFC 822 or RFC 3339 date with a UTC or numeric zone (a date alone is midnight UTC), as naive UTC;
    declines other forms, impossible dates and times (a leap second, 24:00)."""
    if not value:
        return None
    m = _RFC822.match(value)
    if m:
        day, mon, year, hh, mm, ss, utc, sign, oh, om = m.groups()
        month = _MONTHS.get(mon.lower())
        if month is None:
            raise Decline("date")
        offset = 0 if utc else (int(oh) * 60 + int(om)) * (-1 if sign == "-" else 1)
        return _utc(int(year), month, int(day), int(hh), int(mm), int(ss or 0), offset)
    m = _RFC3339.match(value)
    if m:
        y, mo, d, h, mi, sec, _z, sign, oh, om = m.groups()
        offset = (int(oh) * 60 + int(om)) * (-1 if sign == "-" else 1) if sign else 0
        return _utc(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0), offset)
    raise Decline("date")


def _utc(year: int, month: int, day: int, hh: int, mm: int, ss: int, offset_minutes: int) -> datetime:
    if hh > 23 or mm > 59 or ss > 59 or abs(offset_minutes) >= 24 * 60:
        raise Decline("date")
    try:
        return datetime(year, month, day, hh, mm, ss) - timedelta(minutes=offset_minutes)
    except (ValueError, OverflowError):
        raise Decline("date") from None


# --- the bytes --------------------------------------------------------------------------------------------


def _check_bytes(body: bytes, content_type: str | None) -> bytes:
    """``body`` without a UTF-8 BOM once it is known to be plain UTF-8 (or ASCII) within the limits."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    head = body[:1024].lstrip()
    if not head.startswith(b"<"):
        raise Decline("not-xml")
    if b"\x00" in body:
        raise Decline("nul")
    if b"<!ENTITY" in body or b"<!DOCTYPE" in body or b"<!doctype" in body:
        raise Decline("doctype")
    allowed = _ASCII_SAFE if body.isascii() else _UTF8  # invalid UTF-8 is refused by lxml below
    if head.startswith(b"<?xml") and b"?>" not in head:
        raise Decline("encoding")
    decl = _XML_DECL.match(head[: head.find(b"?>") + 2]) if head.startswith(b"<?xml") else None
    declared = decl.group(1).strip().lower().decode("latin-1") if decl else None
    if declared is not None and declared not in allowed:
        raise Decline("encoding")
    charset = _CHARSET.search(content_type or "")
    given = charset.group(1).lower() if charset else None
    if given is not None and (given not in allowed or (declared is not None and given != declared)):
        raise Decline("encoding")  # another charset, or one that contradicts the document's (feedparser flags it)
    if body.count(b"<") > MAX_ELEMENTS or body.count(b"&") > MAX_REFERENCES:
        raise Decline("limits")
    return body


def _check_namespaces(body: bytes) -> None:
    """Declines namespace bindings whose reading could differ from feedparser's (see the module docstring)."""
    bound: dict[str, str] = {}
    for m in _XMLNS.finditer(body):
        prefix = (m.group(1) or b"").decode("ascii").lower()
        uri = (m.group(2) if m.group(2) is not None else m.group(3)).decode("utf-8", "replace")
        if bound.setdefault(prefix, uri) != uri:
            raise Decline("namespace:rebound")
        short = _NAMESPACES.get(uri.lower())
        if short == "!":
            raise Decline("namespace:unread")  # RSS 1.0 / RDF, Atom 0.3, XHTML
        if short is None and prefix in _CLAIMED_PREFIXES:
            raise Decline("namespace:claimed-prefix")


def _tree(body: bytes) -> Any:
    parser = getattr(_LOCAL, "parser", None)
    if parser is None:
        parser = _LOCAL.parser = etree.XMLParser(**_PARSER_OPTIONS)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError:
        raise Decline("malformed") from None
    info = root.getroottree().docinfo
    if info.doctype or info.xml_version != "1.0":
        raise Decline("doctype")
    return root


# --- the walk ---------------------------------------------------------------------------------------------


class _Scope:
    """Where an element sits: its base URL and language (``xml:base`` / ``xml:lang`` inherited)."""

    __slots__ = ("base", "lang")

    def __init__(self, base: str, lang: str | None) -> None:
        self.base = base
        self.lang = lang

    def enter(self, a: dict[str, str]) -> _Scope:
        """The scope of an element with attributes ``a``. A bare ``base`` / ``lang`` counts as ``xml:base`` /
        ``xml:lang`` (feedparser reads them so); an empty language clears the inherited one."""
        if not a:
            return self
        base, lang = self.base, self.lang
        given = a.get("xml:base", a.get("base"))
        if given:
            base = _join(base, given)
            if not _plain_base(base):
                raise Decline("xml:base")
        written = a.get("xml:lang", a.get("lang"))
        if written is not None:
            lang = written or None
        return self if (base, lang) == (self.base, self.lang) else _Scope(base, lang)


def _skip(el: Any, allowed: frozenset[tuple[str, str]] = frozenset(), namespace: str = "") -> None:
    """An element irrelevant to the model: declines when something under it could be relevant to feedparser.
    Under it may be elements of irrelevant or unknown namespaces, those in ``allowed``, and any of ``namespace``."""
    if not len(el):
        return
    for child in el.iterdescendants():
        ck = _name(child)
        if ck[0] in ("~", FOREIGN) or ck in allowed or ck[0] == namespace:
            continue
        raise Decline(f"element:{_name(el)[1]}/{ck[0]}:{ck[1]}")


class _Links:
    """The link rules feedparser and the formats share: the last alternate HTML ``<link href>`` or ``<link>`` text
    wins; a permalink id stands in while no link came yet. ``<link rel="enclosure">`` joins ``enclosures``."""

    def __init__(self, enclosures: list[tuple[str, str | None, str | None]] | None = None) -> None:
        self.link: str | None = None
        self.enclosures = enclosures if enclosures is not None else []

    def element(self, el: Any, a: dict[str, str], scope: _Scope, *, in_entry: bool) -> None:
        href = a.get("url") or a.get("uri") or a.get("href")
        if href is None and "href" not in a:
            if set(a) - _SCOPE_ATTRS:
                raise Decline("link:attributes")
            value = _text(el, "link")
            if "&" in value and ";" in value and _ENTITY_LIKE.search(value):
                raise Decline("link:entity")
            self.link = _join(scope.base, value) if value else value
            return
        if not href:
            raise Decline("link:empty-href")
        if len(el):
            raise Decline("markup:link")
        rel = a.get("rel", "alternate")
        ctype = a.get("type", "application/atom+xml" if rel == "self" else "text/html")
        href = _join(scope.base, href)
        if rel == "alternate" and _TEXT_TYPES.get(ctype, ctype) in ("text/html", "application/xhtml+xml"):
            self.link = href
        elif rel == "enclosure" and in_entry:
            self.enclosures.append((href, ctype, a.get("length")))  # a link's type defaults to text/html

    def permalink(self, resolved: str) -> None:
        if self.link is None:
            self.link = resolved


def _id(el: Any, a: dict[str, str], scope: _Scope, links: _Links) -> str:
    """An id as written; a permalink one (the default) also stands in for a missing link, resolved."""
    written = _text(el, "id")
    if a.get("ispermalink", "true") == "true":
        links.permalink(_join(scope.base, written) if written else written)
    return written


class _Entry:
    """One ``<item>`` / ``<entry>`` → :class:`RawEntry`."""

    def __init__(self, reader: _Reader, scope: _Scope) -> None:
        self.rss = reader.rss
        self.url = reader.url
        self.scope = scope
        self.enclosures: list[tuple[str, str | None, str | None]] = []  # <enclosure> and <link rel="enclosure">
        self.links = _Links(self.enclosures)
        self.seen: set[str] = set()
        self.guid: str | None = None
        self.title: str | None = None
        self.title_scope: _Scope | None = None
        self.summary: tuple[str, str, _Scope] | None = None
        self.contents: list[tuple[str, str, _Scope]] = []
        self.dates: dict[str, str] = {}
        self.authors: list[str] = []
        self.author_style = ""
        self.tags: list[tuple[str, str | None, str | None]] = []
        self.media: list[tuple[str | None, str | None, str | None]] = []
        self.thumbnails: list[str] = []
        self.source: tuple[str | None, str | None] = (None, None)
        self.publisher: str | None = None

    def once(self, what: str) -> None:
        if what in self.seen:
            raise Decline(f"twice:{what}")
        self.seen.add(what)

    def read(self, item: Any) -> RawEntry:
        for el in item:
            key = _name(el)
            a = _attrs(el)
            scope = self.scope.enter(a)
            what = _ITEM.get(key)
            if what is None:
                if key[0] in ("~", FOREIGN):
                    _skip(el)
                    continue
                if key[0] == "media" and key[1] in _MEDIA_SKIP:
                    _skip(el, _MEDIA_SKIP_KEYS)
                    continue
                raise Decline(f"element:{key[0]}:{key[1]}")
            if what == "skip":
                _skip(el, _SKIP_CHILDREN.get(key, frozenset()))
            else:
                getattr(self, "on_" + what)(el, key, a, scope)
        return self.build()

    def on_title(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        self.once("title")
        _text_type("title", a, "text/plain", rss=self.rss)
        self.title = _text(el, "title")
        self.title_scope = scope

    def on_link(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        self.links.element(el, a, scope, in_entry=True)

    def on_id(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        self.once("id")
        self.guid = _id(el, a, scope, self.links)

    def on_summary(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        self.once("summary")
        default = "text/html" if key[1] == "description" else "text/plain"
        self.summary = (_text(el, "summary"), _text_type("summary", a, default, rss=self.rss), scope)

    def on_content(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        default = "text/html" if key == ("content", "encoded") else "text/plain"
        self.contents.append((_text(el, "content"), _text_type("content", a, default, rss=self.rss), scope))

    def on_published(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        self.once("published")
        self.dates["published"] = _text(el, "date")

    def on_updated(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        self.once("updated")
        self.dates["updated"] = _text(el, "date")

    def on_author(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        if len(el):  # Atom: <name>, <email>, <uri>
            style, name = "person", self.person(el)
        else:
            style, name = "text", _text(el, "author")
            if "@" in name:
                raise Decline("author:e-mail")  # feedparser splits "jane@x.org (Jane)" its own way
        if self.author_style and self.author_style != style:
            raise Decline("author:mixed")
        self.author_style = style
        if name and name not in self.authors:
            self.authors.append(name)

    @staticmethod
    def person(el: Any) -> str:
        if (el.text or "").strip():
            raise Decline("author:text-and-parts")
        parts: dict[str, str] = {}
        for child in el:
            ck = _name(child)
            if ck not in _AUTHOR_PARTS or ck[1] in parts or (child.tail or "").strip():
                raise Decline("author:parts")
            parts[ck[1]] = _text(child, "author")
        if not parts.get("name"):
            raise Decline("author:without-name")  # feedparser may carry an earlier author's fields over
        return parts["name"]

    def on_category(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        term, label = a.get("term") or None, a.get("label") or None
        scheme = a.get("scheme", a.get("domain")) or None
        value = _text(el, "category")
        if term is None and label is not None:
            raise Decline("category:label-without-term")
        if term is not None and value:
            raise Decline("category:term-and-text")
        if term is None:
            if not value:
                if scheme is not None:
                    raise Decline("category:empty-with-scheme")
                return
            if scheme is not None:  # feedparser adds the domain's tag, then writes the text into it: never merged
                self.tags.append((value, scheme, None))
                return
            term = value
        tag = (term, scheme, label)
        if tag not in self.tags:
            self.tags.append(tag)

    def on_enclosure(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        if len(el):
            raise Decline("markup:enclosure")
        self.enclosures.append((a.get("url") or a.get("uri") or a.get("href") or "", a.get("type"),
                                a.get("length")))  # as written: normalisation resolves it against the base

    def on_media(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        if key[1] == "thumbnail":
            url = a.get("url")
            value = _text(el, "media:thumbnail")
            if url is None and value:
                url = _join(scope.base, value)
            if url is not None:
                self.thumbnails.append(url)
            return
        if key[1] == "content":
            self.media.append((a.get("url"), a.get("type") or (f"{a['medium']}/*" if a.get("medium") else None),
                               a.get("filesize")))
        for child in el:  # a group's contents, a content's thumbnails and credits
            ck = _name(child)
            ca = _attrs(child)
            if ck in (("media", "content"), ("media", "thumbnail"), ("media", "group")):
                self.on_media(child, ck, ca, scope.enter(ca))
            elif ck[0] in ("~", FOREIGN) or (ck[0] == "media" and ck[1] in _MEDIA_SKIP):
                _skip(child, _MEDIA_SKIP_KEYS)
            else:
                raise Decline(f"element:media:{key[1]}/{ck[0]}:{ck[1]}")

    def on_source(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        self.once("source")
        self.source = (_text(el, "source") or None, a.get("url"))

    def on_publisher(self, el: Any, key: tuple[str, str], a: dict[str, str], scope: _Scope) -> None:
        self.once("publisher")
        self.publisher = _text(el, "publisher")

    def build(self) -> RawEntry:
        content: str | None = None
        content_is_html = True
        for value, ctype, _scope in self.contents:
            if value and (content is None or len(value) > len(content)):
                content, content_is_html = value, ctype != "text/plain"
        summary = self.summary[0] if self.summary else None
        if content is None and self.summary:
            content_is_html = self.summary[1] != "text/plain"
        detail = (self.contents[0][2] if self.contents else self.summary[2] if self.summary
                  else self.title_scope)
        enclosures = fields.Enclosures()
        for url, typ, length in self.enclosures:
            enclosures.add(url, typ, length)
        for media_url, typ, size in self.media:
            enclosures.add(media_url, typ, size)
        for thumbnail in self.thumbnails:
            enclosures.add(thumbnail, "image/*", None)
        published, updated = self.dates.get("published"), self.dates.get("updated")
        return RawEntry(
            guid=fields.text(self.guid),
            link=fields.text(self.links.link),
            title=fields.text(self.title),
            summary=fields.text(summary),
            content=fields.text(content),
            content_is_html=content_is_html,
            authors=self.authors,
            published=fields.text(published),
            updated=fields.text(updated),
            published_parsed=_date(published or ""),
            updated_parsed=_date(updated or ""),
            categories=[t for t, _s, _l in self.tags if t.strip()],
            enclosures=enclosures.items,
            language=detail.lang.replace("_", "-") if detail is not None and detail.lang else None,
            source_title=fields.text(self.source[0]),
            source_url=fields.text(self.source[1]),
            dc_publisher=fields.text(self.publisher),
            base_url=detail.base if detail is not None else self.url,
        )


class _Reader:
    """One body → :class:`ParsedFeed`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.rss = True

    def read(self, body: bytes, content_type: str | None) -> ParsedFeed:
        body = _check_bytes(body, content_type)
        _check_namespaces(body)
        root = _tree(body)
        a = _attrs(root)
        scope = _Scope(self.url, None).enter(a)
        lang = scope.lang.replace("_", "-") if scope.lang else None
        if root.tag == "rss":
            version = a.get("version", "")
            fmt = _RSS_VERSIONS.get(version) or ("rss20" if version.startswith("2.") else "rss")
            children = list(root)
            if len(children) != 1 or children[0].tag != "channel":
                raise Decline("root")
            channel = children[0]
            ca = _attrs(channel)
            if "href" in ca or "lastmod" in ca:
                raise Decline("attr:channel")
            return self.channel(channel, scope.enter(ca), fmt, lang)
        if root.tag == "{" + ATOM_NS + "}feed":
            self.rss = False
            return self.channel(root, scope, "atom10", lang)
        raise Decline("root")

    def channel(self, channel: Any, scope: _Scope, fmt: str, lang: str | None) -> ParsedFeed:
        links = _Links()
        values: dict[str, str] = {}
        titles = 0
        title: str | None = None
        entries: list[RawEntry] = []
        for el in channel:
            key = _name(el)
            a = _attrs(el)
            child = scope.enter(a)
            what = _CHANNEL.get(key)
            if what is None:
                if key[0] in ("~", FOREIGN):
                    _skip(el)
                elif key[0] == "itunes":  # owner, categories, images ...: none reaches the feed's title or link
                    _skip(el, namespace="itunes")
                elif key[0] in ("dc", "dcterms"):
                    _skip(el)
                elif key[0] == "media" and key[1] != "title":  # a media:title would reach the feed's title
                    _skip(el, _MEDIA_SKIP_KEYS | _MEDIA_READ)
                else:
                    raise Decline(f"element:{key[0]}:{key[1]}")
                continue
            if what == "entry":
                if {"href", "lastmod"} & set(a) or any(k.startswith("{") for k in a):
                    raise Decline("attr:item")
                entries.append(_Entry(self, child).read(el))
            elif what == "title":
                titles += 1
                if titles > 1:
                    raise Decline("twice:feed-title")
                _text_type("title", a, "text/plain", rss=self.rss)
                title = _text(el, "title")
            elif what == "link":
                links.element(el, a, child, in_entry=False)
            elif what == "id":
                _id(el, a, child, links)
            elif what == "skip":
                _skip(el, _SKIP_CHILDREN.get(key, frozenset()))
            else:  # language, ttl, sy:updatePeriod / updateFrequency: plain values
                if set(a) - _SCOPE_ATTRS:
                    raise Decline(f"attr:{key[1]}")
                if what in values:
                    raise Decline(f"twice:{what}")
                values[what] = _text(el, what)
        language: str | None = values.get("language", lang)
        meta = FeedMeta(
            url=self.url,
            title=fields.text(title),
            site_url=fields.text(links.link),
            language=fields.text(language),
            format=fmt,
            ttl_minutes=fields.positive_int(values.get("ttl")),
            update_period_minutes=fields.update_period_minutes(values.get("period"), values.get("frequency")),
        )
        return ParsedFeed(meta=meta, entries=entries)
