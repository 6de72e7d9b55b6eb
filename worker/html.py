"""Item HTML: sanitise it, and turn it into plain-text paragraphs (pure).

- :func:`sanitize_html` keeps ordinary article markup and removes everything active: ``script``, ``style``,
  ``iframe``, ``object``, forms, event-handler attributes, ``style`` attributes and every URL whose scheme is
  not http, https or mailto (so ``javascript:`` and ``data:`` go). Relative ``href``/``src`` are resolved
  against the item's base. Done by nh3 (ammonia, Rust).
- :func:`html_to_paragraphs` gives the text as a list of paragraphs: one per block element (``p``, ``div``,
  ``li``, headings, table rows, ...) or per ``<br><br>`` run; a single ``<br>`` is a line break inside the
  paragraph. Entities are decoded and runs of white space collapsed. Done by selectolax (lexbor, C).
- :func:`text_to_paragraphs` does the same for plain text: blank lines separate paragraphs.
- :func:`clean_title` / :func:`clean_line`: one line of text without markup, entities decoded, bounded.

Every string that leaves this module is free of NUL, other C0 controls and lone surrogates.
"""

from __future__ import annotations

import html as _html
import re

import nh3
from selectolax.lexbor import LexborHTMLParser

__all__ = [
    "TITLE_MAX",
    "clean_line",
    "clean_title",
    "html_to_paragraphs",
    "looks_like_html",
    "paragraphs_to_html",
    "sanitize_html",
    "scrub",
    "text_to_paragraphs",
]

TITLE_MAX = 1000

_TAGS = set(nh3.ALLOWED_TAGS) - {"map", "area", "nav", "footer", "header"} | {"figure", "picture", "source"}
_ATTRIBUTES: dict[str, set[str]] = {k: set(v) for k, v in nh3.ALLOWED_ATTRIBUTES.items()}
_ATTRIBUTES.setdefault("img", set()).update({"title"})
_ATTRIBUTES["source"] = {"src", "type", "media"}
_ATTRIBUTES["a"] = {"href", "hreflang", "title"}
_URL_SCHEMES = {"http", "https", "mailto"}
_CLEAN_CONTENT = {"script", "style", "iframe", "object", "embed", "noscript", "template", "svg", "math",
                  "form", "textarea", "select", "button", "head", "title"}

# NUL, C0 controls except tab/newline/CR, DEL, C1 controls, lone surrogates, and the U+FFFE/U+FFFF noncharacters
_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x80-\x9f\ud800-\udfff\ufffe\uffff]")
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+")
_TAG_LIKE = re.compile(r"</?[A-Za-z][^<>]*>|<!--.*?-->", re.S)
_BLANK_LINE = re.compile(r"\n[ \t\r\f\v\u00a0]*\n")
_HTML_HINT = re.compile(r"<[A-Za-z/!]|&(?:#\d+|#x[0-9A-Fa-f]+|[A-Za-z]{2,8});")

# Marker characters used while extracting text; _BAD_CHARS guarantees they are not in the input.
_BLOCK = "\x01"
_BR = "\x02"
_BLOCK_TAGS = (
    "p,div,li,dd,dt,h1,h2,h3,h4,h5,h6,blockquote,pre,tr,table,ul,ol,dl,figure,figcaption,section,article,"
    "aside,header,footer,hr,caption,details,summary,address,center,main,hgroup"
)
_BR_RUN = re.compile("[ \t\r\n\f\v\u00a0]*" + _BR + "(?:[ \t\r\n\f\v\u00a0]*" + _BR + ")+")


def _c1_table() -> dict[int, str]:
    table = {}
    for b in range(0x80, 0xA0):
        try:
            table[b] = bytes([b]).decode("cp1252")
        except UnicodeDecodeError:
            table[b] = ""
    return table


# C1 controls in text almost always are Windows-1252 bytes decoded as ISO-8859-1: map them back.
_C1_TO_CP1252 = _c1_table()


def scrub(text: str) -> str:
    """``text`` without NUL, control characters, lone surrogates or noncharacters (C1 read as cp1252)."""
    if _BAD_CHARS.search(text):
        return _BAD_CHARS.sub("", text.translate(_C1_TO_CP1252))
    return text


def looks_like_html(text: str) -> bool:
    """Whether ``text`` has anything an HTML parser would change (tags, comments or entities)."""
    return _HTML_HINT.search(text) is not None


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Safe HTML: no active content, only http(s)/mailto URLs, relative URLs made absolute."""
    html = scrub(html)
    if base_url and base_url.startswith(("http://", "https://")):
        try:
            return nh3.clean(
                html, tags=_TAGS, clean_content_tags=_CLEAN_CONTENT, attributes=_ATTRIBUTES,
                url_schemes=_URL_SCHEMES, url_relative=("rewrite_with_base", base_url),
            )
        except ValueError:  # a base nh3 cannot parse as a URL
            pass
    return nh3.clean(
        html, tags=_TAGS, clean_content_tags=_CLEAN_CONTENT, attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES, url_relative="deny",
    )


def _finish(chunks: list[str]) -> list[str]:
    out = []
    for chunk in chunks:
        lines = [_SPACE.sub(" ", scrub(line)).strip() for line in chunk.split(_BR)]
        para = "\n".join(line for line in lines if line)
        if para:
            out.append(para)
    return out


def html_to_paragraphs(html: str) -> list[str]:
    """The text of ``html`` as paragraphs (one per block, or per ``<br><br>`` run), entities decoded."""
    html = scrub(html)
    if not looks_like_html(html):
        return text_to_paragraphs(html)
    tree = LexborHTMLParser(html)
    root = tree.body if tree.body is not None else tree.root
    if root is None:
        return []
    for node in root.css("script,style,noscript,template"):
        node.decompose()
    for node in root.css("br"):
        node.insert_before(_BR)
    for node in root.css("td,th"):
        node.insert_after(" ")
    for node in root.css(_BLOCK_TAGS):
        node.insert_before(_BLOCK)
        node.insert_after(_BLOCK)
    text = root.text(deep=True, separator="", strip=False)
    text = _BR_RUN.sub(_BLOCK, text)
    return _finish(text.split(_BLOCK))


def text_to_paragraphs(text: str) -> list[str]:
    """Plain text as paragraphs: blank lines separate them, other white space collapses."""
    text = scrub(text)
    if "\n" not in text:
        one = _SPACE.sub(" ", text).strip()
        return [one] if one else []
    out = []
    for chunk in _BLANK_LINE.split(text):
        para = _SPACE.sub(" ", chunk).strip()
        if para:
            out.append(para)
    return out


def paragraphs_to_html(paragraphs: list[str]) -> str:
    """Plain-text paragraphs as simple, escaped HTML."""
    return "".join(f"<p>{_html.escape(p, quote=False)}</p>" for p in paragraphs)


def clean_line(text: str | None, limit: int = TITLE_MAX) -> str:
    """One line: tags removed, entities decoded, white space collapsed, at most ``limit`` characters."""
    if not text:
        return ""
    text = scrub(text)
    if "<" in text:
        text = _TAG_LIKE.sub(" ", text)
    for _ in range(2):  # feeds often escape titles twice ("&amp;amp;")
        if "&" not in text:
            break
        text = scrub(_html.unescape(text))
    text = _SPACE.sub(" ", text).strip()
    if len(text) > limit:
        cut = text[: limit - 1]
        space = cut.rfind(" ")
        if space > limit * 0.8:
            cut = cut[:space]
        text = cut.rstrip() + "…"
    return text


def clean_title(text: str | None) -> str:
    """An item or feed title: markup-free, entities decoded, collapsed, ≤ :data:`TITLE_MAX` characters."""
    return clean_line(text, TITLE_MAX)
