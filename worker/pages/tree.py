"""Parse a page once and bound what the extractor sees (pure).

The extractor's cost grows with the document; a page may be megabytes of inline scripts or an endless
listing. So the bytes are capped before decoding (:class:`~worker.pages.model.Limits`), elements that never
hold article text are dropped after the metadata has been read, and a document still larger than the node
cap is cut in document order (the article is near the top of nearly every page; what follows is comments,
lists and footers).
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from lxml import html as lxml_html

__all__ = ["cut_after", "parse_page", "prune"]

# Never article text. ``script`` goes after the metadata (JSON-LD) is read.
_DROP = ("script", "style", "noscript", "template", "svg", "math", "iframe", "object", "embed", "canvas",
         "select", "button", "textarea", "input", "dialog")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*>")
_PARSER = lxml_html.HTMLParser(remove_comments=True, remove_pis=True, collect_ids=False, default_doctype=False)


def parse_page(text: str) -> Any:
    """The page as an lxml HTML tree (an empty ``<html>`` for a document with no elements)."""
    text = _XML_DECL.sub("", text, count=1)  # lxml refuses a str that declares its own encoding
    try:
        root = lxml_html.document_fromstring(text, parser=_PARSER)
    except (etree.ParserError, ValueError):
        root = lxml_html.document_fromstring("<html><body></body></html>")
    return root


def prune(root: Any) -> None:
    """Remove the elements that never hold article text (with their content, keeping the text after them)."""
    etree.strip_elements(root, *_DROP, with_tail=False)


def cut_after(root: Any, max_nodes: int) -> bool:
    """Keep the first ``max_nodes`` elements in document order and remove every later one; whether it cut."""
    cut = None
    for i, el in enumerate(root.iter()):
        if i >= max_nodes:
            cut = el
            break
    if cut is None:
        return False
    node = cut
    while node is not None and node is not root:
        parent = node.getparent()
        for sibling in list(node.itersiblings()):
            parent.remove(sibling)
        node = parent
    parent = cut.getparent()
    if parent is not None:
        parent.remove(cut)
    return True
