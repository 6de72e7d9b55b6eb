"""When an item's page is fetched, and when its text replaces the feed's (pure).

``WIREFEED_FETCH_PAGES`` (or the feed's own ``wirefeed feeds set ID --pages``) is one of:
- ``never``: no page is ever requested (the global ``never`` wins over every feed's own setting);
- ``always``: every item with an http(s) link gets its page fetched;
- ``auto`` (the default): the page is fetched when the feed's own text for the item is a summary:
  1. it is empty (a title and a link);
  2. it is short: under :data:`SHORT_WORDS` words;
  3. it is truncated: it ends in "…", "...", "[…]", "Read more", "Continue reading" and the like;
  4. or the feed's items have turned out much shorter than their pages: of this feed's last pages (at least
     :data:`HISTORY_MIN`), most were :data:`HISTORY_RATIO` times longer than the item, and this item is
     under :data:`HISTORY_MAX_WORDS` words.

Whatever the mode, a page's text replaces the feed's only when it has more words (:func:`page_replaces_feed`):
a page that says less than the feed (an extraction that missed part of the article) never costs text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from worker.stories.fingerprint import words

__all__ = ["HISTORY_MAX_WORDS", "HISTORY_MIN", "HISTORY_RATIO", "MODES", "SHORT_WORDS", "Mode", "PageDecision",
           "page_replaces_feed", "resolve_mode", "truncated", "wants_page"]

Mode = Literal["auto", "always", "never"]
MODES: tuple[Mode, ...] = ("auto", "always", "never")

SHORT_WORDS = 100  # fewer words than this is a summary (a sentence or three); a news article runs 300 and more
HISTORY_MIN = 3  # pages of the feed needed before its history counts
HISTORY_RATIO = 2.0  # a page this many times longer than its item means the feed carries summaries
HISTORY_MAX_WORDS = 2000  # an item this long is an article, whatever the feed's history says
HISTORY_SPAN = 10  # the feed's most recent pages looked at

# How summaries end: an ellipsis (after a cut word or sentence), a bracketed one, or a link to the rest.
_TRUNCATED = re.compile(
    r"(?:…|\.\.\.|\[\s*(?:…|\.\.\.)\s*\]|\(\s*more\s*…?\s*\)|\b(?:read|see) more\b[^\n]{0,40}|\bcontinue reading\b"
    r"[^\n]{0,80}|\bread (?:the )?(?:full|rest|whole)\b[^\n]{0,60}|\bfull (?:story|article)\b[^\n]{0,20}"
    r"|\bmore\s*(?:»|›|>>))\W*$",
    re.I)


@dataclass(frozen=True, slots=True)
class PageDecision:
    fetch: bool
    why: str  # one line, kept as the page request's reason


def resolve_mode(setting: Mode, feed_mode: str | None, run_enabled: bool = True) -> Mode:
    """The mode for one feed's items: ``never`` when the global setting says so (it is absolute: no page is
    requested, whatever a feed says) or for a run that skips pages (``ingest --no-pages``); else the feed's own
    setting, else the global one."""
    if not run_enabled or setting == "never":
        return "never"
    if feed_mode in MODES:
        return feed_mode  # type: ignore[return-value]
    return setting


def truncated(text: str) -> bool:
    """Whether the text ends the way a cut summary does."""
    return bool(_TRUNCATED.search(text[-200:])) if text else False


def _summary_feed(history: Sequence[tuple[int, int]]) -> tuple[bool, float]:
    """(whether this feed's recent pages ran much longer than its items, the median ratio)."""
    recent = list(history)[:HISTORY_SPAN]
    if len(recent) < HISTORY_MIN:
        return False, 0.0
    ratios = sorted(page / max(item, 1) for item, page in recent)
    median = ratios[len(ratios) // 2]
    return median >= HISTORY_RATIO, median


def wants_page(mode: Mode, *, url: str | None, text: str, history: Sequence[tuple[int, int]] = ()) -> PageDecision:
    """Whether to fetch an item's page. ``text`` is the feed's text for it (boilerplate removed); ``history``
    the feed's recent (item words, page words) pairs, newest first."""
    if mode == "never":
        return PageDecision(False, "pages are off (never)")
    if not url or not url.startswith(("http://", "https://")):
        return PageDecision(False, "the item has no http(s) link")
    if mode == "always":
        return PageDecision(True, "always")
    n = len(words(text))
    if n == 0:
        return PageDecision(True, "the feed gives no text")
    if truncated(text):
        return PageDecision(True, f"the feed's text is cut short ({n} words ending in an ellipsis or 'more' link)")
    if n < SHORT_WORDS:
        return PageDecision(True, f"the feed's text is short ({n} words)")
    summary_feed, median = _summary_feed(history)
    if summary_feed and n < HISTORY_MAX_WORDS:
        return PageDecision(True, f"this feed's pages run {median:.1f}x longer than its items ({n} words)")
    return PageDecision(False, f"the feed carries the article ({n} words)")


def page_replaces_feed(feed_words: int, page_words: int) -> bool:
    """A page's text replaces the feed's only when it says more."""
    return page_words > feed_words
