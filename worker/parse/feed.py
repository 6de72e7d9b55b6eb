"""Feed bytes → :class:`ParsedFeed` (pure: no network, no files).

The format is sniffed from the bytes, never from a file name: JSON Feed goes to :mod:`worker.parse.jsonfeed`,
a well-formed UTF-8 RSS 2.0 / Atom 1.0 body to :mod:`worker.parse.lxml_reader` (lxml) unless it declines,
everything else (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, RDF) to feedparser. feedparser is always handed a byte
stream (a ``str`` or ``bytes`` path could make it open a local file or a URL) with relative-URI resolution and
sanitising switched off: :mod:`worker.normalize.entry` does both, only for entries that are new.

Before feedparser sees a byte, :func:`harden_xml` makes the document safe and more likely to parse strictly:

- UTF-16/32 bodies are transcoded to UTF-8 (so NUL bytes can be dropped safely) and NULs are removed;
  a UTF-8 body with a few invalid bytes keeps being read as UTF-8 (:func:`repair_utf8`);
- every DOCTYPE and its internal subset are removed, found where expat itself finds them (comments, PIs and
  CDATA are read as expat reads them, so a ``<x>`` or ``<![CDATA[`` inside a comment hides nothing). Declared
  entities whose value is short plain text are substituted by us under a total expansion budget (no "billion
  laughs", no 50 KB × 40,000 expansions); external (SYSTEM/PUBLIC) and nested ones are dropped. Last, the body
  is decoded and rewritten exactly as feedparser will (its own functions) and read by expat up to the root
  element: a DOCTYPE still visible there (one hidden by an exotic declared encoding) refuses the body, so no
  parser ever expands an entity we did not write;
- character references to NUL, other C0 controls, lone surrogates (``&#xD800;``) or code points beyond
  U+10FFFF (which make feedparser raise) are dropped or replaced with U+FFFD;
- well-known prefixes used without a declaration (``atom:link``, ``media:content``, ``dc:creator``) are
  declared on the root element;
- HTML named entities (``&nbsp;``) become numeric references, unknown ones and bare ``&`` are escaped,
  so expat can read the feed strictly instead of falling back to the loose parser (CDATA is left alone);
- a run of hundreds of nested opening tags (a nesting bomb) is refused, and so is a body of more than
  :data:`MAX_ELEMENTS` tags or :data:`MAX_REFERENCES` ``&`` (feedparser's cost is per element and per
  reference, whatever the depth).
"""

from __future__ import annotations

import contextlib
import io
import pyexpat
import re
import time
from collections.abc import Callable
from datetime import datetime
from html.entities import name2codepoint
from typing import Any

import feedparser
from feedparser.encodings import convert_to_utf8
from feedparser.sanitizer import replace_doctype

from worker.errors import NEVER_SWALLOW, ParseError
from worker.models import FeedMeta, ParsedFeed, RawEntry
from worker.parse import fields, ids, jsonfeed
from worker.parse.limits import MAX_ELEMENTS, MAX_REFERENCES

__all__ = [
    "ENTITY_BUDGET_BYTES", "MAX_ELEMENTS", "MAX_OPEN_RUN", "MAX_REFERENCES",
    "cap_entries", "harden_xml", "parse_feed", "repair_utf8", "sniff_format",
]

ENTITY_BUDGET_BYTES = 1_000_000  # most bytes our substitution of DOCTYPE entities may add
MAX_ENTITY_VALUE = 512  # longest entity value we substitute; longer ones are dropped
MAX_OPEN_RUN = 256  # consecutive nested opening tags we accept

_PREDEFINED = frozenset({b"amp", b"lt", b"gt", b"quot", b"apos"})
_HTML_ENTITIES = {k.encode("ascii"): f"&#{v};".encode("ascii") for k, v in name2codepoint.items()}
_WS = b" \t\r\n"

_XML_DECL_ENC = re.compile(rb"""^(\s*<\?xml[^>]*?encoding\s*=\s*["'])([^"']*)(["'])""")
_DOCTYPE = re.compile(
    rb"""<!DOCTYPE(?:[^\[>"']|"[^"]*"|'[^']*')*(?:\[(?:[^\]"']|"[^"]*"|'[^']*')*\]\s*)?>""", re.I
)
_ENTITY_DECL = re.compile(
    rb"""<!ENTITY\s+(%\s*)?([A-Za-z_:][\w.:\-]*)\s+(?:"([^"]*)"|'([^']*)'|(?:SYSTEM|PUBLIC)[^>]*)\s*>"""
)
_SINGLE_CHARREF = re.compile(rb"^&#(?:[0-9]{1,7}|[xX][0-9a-fA-F]{1,6});$")
_FIX = re.compile(
    rb"&(?!(?:amp|lt|gt|quot|apos|#[1-9][0-9]{2,3}|#[xX][1-9a-fA-F][0-9a-fA-F]{2});)"
    rb"(?:#[xX]([0-9a-fA-F]{1,16});|#([0-9]{1,20});|([A-Za-z_:][\w.:\-]{0,63});)?"
)
_OPEN_RUN = re.compile(rb"(?:<[A-Za-z][^<>]{0,200}(?<!/)>\s{0,20}){%d}" % MAX_OPEN_RUN)
_ROOT = re.compile(rb"<([A-Za-z_][\w.:\-]*)")
_WS_RUN = re.compile(rb"[ \t\r\n]*")
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._:\-]+)", re.I)


# Well-known feed namespaces, declared for feeds that use the prefix without declaring it (a common mistake
# that otherwise sends the whole feed to feedparser's slower, less accurate loose parser).
_KNOWN_NAMESPACES = {
    b"atom": b"http://www.w3.org/2005/Atom",
    b"media": b"http://search.yahoo.com/mrss/",
    b"dc": b"http://purl.org/dc/elements/1.1/",
    b"dcterms": b"http://purl.org/dc/terms/",
    b"content": b"http://purl.org/rss/1.0/modules/content/",
    b"itunes": b"http://www.itunes.com/dtds/podcast-1.0.dtd",
    b"sy": b"http://purl.org/rss/1.0/modules/syndication/",
    b"slash": b"http://purl.org/rss/1.0/modules/slash/",
    b"wfw": b"http://wellformedweb.org/CommentAPI/",
    b"georss": b"http://www.georss.org/georss",
    b"feedburner": b"http://rssnamespace.org/feedburner/ext/1.0",
    b"googleplay": b"http://www.google.com/schemas/play-podcasts/1.0",
    b"podcast": b"https://podcastindex.org/namespace/1.0",
}


def _declare_known_prefixes(body: bytes, root: re.Match[bytes]) -> bytes:
    missing = [
        b' xmlns:%s="%s"' % (prefix, uri)
        for prefix, uri in _KNOWN_NAMESPACES.items()
        if b"<" + prefix + b":" in body and b"xmlns:" + prefix + b"=" not in body
        and b"xmlns:" + prefix + b" =" not in body
    ]
    if not missing:
        return body
    return body[: root.end()] + b"".join(missing) + body[root.end() :]


def _valid_xml_char(cp: int) -> bool:
    return (
        cp in (0x9, 0xA, 0xD)
        or 0x20 <= cp <= 0xD7FF
        or 0xE000 <= cp <= 0xFFFD
        or 0x10000 <= cp <= 0x10FFFF
    )


def _to_utf8(body: bytes) -> bytes:
    """UTF-16/32 bodies (by BOM or by the ``<?`` pattern) re-encoded as UTF-8, declaration fixed."""
    head = body[:4]
    codec = None
    if head.startswith((b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00")):
        codec = "utf-32"
    elif head.startswith((b"\xfe\xff", b"\xff\xfe")):
        codec = "utf-16"
    elif head == b"\x00\x00\x00<":
        codec = "utf-32-be"
    elif head == b"<\x00\x00\x00":
        codec = "utf-32-le"
    elif head[:2] == b"\x00<":
        codec = "utf-16-be"
    elif head[:2] == b"<\x00":
        codec = "utf-16-le"
    if codec is None:
        return body
    text = body.decode(codec, errors="replace").lstrip("\ufeff")
    out = text.encode("utf-8", errors="replace")
    return _XML_DECL_ENC.sub(rb"\1utf-8\3", out, count=1)


def repair_utf8(body: bytes, charset: str | None = None) -> bytes:
    """A UTF-8 body with a few invalid bytes, its bad bytes replaced by U+FFFD.

    feedparser re-reads a whole feed as Windows-1252 when one byte is not UTF-8, turning every accented
    character of a UTF-8 feed into mojibake. When the body (declared UTF-8, or undeclared) holds at least as
    many valid multi-byte characters as invalid bytes, or at least two of them, it is UTF-8 with damage: keep it
    UTF-8 (Windows-1252 text mislabelled as UTF-8 practically never forms a valid multi-byte sequence, let alone
    two). A body with fewer is left alone (really Windows-1252 or Latin-1: feedparser's fallback is right).
    """
    if charset and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return body
    try:
        body.decode("utf-8")
        return body
    except UnicodeDecodeError:
        pass
    decl = _XML_DECL_ENC.match(body)
    if decl and decl.group(2).strip().lower() not in (b"utf-8", b"utf8"):
        return body
    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    valid_multibyte = non_ascii - bad
    if valid_multibyte >= min(bad, 2):
        return text.encode("utf-8")
    return body


_SNIFF_WINDOWS = (4096, 1 << 20)  # a prolog longer than the first window is read up to the second one


def sniff_format(body: bytes) -> str:
    """``"json"``, ``"xml"``, ``"html"``, ``"empty"`` (prolog only) or ``"unknown"`` from the first bytes.

    The first 4 KB decide, unless the prolog (a DOCTYPE with a long internal subset, long comments) runs past
    them: then up to 1 MB is read, so such a feed is not refused as "no root element"."""
    for window in _SNIFF_WINDOWS:
        kind = _sniff(body[:window])
        if kind != "empty" or len(body) <= window:
            return kind
    return kind


def _sniff(head: bytes) -> str:
    start = head.lstrip(b"\xef\xbb\xbf" + _WS)
    if not start:
        return "unknown"
    if start[:1] in (b"{", b"["):
        return "json"
    if start[:1] != b"<":
        return "unknown"
    pos = 0  # one pass over the prolog by index: slicing the rest after each of 250,000 "<??>" was quadratic
    while True:
        ws = _WS_RUN.match(start, pos)
        pos = ws.end() if ws else pos
        end = -1
        if start.startswith(b"<?", pos):
            end = start.find(b"?>", pos)
            end = end + 2 if end >= 0 else -1
        elif start.startswith(b"<!--", pos):
            end = start.find(b"-->", pos)
            end = end + 3 if end >= 0 else -1
        elif start[pos : pos + 9].upper() == b"<!DOCTYPE":
            m = _DOCTYPE.match(start, pos)
            end = m.end() if m else -1
        if end < 0:
            break
        pos = end
    text = start[pos:]
    m = _ROOT.match(text)
    if m is None:
        if not text.strip() or text.startswith(b"<!"):
            return "empty"  # only a prolog (declaration, comments, DOCTYPE): no root element
        return "unknown"
    return "html" if m.group(1).lower() in (b"html", b"body", b"head") else "xml"


def _doctype_entities(doctype: bytes) -> tuple[dict[bytes, bytes], set[bytes]]:
    """(safe entity name → replacement, names of entities we drop) from an internal subset."""
    safe: dict[bytes, bytes] = {}
    dropped: set[bytes] = set()
    for m in _ENTITY_DECL.finditer(doctype):
        if m.group(1):  # parameter entity: never expanded in content
            continue
        name = m.group(2)
        value = m.group(3) if m.group(3) is not None else m.group(4)
        plain = value is not None and b"<" not in value and b"%" not in value
        if not plain or len(value) > MAX_ENTITY_VALUE or (b"&" in value and not _SINGLE_CHARREF.match(value)):
            dropped.add(name)
        else:
            safe[name] = value.replace(b'"', b"&quot;").replace(b"'", b"&apos;")
    return safe, dropped


def _fixer(safe: dict[bytes, bytes], dropped: set[bytes]) -> Callable[[re.Match[bytes]], bytes]:
    budget = [ENTITY_BUDGET_BYTES]

    def fix(m: re.Match[bytes]) -> bytes:
        whole = m.group(0)
        hexa, dec, name = m.group(1), m.group(2), m.group(3)
        if hexa is not None or dec is not None:
            cp = int(hexa, 16) if hexa is not None else int(dec)
            if _valid_xml_char(cp):
                return whole
            if cp == 0 or cp < 0x20:
                return b""
            return b"&#xFFFD;"
        if name is None:
            return b"&amp;"  # a bare ampersand
        if name in safe:
            value = safe[name]
            budget[0] -= len(value)
            if budget[0] < 0:
                raise ParseError("entity expansion over budget (an XML entity bomb?)")
            return value
        if name in dropped:
            return b""
        if name in _PREDEFINED:
            return whole
        html = _HTML_ENTITIES.get(name)
        if html is not None:
            return html
        return b"&amp;" + whole[1:]

    return fix


class _PrologEnd(Exception):
    """Raised from an expat handler: the DOCTYPE or the root element was reached."""


MAX_DOCTYPES = 4  # DOCTYPE declarations stripped from one body before it is refused


def _expat_prolog(body: bytes, encoding: str | None) -> tuple[int | None, int | None]:
    """(byte offset of the DOCTYPE expat finds, byte offset of the root element), reading only up to the first of
    them: expat stops in the handler, before it reads an internal subset. (None, None) when expat finds neither
    (malformed before the root: then no expat run on these bytes reaches a DOCTYPE either)."""
    parser = pyexpat.ParserCreate(encoding)
    found: list[int | None] = [None, None]

    def doctype(*_: Any) -> None:  # called after "<!DOCTYPE name", before the subset is read
        found[0] = body.rfind(b"<!DOCTYPE", 0, parser.CurrentByteIndex + 1)
        raise _PrologEnd

    def root(*_: Any) -> None:
        found[1] = parser.CurrentByteIndex
        raise _PrologEnd

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = root
    with contextlib.suppress(_PrologEnd, pyexpat.ExpatError):
        parser.Parse(body, True)
    return found[0], found[1]


def _expat_encoding(body: bytes) -> str:
    """UTF-8 when ``body`` is, else ISO-8859-1 (one byte, one character: the markup is where the bytes say)."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "iso-8859-1"
    return "utf-8"


def _strip_doctypes(body: bytes) -> tuple[bytes, dict[bytes, bytes], set[bytes], int | None]:
    """``body`` without any DOCTYPE expat would read, the entities they declared (safe, dropped), and the offset
    of the root element (None when expat does not reach one)."""
    safe: dict[bytes, bytes] = {}
    dropped: set[bytes] = set()
    encoding = _expat_encoding(body)
    for _ in range(MAX_DOCTYPES + 1):
        at, root = _expat_prolog(body, encoding)
        if at is None:
            return body, safe, dropped, root
        m = _DOCTYPE.match(body, at) if at >= 0 else None
        if m is None:
            raise ParseError("unterminated or unreadable DOCTYPE declaration")
        more_safe, more_dropped = _doctype_entities(m.group(0))
        safe.update(more_safe)
        dropped |= more_dropped
        body = body[: m.start()] + body[m.end() :]
    raise ParseError(f"more than {MAX_DOCTYPES} DOCTYPE declarations")


def harden_xml(body: bytes) -> bytes:
    """``body`` made safe for feedparser (see the module docstring); raises ParseError for bombs."""
    body = _to_utf8(body)
    if b"\x00" in body:
        body = body.replace(b"\x00", b"")
    safe: dict[bytes, bytes] = {}
    dropped: set[bytes] = set()
    if b"<!DOCTYPE" in body:
        body, safe, dropped, _ = _strip_doctypes(body)
    refs = body.count(b"&")
    if refs > MAX_REFERENCES:
        raise ParseError(f"too many entity references for one feed ({refs}; the limit is {MAX_REFERENCES})")
    if refs:
        body = _fix_outside_cdata(body, _fixer(safe, dropped))
    root = _root(body)
    if root is not None:
        body = _declare_known_prefixes(body, root)
    lt = body.count(b"<")
    if lt > MAX_ELEMENTS:
        raise ParseError(f"too many elements for one feed ({lt} tags; the limit is {MAX_ELEMENTS})")
    # A nesting bomb is element-dense; only then is the (slower) run search worth doing.
    if lt > MAX_OPEN_RUN and lt * 16 > len(body) and _OPEN_RUN.search(body):
        raise ParseError(f"elements nested more than {MAX_OPEN_RUN} deep (a nesting bomb?)")
    return body


def _root(body: bytes) -> re.Match[bytes] | None:
    """The root element's opening ``<name``: where expat finds it, else (malformed prolog) the first one."""
    _, at = _expat_prolog(body, _expat_encoding(body))
    if at is not None:
        m = _ROOT.match(body, at)
        if m is not None:
            return m
    return _ROOT.search(body)


def _no_dtd_for_expat(body: bytes, headers: dict[str, str]) -> None:
    """Refuse ``body`` if feedparser's expat would still read a DOCTYPE in it: the bytes are decoded and rewritten
    by feedparser's own functions (as :func:`feedparser.parse` does), then read by expat up to the root."""
    converted = convert_to_utf8(headers, body, {})
    _version, rewritten, _entities = replace_doctype(converted)
    if b"<!DOCTYPE" in rewritten and _expat_prolog(rewritten, None)[0] is not None:
        raise ParseError("a DOCTYPE declaration that could not be removed (hidden by the declared encoding?)")


def _fix_outside_cdata(body: bytes, fix: Callable[[re.Match[bytes]], bytes]) -> bytes:
    """Apply the reference fixes to ``body`` except inside CDATA sections (whose ``&`` is literal text) and
    comments (which expat never expands; a ``<![CDATA[`` inside a comment starts nothing). One linear scan."""
    if b"<![CDATA[" not in body and b"<!--" not in body:
        return _FIX.sub(fix, body)
    out: list[bytes] = []
    pos = 0
    n = len(body)
    cdata = comment = -2  # next known occurrences (found again only once passed: the scan stays linear)
    while pos < n:
        if -1 != cdata < pos:
            cdata = body.find(b"<![CDATA[", pos)
        if -1 != comment < pos:
            comment = body.find(b"<!--", pos)
        if comment >= 0 and (cdata < 0 or comment < cdata):
            start, closer = comment, b"-->"
        else:
            start, closer = cdata, b"]]>"
        segment = body[pos:] if start < 0 else body[pos:start]
        out.append(_FIX.sub(fix, segment) if b"&" in segment else segment)
        if start < 0:
            break
        end = body.find(closer, start + 4)
        end = n if end < 0 else end + len(closer)
        out.append(body[start:end])
        pos = end
    return b"".join(out)


# --- feedparser's own regular expressions ----------------------------------------------------------------

MAX_AUTHOR_CHARS = 1000  # an author text longer than this is cut before feedparser looks for an e-mail in it

_feedparser_sync_author = feedparser.mixin._FeedParserMixin._sync_author_detail


def _sync_author_bounded(self: Any, key: str = "author") -> None:
    """feedparser's ``_sync_author_detail`` on an author text cut to :data:`MAX_AUTHOR_CHARS`: its e-mail pattern
    (``[a-zA-Z0-9_.+-]+@…``) is tried from every character of a run, so 40 KB of letters cost 5.7 s. No author
    name is that long; the normaliser keeps 500 characters of it anyway."""
    context = self._get_context()
    value = context.get(key)
    if isinstance(value, str) and len(value) > MAX_AUTHOR_CHARS:
        context[key] = value[:MAX_AUTHOR_CHARS]
    _feedparser_sync_author(self, key)


# feedparser offers no hook for this; the method is replaced once, for every parser class that inherits it.
feedparser.mixin._FeedParserMixin._sync_author_detail = _sync_author_bounded  # type: ignore[method-assign]


# --- feedparser result → model -----------------------------------------------------------------------

# Plain dict lookups: FeedParserDict.get maps "updated" to "published" when it is missing (and is slow).
_get = dict.get

def _struct_dt(st: Any) -> datetime | None:
    if not st:
        return None
    try:
        return datetime(*time.struct_time(st)[:6])
    except (ValueError, TypeError, OverflowError):
        return None


_str = fields.text
_int = fields.positive_int


def _update_period(feed: Any) -> int | None:
    return fields.update_period_minutes(_get(feed, "sy_updateperiod"), _get(feed, "sy_updatefrequency"))


def _enclosures(e: Any) -> list[dict[str, Any]]:
    out = fields.Enclosures()
    for link in _get(e, "links") or ():
        if _get(link, "rel") == "enclosure":
            out.add(_get(link, "href"), _get(link, "type"), _get(link, "length"))
    for media in _get(e, "media_content") or ():
        typ = _get(media, "type") or (f"{media['medium']}/*" if _get(media, "medium") else None)
        out.add(_get(media, "url"), typ, _get(media, "filesize") or _get(media, "fileSize"))
    for thumb in _get(e, "media_thumbnail") or ():
        out.add(_get(thumb, "url"), "image/*", None)
    return out.items


def _content(e: Any) -> tuple[str | None, bool]:
    """The fullest body the entry carries and whether it is HTML."""
    best: str | None = None
    is_html = True
    for c in _get(e, "content") or ():
        value = _get(c, "value")
        if value and (best is None or len(value) > len(best)):
            best = value
            is_html = _get(c, "type", "text/html") != "text/plain"
    return best, is_html


def _authors(e: Any) -> list[str]:
    names: list[str] = []
    for a in _get(e, "authors") or ():
        name = _str(_get(a, "name")) or _str(_get(a, "email"))
        if name and name not in names:
            names.append(name)
    if not names:
        author = _str(_get(e, "author"))
        if author:
            names.append(author)
    return names


def _entry(e: Any, feed_url: str, guid: str | None) -> RawEntry:
    content, content_is_html = _content(e)
    summary = _get(e, "summary") if "summary_detail" in e else None  # feedparser copies content into summary
    if content is None and summary is None:
        summary = _get(e, "summary")
    detail = (_get(e, "content") or [None])[0] or _get(e, "summary_detail") or _get(e, "title_detail") or {}
    if content is None and summary is not None:
        content_is_html = _get(_get(e, "summary_detail") or {}, "type", "text/html") != "text/plain"
    source = _get(e, "source") or {}
    tags = [_get(t, "term") or _get(t, "label") for t in _get(e, "tags") or ()]
    return RawEntry(
        guid=_str(guid),
        link=_str(_get(e, "link")),
        title=_str(_get(e, "title")),
        summary=_str(summary),
        content=_str(content),
        content_is_html=content_is_html,
        authors=_authors(e),
        published=_str(_get(e, "published")),
        updated=_str(_get(e, "updated")),
        dc_date=None,  # feedparser files dc:date under "updated"
        published_parsed=_struct_dt(_get(e, "published_parsed")),
        updated_parsed=_struct_dt(_get(e, "updated_parsed")),
        categories=[t for t in tags if t and t.strip()],
        enclosures=_enclosures(e),
        language=_str(detail.get("language")),
        source_title=_str(_get(source, "title")),
        source_url=_str(_get(source, "href") or _get(source, "link")),
        dc_publisher=_str(_get(e, "publisher")),
        dc_creator=_str(_get(e, "author")) if _get(e, "author") and not _get(e, "authors") else None,
        base_url=_str(detail.get("base")) or feed_url,
    )


def _bozo_reason(exc: Any) -> str:
    name = type(exc).__name__
    msg = " ".join(str(exc).split())[:300]
    if name == "SAXParseException":
        return f"malformed XML ({msg})"
    return f"{name}: {msg}" if msg else name


def _parse_xml(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    # Only the charset of the given content type matters to feedparser; the media type is ours to sniff,
    # and a missing or "text/*" type would make it add warnings or assume US-ASCII (RFC 3023).
    headers = {"content-location": url, "content-type": "application/xml"}
    charset = _CHARSET.search(content_type or "")
    if charset:
        headers["content-type"] = f"application/xml; charset={charset.group(1)}"
    _no_dtd_for_expat(body, headers)
    try:
        result = feedparser.parse(
            io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except ParseError:
        raise
    except NEVER_SWALLOW:
        raise
    except Exception as exc:  # feedparser raises on a few inputs instead of setting bozo
        raise ParseError(f"feed parser failed: {type(exc).__name__}: {str(exc)[:200]}") from None
    feed = _get(result, "feed") or {}
    entries = result.get("entries") or []
    version = result.get("version") or ""
    title = _str(feed.get("title"))
    warnings: list[str] = []
    bozo = result.get("bozo")
    if not entries and not title and not version and not bozo:
        raise ParseError("not a feed: no RSS, Atom or RDF root element")
    meta = FeedMeta(
        url=url,
        title=title,
        site_url=_str(feed.get("link")),
        language=_str(feed.get("language")),
        format=version or None,
        ttl_minutes=_int(feed.get("ttl")),
        update_period_minutes=_update_period(feed),
    )
    raws = []
    guids = ids.restore_written_ids(entries, ids.written_ids(body)) if entries else []
    for i, e in enumerate(entries):
        try:
            raws.append(_entry(e, url, guids[i]))
        except NEVER_SWALLOW:
            raise
        except Exception as exc:  # one odd entry must not lose the feed
            warnings.append(f"entry {i} dropped at parse: {type(exc).__name__}: {str(exc)[:200]}")
    if bozo:
        reason = _bozo_reason(result.get("bozo_exception"))
        # A broken body that yielded no feed title and only empty shells of entries is not a feed we read.
        if not title and not any(r.guid or r.link or r.title or r.content or r.summary for r in raws):
            raise ParseError(f"not a readable feed: {reason}")
        warnings.insert(0, reason)
    return ParsedFeed(meta=meta, entries=raws, warnings=warnings)


def parse_feed(body: bytes, url: str, content_type: str | None = None, *, fast: bool = True,
               max_entries: int | None = None) -> ParsedFeed:
    """Parse a feed body. Raises :class:`ParseError` (one-line reason) when it is not a feed at all.

    A well-formed UTF-8 RSS 2.0 / Atom 1.0 body is read by :mod:`worker.parse.lxml_reader` (lxml) unless it declines;
    everything else, and everything when ``fast`` is false, by feedparser. ``max_entries``: a JSON Feed's items
    past this many are counted (``unread``), not read; :func:`cap_entries` then cuts every format alike."""
    if not body or not body.strip(b"\xef\xbb\xbf" + _WS + b"\x00"):
        raise ParseError("empty body")
    body = _to_utf8(body)
    kind = sniff_format(body)
    if kind == "json":
        feed = jsonfeed.parse_json_feed(body, url, max_entries=max_entries)
        feed.parser = "jsonfeed"
        return feed
    if kind == "empty":
        raise ParseError("XML document without a root element")
    if kind == "html":
        raise ParseError("an HTML page, not a feed")
    if kind == "unknown":
        head = body[:16].decode("latin-1").encode("unicode_escape").decode("ascii")
        raise ParseError(f"not a feed: body is neither XML nor JSON (starts with {head!r})")
    if fast:
        from worker.parse.lxml_reader import parse_fast  # imports this module: a late import avoids the cycle

        quick = parse_fast(body, url, content_type)
        if quick is not None:
            quick.parser = "lxml"
            return quick
    charset = _CHARSET.search(content_type or "")
    body = repair_utf8(body, charset.group(1) if charset else None)
    feed = _parse_xml(harden_xml(body), url, content_type)
    feed.parser = "feedparser"
    return feed


def cap_entries(parsed: ParsedFeed, limit: int) -> str | None:
    """Keep the first ``limit`` entries of ``parsed`` in document order (feeds list their newest first, and the
    order is the one thing every format states); returns the note to record when some were dropped, else None."""
    total = len(parsed.entries) + parsed.unread
    if total <= limit:
        return None
    del parsed.entries[limit:]
    note = (f"feed has {total} entries, only the first {limit} were read "
            f"(WIREFEED_MAX_ENTRIES_PER_FEED={limit}; raise it if the feed is genuine)")
    parsed.warnings.append(note)
    return note
