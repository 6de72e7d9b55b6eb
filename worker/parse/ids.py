"""Item ids as the feed wrote them, for the feedparser path (pure: no network, no files).

feedparser resolves an ``<id>`` / permalink ``<guid>`` against the document's base (the feed's URL, or
``xml:base``), so ``1234`` read from a local file becomes ``file://`` + the file's directory; the contract
wants the id exactly as written. :func:`written_ids` reads the same (hardened) body with lxml and lists, in
document order, the text of each item's own ``<guid>`` / ``<id>``; :func:`restore_written_ids` puts those
back on feedparser's entries when the two readings line up item for item, and otherwise leaves feedparser's
ids alone.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

__all__ = ["restore_written_ids", "written_ids"]

# Namespaces whose <item>/<entry>/<guid>/<id> are the feed's own (RSS 0.9x-2.0, RDF, Atom 0.3 and 1.0).
_FEED_NAMESPACES = frozenset({
    "http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/", "http://purl.org/atom/ns#",
    "http://www.w3.org/2005/atom", "http://blogs.law.harvard.edu/tech/rss",
})
_ITEMS = frozenset({"item", "entry"})
_IDS = frozenset({"id", "guid"})
_LEADING_DOTS = re.compile(r"^(?:\.{0,2}/)+")

_PARSER_OPTIONS: dict[str, Any] = {
    "recover": True,  # a body feedparser could only read loosely is read loosely here too
    "resolve_entities": False, "no_network": True, "load_dtd": False, "huge_tree": False,
    "remove_comments": True, "remove_pis": True,
}


def _name(el: Any) -> tuple[bool, str]:
    """(in a feed namespace, lower-cased local name); feedparser compares both without case."""
    tag = el.tag
    if not isinstance(tag, str):
        return False, ""
    if tag[0] == "{":
        ns, local = tag[1:].split("}", 1)
        ns = ns.lower()
        return ns in _FEED_NAMESPACES or "backend.userland.com/rss" in ns, local.lower()
    return True, tag.lower()


def written_ids(body: bytes) -> list[str | None] | None:
    """For each item/entry in document order, its own id's text (stripped; None without one); None when
    lxml cannot read the body at all."""
    try:
        root = etree.fromstring(body, etree.XMLParser(**_PARSER_OPTIONS))
    except etree.XMLSyntaxError:
        return None
    if root is None:
        return None
    ids: list[str | None] = []
    for el in root.iter():
        ours, local = _name(el)
        if not ours or local not in _ITEMS:
            continue
        found: str | None = None
        for child in el:
            child_ours, child_local = _name(child)
            if child_ours and child_local in _IDS:
                found = None if len(child) else (child.text or "").strip()  # the last one wins, as in feedparser
        ids.append(found)
    return ids


def _resolves_to(written: str, resolved: str) -> bool:
    """Whether ``resolved`` can be feedparser's resolution of ``written``: the written text, its leading
    ``./``/``../``/``/`` aside, ends it (slashes ignored: resolution may fold ``//``)."""
    tail = _LEADING_DOTS.sub("", written).replace("/", "")
    return resolved.replace("/", "").endswith(tail)


def restore_written_ids(entries: list[Any], written: list[str | None] | None) -> list[str | None]:
    """The id of each of feedparser's ``entries``: as written where :func:`written_ids` lines up with them
    (same count, every written id consistent with feedparser's reading of it), else feedparser's own."""
    parsed: list[str | None] = [e.get("id") for e in entries]
    if written is None or len(written) != len(parsed):
        return parsed
    for raw, fp in zip(written, parsed, strict=True):
        if raw is not None and raw != fp and (fp is None or not _resolves_to(raw, fp)):
            return parsed
    return [fp if raw is None else raw for raw, fp in zip(written, parsed, strict=True)]
