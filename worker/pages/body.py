"""The article's paragraphs: trafilatura finds the article block, wirefeed's layer cleans it (pure).

trafilatura (``favor_precision``; comments and tables left out: in news pages tables are mostly shopping and
"related" boxes) gives the main text as lines. Then, in order:
1. the headline repeated at the top goes (any title the page gives, also after a "Country: " prefix);
2. feed-guided start: when the feed's summary is found among the first paragraphs, short lines before it go;
   when it is not (the extractor left out a lead set apart from the body), the page block that holds it is put
   first (:func:`summary_block`);
3. blocks learned from other pages of the site go (:mod:`worker.pages.template`);
4. :func:`worker.normalize.boilerplate.strip_boilerplate` with its page rules: syndication credit lines,
   "Read the original article on …", copyright and distribution footers, bylines, promotion lines.
"""

from __future__ import annotations

import re
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from worker.normalize.boilerplate import strip_boilerplate
from worker.normalize.html import scrub
from worker.stories.fingerprint import text_key, words

__all__ = ["Body", "clean_paragraphs", "run_extractor", "summary_block"]

_HEAD_SPAN = 3  # a repeated headline or a pre-article line is among the first paragraphs
_GUIDE_MATCH = 0.6  # share of the summary's words a paragraph must hold to be where the article starts
_GUIDE_SHORT = 120  # lines before that paragraph go only when they are this short (datelines, kickers)
_RECALL_RETRY = 200  # characters: a precise pass giving less is retried for recall
# An agency photo/text credit glued to the end of the last paragraph: "… he said.(c)AFP/Aminu ABUBAKAR".
_CREDIT_TAIL = 200  # characters at the end of the last paragraph searched for a trailing agency credit
_TRAILING_CREDIT = re.compile(r"\s*(?:\(c\)|©)\s*(?:AFP|AP|Reuters|EFE|ANSA|DPA|Xinhua|Kyodo)\b[^\n]{0,60}$", re.I)


@dataclass(slots=True)
class Body:
    paragraphs: list[str]
    credit: str | None = None
    signoff: str | None = None
    removed: list[str] = field(default_factory=list)


def run_extractor(tree: Any, url: str | None) -> list[str]:
    """trafilatura's main text of ``tree`` (an lxml document), one paragraph per line. When the precise pass
    finds almost nothing (old table layouts, pages of one long block), a second pass favours recall."""
    import trafilatura

    text = trafilatura.extract(deepcopy(tree), url=url, favor_precision=True, include_comments=False,
                               include_tables=False, deduplicate=False, output_format="txt",
                               with_metadata=False) or ""
    if len(text) < _RECALL_RETRY:
        wider = trafilatura.extract(tree, url=url, favor_recall=True, include_comments=False, include_tables=True,
                                    deduplicate=False, output_format="txt", with_metadata=False) or ""
        text = wider if len(wider) > len(text) else text
    paragraphs = []
    for line in text.split("\n"):
        line = " ".join(scrub(line).split())
        if line.startswith("- "):  # list items come bulleted; feed text has none
            line = line[2:]
        if line:
            paragraphs.append(line)
    return paragraphs


def _headline_keys(headlines: list[str]) -> set[str]:
    keys = set()
    for h in headlines:
        keys.add(text_key(h))
        if ":" in h[:40]:  # "Egypt: Egypt, Libya Military Chiefs …": the region prefix of a wire headline
            keys.add(text_key(h.split(":", 1)[1]))
    keys.discard("")
    return keys


def _holds(text: str, summary: str | None, share: float = _GUIDE_MATCH) -> bool:
    want = set(words(summary or "")[:40])
    return bool(want) and len(want & set(words(text))) >= share * len(want)


def _guided_start(paragraphs: list[str], summary: str | None) -> int:
    """Index of the paragraph the feed's summary starts, when it is among the first few and only short lines
    stand before it; else 0."""
    if not summary:
        return 0
    want = set(words(summary)[:40])
    if len(want) < 5:
        return 0
    for i, p in enumerate(paragraphs[:_HEAD_SPAN + 2]):
        if len(want & set(words(p))) >= _GUIDE_MATCH * len(want):
            return i if all(len(q) <= _GUIDE_SHORT for q in paragraphs[:i]) else 0
    return 0


_LEAD_TAGS = ("p", "div", "h2", "section", "span", "strong")
_LEAD_MATCH = 0.8  # share of the summary's words a page block must hold to be its source


def summary_block(root: Any, summary: str | None) -> str | None:
    """The text of the smallest page block that is the feed's summary (holds most of its words and is not much
    longer), outside the page's header (where a summary is a dek, not the article's lead); else None."""
    if not summary:
        return None
    want = set(words(summary)[:60])
    if len(want) < 8:
        return None
    best: str | None = None
    for el in root.iter(*_LEAD_TAGS):
        text = " ".join(el.text_content().split())
        if not 0.6 * len(summary) <= len(text) <= 1.5 * len(summary) + 20 or (best and len(text) >= len(best)):
            continue
        if len(want & set(words(text))) >= _LEAD_MATCH * len(want) \
                and not any(a.tag in ("header", "h1", "figure", "figcaption") for a in el.iterancestors()):
            best = text
    return scrub(best) if best else None


def clean_paragraphs(paragraphs: list[str], *, headlines: list[str], summary: str | None = None,
                     site_blocks: frozenset[str] = frozenset(), credit_name: str | None = None,
                     lead: str | None = None) -> Body:
    """wirefeed's layer over the extractor's paragraphs (see the module's docstring); ``lead`` is the page block
    holding the feed's summary (:func:`summary_block`)."""
    removed: list[str] = []
    if lead and paragraphs and not _holds(" ".join(paragraphs), summary, _LEAD_MATCH):
        paragraphs = [lead, *paragraphs]
    keys = _headline_keys(headlines)
    kept = []
    for i, p in enumerate(paragraphs):
        if i < _HEAD_SPAN and text_key(p) in keys:
            removed.append(p)
        else:
            kept.append(p)
    start = _guided_start(kept, summary)
    removed += kept[:start]
    kept = kept[start:]
    if site_blocks:
        removed += [p for p in kept if text_key(p) in site_blocks]
        kept = [p for p in kept if text_key(p) not in site_blocks]
    cleaned = strip_boilerplate(kept, credit_name, page=True)
    paras = cleaned.paragraphs
    # the credit is in the last few dozen characters: searching only there keeps the scan short on any paragraph
    if paras and (m := _TRAILING_CREDIT.search(paras[-1], max(0, len(paras[-1]) - _CREDIT_TAIL))) and m.start() > 0:
        removed.append(paras[-1][m.start():].strip())
        paras = [*paras[:-1], paras[-1][:m.start()]]
    return Body(paras, cleaned.credit, cleaned.signoff, removed + cleaned.removed)
