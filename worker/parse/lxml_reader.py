"""A fast path for the common well-formed RSS 2.0 / Atom 1.0 feed (pure: no network, no files).

feedparser stays the parser of record: :func:`parse_fast` walks the tree lxml builds and reproduces, element by
element, what feedparser's strict parser would put in its result for the fields :mod:`worker.parse.feed` reads
(it then maps that result with the very same ``parse._entry``). It returns ``None`` (and
:func:`worker.parse.feed.parse_feed` falls back to hardening + feedparser) whenever it is not sure to give the same
answer:

- the body is not plain UTF-8 / ASCII (BOMs of UTF-16/32, another declared or HTTP charset on non-ASCII bytes),
  holds a NUL, a DOCTYPE or an ENTITY declaration, is over the hardening limits, or is not well-formed for
  lxml (strict mode, never ``recover``; no DTD loading, no entity resolution, no network, depth limited);
- the root is not ``<rss>`` with one ``<channel>`` or an Atom 1.0 ``<feed>`` (RSS 0.90/1.0 and RDF, Atom 0.3 and
  unknown roots are declined);
- an element feedparser has a handler for appears where this module does not model it (``media:title``,
  ``itunes:keywords``, an item-level ``<image>``, Atom ``<source>`` ...), a text element holds child elements
  (inline XHTML, ``type="xhtml"``), content is base64 or out-of-line, an entry carries two summaries, or an
  unknown element would land on a key the mapping reads.

Behaviour copied from feedparser (6.0) on purpose, so that both paths agree: element and attribute names are
lower-cased; text is stripped, then "UTF-8 read as Latin-1" repaired and C1 controls mapped through
Windows-1252 (feedparser does both on every text value); ``link``/``id`` are resolved against ``xml:base``
(a permalink guid too, a guid with ``isPermaLink="false"`` is not); a permalink guid or Atom id stands in for a
missing link; the first non-empty title of a scope wins; ``description`` + ``content:encoded`` give summary and
content; ``dc:date`` is ``updated``; dates are read with feedparser's own date handlers.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from typing import Any

from feedparser.datetimes import _parse_date
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin, make_safe_absolute_uri
from feedparser.util import FeedParserDict
from lxml import etree

from worker.errors import NEVER_SWALLOW
from worker.models import FeedMeta, ParsedFeed, RawEntry
from worker.parse import feed as _parse

__all__ = ["Decline", "parse_fast", "parse_fast_or_reason"]


class Decline(Exception):
    """The fast path is not sure to match feedparser here; ``reason`` is a short tag for statistics."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- feedparser's vocabulary ------------------------------------------------------------------------------

_MATCH_NS: dict[str, str] = {k.lower(): v for k, v in _FeedParserMixin.namespaces.items()}
_HANDLED = frozenset(
    {n[7:].lower() for n in dir(_FeedParserMixin) if n.startswith("_start_")}
    | {n[5:].lower() for n in dir(_FeedParserMixin) if n.startswith("_end_")}
)
_KEYMAP: dict[str, Any] = FeedParserDict.keymap
_VERSION_NS = ("http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/")
_ATOM_NS = "http://www.w3.org/2005/Atom"
_ATOM_FEED = "{" + _ATOM_NS + "}feed"
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_RSS_VERSIONS = {"0.91": "rss091u", "0.92": "rss092", "0.93": "rss093", "0.94": "rss094"}
_looks_like_html: Callable[[str], bool] = _FeedParserMixin.looks_like_html

# Keys of feedparser's entry / feed dicts that worker.parse.feed reads: an unknown element must not land on them.
_ENTRY_KEYS = frozenset({
    "id", "link", "links", "title", "title_detail", "summary", "summary_detail", "content", "source", "tags",
    "media_content", "media_thumbnail", "authors", "author", "author_detail", "published", "updated",
    "published_parsed", "updated_parsed", "publisher", "guidislink",
})
_FEED_KEYS = frozenset({"title", "link", "links", "language", "id", "guidislink", "image", "textinput"})
_FEED_VALUES = frozenset({"ttl", "sy_updateperiod", "sy_updatefrequency"})

# Handled elements that cannot change anything the mapping reads (checked against feedparser's handlers).
_HARMLESS = frozenset({
    "created", "dcterms_created", "dcterms_valid", "expirationdate", "rights", "copyright", "dc_rights",
    "subtitle", "tagline", "itunes_subtitle", "itunes_block", "itunes_explicit", "itunes_image", "itunes_link",
    "media_credit", "media_rating", "media_restriction", "media_license", "media_player", "language",
    "dc_language", "contributor", "dc_contributor", "name", "email", "uri", "url", "homepage", "width", "height",
    "cc_license", "creativecommons_license", "info", "feedburner_browserfriendly", "generator", "cloud",
    "georss_point", "georss_line", "georss_polygon", "georss_box", "georss_where", "where", "georssgeom", "geom",
    "gml_point", "gml_linestring", "gml_polygon", "gml_exterior", "gml_linearring", "gml_pos", "gml_poslist",
    "psc_chapters", "psc_chapter",
})
_FEED_HARMLESS = _HARMLESS | {
    "description", "dc_description", "summary", "itunes_summary", "updated", "lastbuilddate", "modified",
    "pubdate", "published", "issued", "dc_date", "dcterms_modified", "dcterms_issued", "author", "managingeditor",
    "webmaster", "dc_creator", "dc_author", "dc_publisher", "itunes_author", "itunes_owner", "itunes_name",
    "itunes_email", "category", "dc_subject", "keywords", "itunes_category", "itunes_keywords", "media_category",
    "media_keywords", "media_thumbnail", "media_content", "media_group", "media_description", "media_credit",
    "enclosure", "newlocation", "tags",
}
_FEED_HARMLESS_NESTED = _FEED_HARMLESS - {"description", "summary", "itunes_summary", "dc_description"}
_IMAGE_CHILDREN = frozenset({"title", "link", "description", "url", "href", "width", "height"})
_TEXTINPUT_CHILDREN = frozenset({"title", "link", "description", "name"})
_AUTHOR_CHILDREN = frozenset({"name", "email", "uri", "url", "homepage"})
_MEDIA_NESTED = frozenset({"media_content", "media_thumbnail", "media_credit", "media_rating",
                           "media_restriction", "media_license", "media_player"})
_DATE_KEYS = {"published": "published", "pubdate": "published", "issued": "published",
              "dcterms_issued": "published", "updated": "updated", "modified": "updated",
              "lastbuilddate": "updated", "dc_date": "updated", "dcterms_modified": "updated"}

# feedparser's _sync_author_detail e-mail pattern (matched so that "jane@x.org (Jane)" splits the same way)
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"""
    r"""([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_LINK_REF = re.compile("&([A-Za-z0-9_]+);")
_XMLNS = re.compile(rb"""xmlns(?::([A-Za-z_][\w.\-]*))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# An absolute http(s) URL that urllib's parse/unparse round trip leaves as it is (no params, no empty query or
# fragment, no white space, no IPv6 brackets): feedparser's _urljoin(base, url) returns it unchanged.
_PLAIN_URL = re.compile(r"https?://[^/?#;\[\]\s\\]+(?:/[^?#;\s\\]*)?(?:\?[^#\s\\]+)?(?:#\S+)?\Z")
_C1 = re.compile("[\x80-\x9f]")
_XML_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([^"']*)["']""")
_UTF8 = frozenset({"utf-8", "utf8"})
_ASCII_SAFE = frozenset({"utf-8", "utf8", "us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1",
                         "iso-8859-15", "windows-1252", "cp1252"})


# --- public API ---------------------------------------------------------------------------------------------


def parse_fast(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed | None:
    """The feed as feedparser would give it, or ``None`` when this fast path is not sure to match it."""
    feed, _reason = parse_fast_or_reason(body, url, content_type)
    return feed


def parse_fast_or_reason(body: bytes, url: str, content_type: str | None = None) -> tuple[ParsedFeed | None, str]:
    """(feed, "") when the fast path serves the body, else (None, short decline reason)."""
    try:
        return _Walker(url).run(body, content_type), ""
    except Decline as d:
        return None, d.reason
    except NEVER_SWALLOW:
        raise
    except Exception as exc:  # anything unexpected: the parser of record decides
        return None, f"error:{type(exc).__name__}"


# --- pre-checks ---------------------------------------------------------------------------------------------


def _check_bytes(body: bytes, content_type: str | None) -> bytes:
    """``body`` without a UTF-8 BOM once it is known to be plain UTF-8 (or ASCII) within the limits."""
    if body.startswith(b"\xef\xbb\xbf"):
        body = body[3:]
    head = body[:1024].lstrip()
    if not head.startswith(b"<"):
        raise Decline("not-xml")  # UTF-16/32 (by BOM or pattern), JSON, junk
    if b"\x00" in body:
        raise Decline("nul")
    if b"<!ENTITY" in body or b"<!DOCTYPE" in body or b"<!doctype" in body:
        raise Decline("doctype")
    ascii_only = body.isascii()  # invalid UTF-8 is a fatal error for lxml below ("malformed")
    allowed = _ASCII_SAFE if ascii_only else _UTF8
    if head.startswith(b"<?xml") and b"?>" not in head:
        raise Decline("encoding")  # a declaration too long to read cheaply
    decl = _XML_DECL.match(head[: head.find(b"?>") + 2]) if head.startswith(b"<?xml") else None
    if decl and decl.group(1).strip().lower().decode("latin-1") not in allowed:
        raise Decline("encoding")
    charset = _parse._CHARSET.search(content_type or "")
    if charset and charset.group(1).lower() not in allowed:
        raise Decline("encoding")
    if charset and decl and charset.group(1).lower() != decl.group(1).strip().lower().decode("latin-1"):
        raise Decline("encoding")  # feedparser would flag the override (bozo)
    if body.count(b"<") > _parse.MAX_ELEMENTS or body.count(b"&") > _parse.MAX_REFERENCES:
        raise Decline("limits")
    return body


def _declarations(body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(prefix → URI, unknown URI → its first prefix) over every ``xmlns`` declaration in the body.

    feedparser's namespace table is global (never scoped), so a prefix bound to two URIs is declined."""
    prefixes: dict[str, str] = {}
    first_prefix: dict[str, str] = {}
    for m in _XMLNS.finditer(body):
        prefix = (m.group(1) or b"").decode("ascii")
        raw = m.group(2) if m.group(2) is not None else m.group(3)
        uri = raw.decode("utf-8")
        if "&" in uri or "\n" in uri or "\t" in uri:
            raise Decline("namespace")
        if prefixes.setdefault(prefix, uri) != uri and prefix:
            raise Decline("namespace")
        low = uri.lower()
        if low in _VERSION_NS:
            raise Decline("rss1/rdf")
        if prefix and low not in _MATCH_NS and "backend.userland.com/rss" not in low:
            first_prefix.setdefault(uri, prefix)
    for prefix, uri in prefixes.items():
        canonical = _MATCH_NS.get(uri.lower())
        if prefix and canonical is not None and canonical != prefix and (
            prefix in _MATCH_NS.values() or prefix in first_prefix.values()
        ):
            raise Decline("namespace")
    return prefixes, first_prefix


_PARSER_OPTIONS: dict[str, Any] = {
    "resolve_entities": False, "no_network": True, "huge_tree": False, "recover": False, "load_dtd": False,
    "dtd_validation": False, "remove_comments": True, "remove_pis": True, "strip_cdata": True,
    "collect_ids": False,
}


_LOCAL = threading.local()  # an lxml parser is not to be shared between threads


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


# --- text and attributes as feedparser gives them -----------------------------------------------------------


def _fp_text(s: str) -> str:
    """feedparser's last steps on every text value: undo UTF-8-read-as-Latin-1, map C1 through cp1252."""
    if s.isascii():
        return s
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        s = s.encode("iso-8859-1").decode("utf-8")
    return s.translate(_cp1252) if _C1.search(s) else s


def _map_type(value: str) -> str:
    value = value.lower()
    if value in ("text", "plain"):
        return "text/plain"
    if value == "html":
        return "text/html"
    if value == "xhtml":
        return "application/xhtml+xml"
    return value


def _attrs(el: Any) -> dict[str, str]:
    """Attributes keyed as feedparser keys them (lower-cased, ``xml:lang`` also as ``lang``); rel/type lowered."""
    items = el.items()
    if not items:
        return {}
    out: dict[str, str] = {}
    for key, value in items:
        if key[0] == "{":
            ns, local = key[1:].split("}", 1)
            prefix = _MATCH_NS.get(ns.lower(), "")
            out[(prefix + ":" + local if prefix else local).lower()] = value
        else:
            out[key.lower()] = value
    for key, value in items:
        if key[0] == "{":
            out[key.split("}", 1)[1].lower()] = value
    for key in ("rel", "type"):
        if key in out:
            out[key] = out[key].lower()
    return out


def _leaf_text(el: Any, name: str) -> str:
    if len(el):
        raise Decline(f"markup:{name}")
    return (el.text or "").strip()


# --- the walk -----------------------------------------------------------------------------------------------


class _Walker:
    """One parse: mirrors the parts of feedparser's state (base, language, title depth) the mapping depends on."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.version = ""
        self.feed: dict[str, Any] = {}
        self.entries: list[dict[str, Any]] = []
        self.title_depth = -1
        self.names: dict[str, str] = {}
        self.bases: dict[tuple[str, str], str] = {}
        self.same: dict[str, str] = {}  # base of an element without xml:base, by its parent's base
        self.namespacemap: dict[str, str] = {}
        self.first_prefix: dict[str, str] = {}

    # names, bases, languages

    def name(self, el: Any) -> str:
        tag = el.tag
        if not isinstance(tag, str):
            raise Decline("node")
        cached = self.names.get(tag)
        if cached is not None:
            return cached
        if tag[0] == "{":
            ns, local = tag[1:].split("}", 1)
            low = ns.lower()
            if "backend.userland.com/rss" in low:
                low = "http://backend.userland.com/rss"
            prefix = _MATCH_NS.get(low)
            if prefix is None:
                prefix = self.first_prefix.get(ns, "")
            full = (prefix + ":" + local if prefix else local).lower()
        else:
            full = tag.lower()
        prefix, colon, suffix = full.partition(":")
        if colon:
            prefix = self.namespacemap.get(prefix, prefix)
            full = prefix + "_" + suffix if prefix else suffix
        self.names[tag] = full
        return full

    def base(self, current: str, a: dict[str, str]) -> str:
        attr = (a.get("xml:base", a.get("base")) or current) if a else current
        key = (current, attr)
        found = self.bases.get(key)
        if found is None:
            found = (make_safe_absolute_uri(current, attr) or current) if current else _urljoin(current, attr)
            self.bases[key] = found
            if attr == current:
                self.same[current] = found
        return found

    @staticmethod
    def lang(current: str | None, a: dict[str, str]) -> str | None:
        if not a:
            return current
        lang = a.get("xml:lang", a.get("lang"))
        if lang == "":
            return None
        return current if lang is None else lang

    # document

    def run(self, body: bytes, content_type: str | None) -> ParsedFeed:
        body = _check_bytes(body, content_type)
        prefixes, self.first_prefix = _declarations(body)
        self.namespacemap = {p: _MATCH_NS[u.lower()] for p, u in prefixes.items() if p and u.lower() in _MATCH_NS}
        root = _tree(body)
        base = make_safe_absolute_uri("", self.url) or make_safe_absolute_uri(self.url) or ""
        name = self.name(root)
        a = _attrs(root)
        base = self.base(base, a)
        lang = self.lang(None, a)
        if lang:
            self.feed["language"] = lang.replace("_", "-")
        if name == "rss" and root.tag == "rss":
            self.rss(root, a, base, lang)
        elif name == "feed" and root.tag == _ATOM_FEED:
            self.version = "atom10"
            self.channel(root, 1, base, lang)
        else:
            raise Decline("root")
        return self.result()

    def rss(self, root: Any, a: dict[str, str], base: str, lang: str | None) -> None:
        attr_version = a.get("version", "")
        self.version = _RSS_VERSIONS.get(attr_version) or ("rss20" if attr_version.startswith("2.") else "rss")
        children = list(root)
        if len(children) != 1 or self.name(children[0]) != "channel":
            raise Decline("root")
        channel = children[0]
        ca = _attrs(channel)
        if "href" in ca or "lastmod" in ca:
            raise Decline("attr:channel")
        self.channel(channel, 2, self.base(base, ca), self.lang(lang, ca))

    def result(self) -> ParsedFeed:
        feed = self.feed
        meta = FeedMeta(
            url=self.url,
            title=_parse._str(feed.get("title")),
            site_url=_parse._str(feed.get("link")),
            language=_parse._str(feed.get("language")),
            format=self.version,
            ttl_minutes=_parse._int(feed.get("ttl")),
            update_period_minutes=_parse._update_period(feed),
        )
        raws: list[RawEntry] = []
        warnings: list[str] = []
        for i, e in enumerate(self.entries):
            try:
                raws.append(_parse._entry(e, self.url, e.get("written_id", e.get("id"))))
            except NEVER_SWALLOW:
                raise
            except Exception as exc:  # same isolation as the feedparser path
                warnings.append(f"entry {i} dropped at parse: {type(exc).__name__}: {str(exc)[:200]}")
        return ParsedFeed(meta=meta, entries=raws, warnings=warnings)

    # feed level

    def channel(self, channel: Any, depth: int, base: str, lang: str | None) -> None:
        for el in channel:
            name = self.name(el)
            a = _attrs(el)
            cbase, clang = self.base(base, a), self.lang(lang, a)
            d = depth + 1
            if name in ("item", "entry"):
                self.entries.append(_Entry(self, d).walk(el, a, cbase, clang))
            elif name in ("title", "dc_title"):
                self.feed_title(el, name, a, d)
            elif name == "link":
                self.feed_link(el, a, cbase)
            elif name in ("id", "guid"):
                self.feed_id(el, name, a, cbase)
            elif name in ("language", "dc_language"):
                self.feed["language"] = _fp_text(_leaf_text(el, name))
            elif name in ("image", "textinput"):
                self.feed_box(el, name, d)
            elif name in _FEED_HARMLESS:
                self.feed_nested(el)
            elif name in _HANDLED:
                raise Decline(f"element:{name}")
            else:
                self.feed_unknown(el, name, a)

    def feed_title(self, el: Any, name: str, a: dict[str, str], depth: int) -> None:
        _text_type(name, a, "text/plain")
        value = _fp_text(_leaf_text(el, name))
        if not -1 < self.title_depth <= depth:
            self.feed["title"] = value
        if value:
            self.title_depth = depth

    def feed_link(self, el: Any, a: dict[str, str], base: str) -> None:
        if _href_link(el, a, base, self.feed):
            return
        value = _leaf_text(el, "link")
        if value:
            value = _join(base, value)
        self.feed["link"] = _fix_link(_fp_text(value))

    def feed_id(self, el: Any, name: str, a: dict[str, str], base: str) -> None:
        is_link = a.get("ispermalink", "true") == "true"
        value = _leaf_text(el, name)
        if value and is_link:
            value = _join(base, value)
        value = _fp_text(value)
        self.feed["id"] = value
        if is_link:
            self.feed.setdefault("link", value)

    def feed_box(self, el: Any, name: str, depth: int) -> None:
        """``<image>`` / ``<textInput>``: their title and link stay in their own dict, but move the title depth."""
        self.title_depth = -1
        allowed = _IMAGE_CHILDREN if name == "image" else _TEXTINPUT_CHILDREN
        for child in el:
            child_name = self.name(child)
            if child_name not in allowed:
                raise Decline(f"element:{name}/{child_name}")
            text = _leaf_text(child, child_name)
            if child_name == "title" and text:
                self.title_depth = depth + 1

    def feed_nested(self, el: Any) -> None:
        for child in el.iterdescendants():
            name = self.name(child)
            if name in _FEED_HARMLESS_NESTED or name in _AUTHOR_CHILDREN:
                continue
            if name in _HANDLED:
                raise Decline(f"element:nested:{name}")
            if _KEYMAP.get(name, name) in _FEED_KEYS or name in _FEED_VALUES:
                raise Decline(f"collision:{name}")

    def feed_unknown(self, el: Any, name: str, a: dict[str, str]) -> None:
        key = _key(name)
        if key in _FEED_KEYS:
            raise Decline(f"collision:{name}")
        if len(el):
            self.feed_nested(el)
        if key in _FEED_VALUES:
            if len(el):
                raise Decline(f"markup:{name}")
            self.feed[key] = dict(a) if a else _fp_text((el.text or "").strip())


def _join(base: str, uri: str) -> str:
    """feedparser's ``_urljoin(base, uri)``, without urllib's cost for a plain absolute URL."""
    if uri.isascii() and _PLAIN_URL.match(uri):
        return uri
    return _urljoin(base, uri)


def _fix_link(value: str) -> str:
    """feedparser's repair of ``&name;`` in links (taken for unhandled entity references)."""
    return _LINK_REF.sub(r"&\g<1>", value) if "&" in value and ";" in value else value


def _text_type(name: str, a: dict[str, str], default: str) -> str:
    """The content type feedparser gives a text construct; declines base64, out-of-line and XHTML content."""
    if "mode" in a or "src" in a:
        raise Decline(f"attr:{name}")
    ctype = _map_type(a.get("type", default))
    if ctype == "application/xhtml+xml":
        raise Decline(f"xhtml:{name}")
    if not ctype.startswith("text/"):
        raise Decline(f"type:{name}")
    return ctype


def _key(name: str) -> str:
    key = _KEYMAP.get(name, name)
    return key[0] if isinstance(key, list) else key


def _link_attrs(a: dict[str, str], base: str) -> str | None:
    """feedparser's ``_start_link`` on ``a`` (modified in place); the resolved href, or None for a text link."""
    a.setdefault("rel", "alternate")
    a.setdefault("type", "application/atom+xml" if a["rel"] == "self" else "text/html")
    href = a.get("url", a.get("uri", a.get("href")))
    if href:
        a.pop("url", None)
        a.pop("uri", None)
        a["href"] = href
    if "href" not in a:
        return None
    a["href"] = _join(base, a["href"])
    return a["href"]


def _href_link(el: Any, a: dict[str, str], base: str, target: dict[str, Any]) -> bool:
    """A link given by ``href`` (Atom style): the alternate HTML one becomes ``target["link"]``. False when the
    element has no usable ``href`` and its text is the link (RSS style)."""
    href = _link_attrs(a, base)
    if href is None:
        return False
    if len(el):
        raise Decline("markup:link")
    if a.get("rel") == "alternate" and _map_type(a.get("type", "")) in _HTML_TYPES:
        target["link"] = href
    return True


class _Entry:
    """One ``<item>`` / ``<entry>`` → the dict feedparser would build for it."""

    def __init__(self, walker: _Walker, depth: int) -> None:
        self.w = walker
        self.depth = depth
        self.e: dict[str, Any] = {}
        self.depths: dict[str, int] = {}
        self.has_content = False
        self.atom = walker.version.startswith("atom")

    def walk(self, item: Any, a: dict[str, str], base: str, lang: str | None) -> dict[str, Any]:
        if "rdf:about" in a or "href" in a or "lastmod" in a:
            raise Decline("attr:item")
        self.w.title_depth = -1
        self.children(item, self.depth + 1, base, lang, nested=False)
        return self.e

    def store(self, key: str, value: Any, depth: int) -> None:
        old = self.depths.get(key)
        if old is None or depth <= old:
            self.depths[key] = depth
            self.e[key] = value

    def children(self, parent: Any, depth: int, base: str, lang: str | None, *, nested: bool) -> None:
        w = self.w
        names = w.names
        for el in parent:
            name = names.get(el.tag) or w.name(el)
            a = _attrs(el)
            if a:
                cbase, clang = w.base(base, a), w.lang(lang, a)
            else:
                cbase, clang = w.same.get(base) or w.base(base, a), lang
            if nested and name not in _MEDIA_NESTED and name not in _HARMLESS and name in _HANDLED:
                raise Decline(f"element:nested:{name}")
            handler = _ENTRY_HANDLERS.get(name)
            if handler is not None:
                handler(self, el, name, a, depth, cbase, clang)
            elif name in _HARMLESS:
                self.harmless(el, depth, cbase, clang)
            elif name in _HANDLED:
                raise Decline(f"element:{name}")
            else:
                self.unknown(el, name, depth, cbase, clang)

    def harmless(self, el: Any, depth: int, base: str, lang: str | None) -> None:
        if len(el):
            self.children(el, depth + 1, base, lang, nested=True)

    def unknown(self, el: Any, name: str, depth: int, base: str, lang: str | None) -> None:
        if _key(name) in _ENTRY_KEYS:
            raise Decline(f"collision:{name}")
        if len(el):
            self.children(el, depth + 1, base, lang, nested=True)

    def detail(self, ctype: str, lang: str | None, base: str, value: str) -> dict[str, Any]:
        return {"type": ctype, "language": lang.replace("_", "-") if lang else lang, "base": base, "value": value}

    def text_type(self, el: Any, name: str, a: dict[str, str], default: str) -> tuple[str, str]:
        """(content type, stripped text) of a text construct; declines what feedparser would transform."""
        return _text_type(name, a, default), _leaf_text(el, name)

    # handlers

    def on_title(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        ctype, text = self.text_type(el, name, a, "text/plain")
        value = _fp_text(text)  # (feedparser may call an RSS title text/html: title_detail's type is never read)
        saved = self.w.title_depth
        if not -1 < self.w.title_depth <= depth:
            self.store("title", value, depth)
            self.e["title_detail"] = self.detail(ctype, lang, base, value)
        if value:
            self.w.title_depth = depth
        if name == "media_title":
            self.w.title_depth = saved

    def on_summary(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        if "summary" in self.e and not self.has_content:
            raise Decline("second-summary")
        default = "text/html" if name in ("description", "dc_description") else "text/plain"
        ctype, text = self.text_type(el, name, a, default)
        value = _fp_text(text)
        if not self.atom and ctype == "text/plain" and _looks_like_html(value):
            ctype = "text/html"
        self.store("summary", value, depth)
        self.e["summary_detail"] = self.detail(ctype, lang, base, value)

    def on_content(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        self.has_content = True
        ctype, text = self.text_type(el, name, a, "text/plain" if name == "content" else "text/html")
        copy_to_summary = ctype in ("text/plain", "text/html", "application/xhtml+xml")
        value = _fp_text(text)
        if not self.atom and ctype == "text/plain" and _looks_like_html(value):
            ctype = "text/html"
        self.e.setdefault("content", []).append(self.detail(ctype, lang, base, value))
        if copy_to_summary:
            self.e.setdefault("summary", value)

    def on_link(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        self.e.setdefault("links", []).append(a)
        if _href_link(el, a, base, self.e):
            return
        value = _leaf_text(el, name)
        if value:
            value = _join(base, value)
        value = _fix_link(_fp_text(value).replace("&amp;", "&"))
        self.e["link"] = value
        if value:
            a["href"] = value

    def on_id(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        is_link = a.get("ispermalink", "true") == "true"
        value = written = _leaf_text(el, name)
        if value and is_link:
            value = _join(base, value)
        value = _fp_text(value)
        if self.depths.get("id", depth) >= depth:
            self.e["written_id"] = written
        self.store("id", value, depth)
        self.e.setdefault("guidislink", is_link and "link" not in self.e)
        if is_link:
            self.e.setdefault("link", value)

    def on_date(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        key = _DATE_KEYS[name]
        value = _fp_text(_leaf_text(el, name))
        self.store(key, value, depth)
        self.e[key + "_parsed"] = _parse_date(value)

    def on_author(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        authors = self.e.setdefault("authors", [])
        detail: dict[str, Any] = {}
        authors.append(detail)
        if len(el):
            self.atom_author(el, detail)
            self.store("author", "", depth)
            self.e["author"] = detail["name"] + (f" ({detail['email']})" if detail.get("email") else "")
            return
        value = _fp_text((el.text or "").strip())
        self.store("author", value, depth)
        author = self.e.get("author")
        if not author:
            return
        email = None
        m = _EMAIL.search(author)
        if m:
            email = m.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def atom_author(self, el: Any, detail: dict[str, Any]) -> None:
        if (el.text or "").strip():
            raise Decline("markup:author")
        for child in el:
            child_name = self.w.name(child)
            if child_name not in _AUTHOR_CHILDREN or (child.tail or "").strip():
                raise Decline(f"element:author/{child_name}")
            value = _leaf_text(child, child_name)
            if child_name in ("name", "email"):
                if child_name in detail:
                    raise Decline("author-twice")
                detail[child_name] = value
        if not detail.get("name"):
            raise Decline("author-without-name")  # feedparser may carry an earlier author's fields over

    def on_publisher(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        self.store("publisher", _fp_text(_leaf_text(el, name)), depth)

    def on_category(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        tags = self.e.setdefault("tags", [])
        if name == "itunes_category":
            self.add_tag(a.get("text"), "http://www.itunes.com/", None)
        else:
            if name == "media_category":
                a.setdefault("scheme", "http://search.yahoo.com/mrss/category_schema")
            self.add_tag(a.get("term"), a.get("scheme", a.get("domain")), a.get("label"))
        value = _fp_text(_leaf_text(el, name))
        if not value:
            return
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            self.add_tag(value, None, None)

    def add_tag(self, term: str | None, scheme: str | None, label: str | None) -> None:
        tags = self.e.setdefault("tags", [])
        if not term and not scheme and not label:
            return
        value = {"term": term, "scheme": scheme, "label": label}
        if value not in tags:
            tags.append(value)

    def on_enclosure(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        if len(el):
            raise Decline("markup:enclosure")
        href = a.get("url", a.get("uri", a.get("href")))
        if href:
            a.pop("url", None)
            a.pop("uri", None)
            a["href"] = href
        a["rel"] = "enclosure"
        self.e.setdefault("links", []).append(a)

    def on_media(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        if name == "media_content":
            self.e.setdefault("media_content", []).append(a)
            if len(el):
                self.children(el, depth + 1, base, lang, nested=True)
            return
        if name == "media_group":
            self.children(el, depth + 1, base, lang, nested=True)
            return
        self.e.setdefault("media_thumbnail", []).append(a)  # media:thumbnail
        url = _leaf_text(el, name)
        if url:
            url = _fp_text(_join(base, url))
            if url.strip() and "url" not in a:
                a["url"] = url

    def on_source(self, el: Any, name: str, a: dict[str, str], depth: int, base: str, lang: str | None) -> None:
        source: dict[str, Any] = {}
        if "url" in a:
            source["href"] = a["url"]
        self.w.title_depth = -1
        value = _fp_text(_leaf_text(el, name))
        if value:
            source["title"] = value
        self.store("source", value, depth)
        self.e["source"] = source


_Handler = Callable[[_Entry, Any, str, dict[str, str], int, str, "str | None"], None]
_ENTRY_HANDLERS: dict[str, _Handler] = {
    "title": _Entry.on_title, "dc_title": _Entry.on_title, "media_title": _Entry.on_title,
    "description": _Entry.on_summary, "dc_description": _Entry.on_summary, "summary": _Entry.on_summary,
    "content": _Entry.on_content, "content_encoded": _Entry.on_content,
    "link": _Entry.on_link, "id": _Entry.on_id, "guid": _Entry.on_id,
    **{name: _Entry.on_date for name in _DATE_KEYS},
    "author": _Entry.on_author, "dc_creator": _Entry.on_author, "dc_author": _Entry.on_author,
    "itunes_author": _Entry.on_author, "managingeditor": _Entry.on_author,
    "dc_publisher": _Entry.on_publisher, "webmaster": _Entry.on_publisher,
    "category": _Entry.on_category, "dc_subject": _Entry.on_category, "keywords": _Entry.on_category,
    "media_category": _Entry.on_category, "itunes_category": _Entry.on_category,
    "enclosure": _Entry.on_enclosure,
    "media_content": _Entry.on_media, "media_group": _Entry.on_media, "media_thumbnail": _Entry.on_media,
    "source": _Entry.on_source,
}
