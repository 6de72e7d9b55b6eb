"""Page bytes to text: refuse what is not HTML, find the charset (pure).

Order of evidence, as browsers weigh it, with one correction for a common lie:
1. a byte order mark;
2. the ``charset`` of the Content-Type header;
3. a ``<meta charset>`` / ``http-equiv`` declaration in the first :data:`META_SCAN` bytes (the standard says
   1024; real pages put it later, behind scripts);
4. nothing declared: UTF-8 when the bytes are valid UTF-8, else charset-normalizer's guess, else Windows-1252.
A single-byte declaration (latin-1, Windows-125x) on bytes that are valid UTF-8 with multi-byte sequences is
overruled: such bytes are almost never real single-byte text, and reading them as declared gives "Ã©" mojibake.
``ISO-8859-1`` and ``US-ASCII`` mean Windows-1252, as in every browser.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

__all__ = ["META_SCAN", "Decoded", "NotDecodable", "decode_page"]

META_SCAN = 64 * 1024

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# The first bytes of formats that are not HTML whatever the server says.
_MAGIC = (
    (b"%PDF-", "a PDF document"), (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"), (b"\xff\xd8\xff", "a JPEG image"), (b"PK\x03\x04", "a ZIP archive (or Office file)"),
    (b"\x1f\x8b", "gzip data"), (b"BM", "a BMP image"), (b"\x00\x00\x01\x00", "an icon"), (b"ID3", "an MP3 file"),
    (b"OggS", "an Ogg file"), (b"\x1aE\xdf\xa3", "a WebM/Matroska video"), (b"wOFF", "a web font"),
)
_RIFF = {b"WEBP": "a WebP image", b"WAVE": "a WAV file", b"AVI ": "an AVI video"}
_CT_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.I)
_HTML_SIGNS = re.compile(rb"<(?:!doctype\s+html|html|head|body|title|meta|p|div|article|main|table|h1|br)\b", re.I)
# A guess among Latin single-byte code pages is a coin toss on short text (é in one is č in another): browsers'
# Western default reads those pages best.
_LATIN_GUESSES = {"cp1250", "cp1252", "cp1254", "cp1257", "latin_1", "iso8859_2", "iso8859_9", "iso8859_13",
                  "iso8859_15", "iso8859_16", "mac_roman", "mac_latin2"}
_SINGLE_BYTE = {"cp1252", "latin_1", "iso8859_15", "cp1250", "cp1251", "cp1254", "ascii", "iso8859_2"}
_BAD_SHARE = 0.05  # more replacement or control characters than this: not text in any charset we tried


class NotDecodable(Exception):
    """The bytes are not an HTML page we can read; ``reason`` is ``not_html`` or ``undecodable``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str  # Python codec name
    source: str  # "bom", "header", "meta", "utf-8 check", "detected", "fallback"


def _codec(name: str | None) -> str | None:
    """Python's name for a charset label, browsers' aliases applied; None when unknown."""
    if not name:
        return None
    try:
        codec = codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None
    if codec in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    return codec.replace("-", "_") if codec.startswith("iso8859") else codec


def _media_type(content_type: str | None) -> str | None:
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


def _sniff(data: bytes) -> str | None:
    """What the bytes are when they are a known non-HTML format, else None."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    if data[:4] == b"RIFF" and data[8:12] in _RIFF:
        return _RIFF[data[8:12]]
    return None


def _is_utf8_with_multibyte(data: bytes) -> bool:
    if data.isascii():
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _detect(data: bytes) -> str | None:
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - installed with the project
        return None
    best = from_bytes(data[:META_SCAN]).best()
    return _codec(best.encoding) if best is not None else None


def _bad_share(text: str) -> float:
    if not text:
        return 0.0
    sample = text[:200_000]
    bad = sample.count("\ufffd") + sum(1 for c in sample if c < " " and c not in "\t\n\r\f")
    return bad / len(sample)


def decode_page(data: bytes, content_type: str | None = None) -> Decoded:
    """The page's text, or :class:`NotDecodable` for anything that is not a readable HTML page."""
    media = _media_type(content_type)
    what = _sniff(data)
    if what is not None:
        raise NotDecodable("not_html", f"the body is {what}" + (f" (served as {media})" if media else ""))
    if media and media not in _HTML_TYPES:
        raise NotDecodable("not_html", f"the page is served as {media}, not HTML")
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return _checked(data[len(bom):].decode(enc, "replace"), enc, "bom")
    head = data[:META_SCAN]
    if not _HTML_SIGNS.search(head[:8192]) and media is None:
        raise NotDecodable("not_html", "the body has no HTML markup in its first 8 KB")
    declared, source = None, ""
    if content_type and (header := _CT_CHARSET.search(content_type)):
        declared, source = _codec(header.group(1)), "header"
    if declared is None and (meta := _META_CHARSET.search(head)):
        declared, source = _codec(meta.group(1).decode("ascii", "replace")), "meta"
    if declared in _SINGLE_BYTE and _is_utf8_with_multibyte(data):
        declared, source = "utf-8", "utf-8 check"
    if declared is None:
        if _is_utf8_with_multibyte(data) or data.isascii():
            declared, source = "utf-8", "utf-8 check"
        else:
            declared, source = _detect(data), "detected"
            if declared in _LATIN_GUESSES:
                declared = "cp1252"
            if declared is None:
                declared, source = "cp1252", "fallback"
    return _checked(data.decode(declared, "replace"), declared, source)


def _checked(text: str, encoding: str, source: str) -> Decoded:
    if "\x00" in text[:200_000] or _bad_share(text) > _BAD_SHARE:
        raise NotDecodable("undecodable", f"the bytes do not read as text in {encoding} ({source})")
    return Decoded(text, encoding, source)
