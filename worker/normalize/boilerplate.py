"""Syndication boilerplate removal and attribution (pure, no I/O).

``strip_boilerplate`` takes an item's plain-text paragraphs and returns the article alone, plus the
outlet a syndicator's wrapper credits (``credit``) and what was cut (``removed``). Three kinds of rule:

* header lines at the top: the AllAfrica-style credit line ``Publisher (City)`` and date-only lines;
* footer lines anywhere (they start the paragraph): "Read the original article on …", "This article
  originally appeared on …", WordPress's "The post … appeared first on …", copyright and distribution
  notices, "(Reporting by …; Editing by …)", "Tagged:", subscribe / newsletter / follow-us lines;
* learned lines: paragraphs that repeat across many items of one feed (see ``repeated_paragraphs``),
  passed back in as ``learned``;
* with ``page=True`` (text extracted from an article's web page, not a feed item): the furniture pages carry
  inside the article block: in-body promotion lines ("Read more: …"), contributor and update notes, affiliate
  disclosures, a byline at the top, Chinese editor credits.

A rule never empties an item: when everything would go, the paragraphs are kept as they were.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from worker.stories.fingerprint import text_key


@dataclass(slots=True)
class Cleaned:
    paragraphs: list[str]
    credit: str | None = None  # the original outlet named by a syndicator's wrapper, if any
    removed: list[str] = field(default_factory=list)  # what was cut, for debugging
    signoff: str | None = None  # a bare outlet line cut just before a footer ("Ahram Online"): the writer's credit


_I = re.IGNORECASE
_OUTLET = r"(?P<outlet>[^\n]{2,120}?)"
_END = r"\s*[.!]?\s*$"

# "Publisher (City)": a short, name-like first line with a place in brackets and no sentence in it.
_HEADER_CREDIT = re.compile(
    r"^(?P<outlet>[A-Z0-9][^()\n.!?:;/]{1,80}?)\s*\((?P<city>[A-Z][A-Za-z'’ -]{1,40})\)\s*$")
# Words a name may hold in lower case ("Ministry of Foreign Affairs", "Mail & Guardian", "Le Monde de la …").
_NAME_CONNECTORS = frozenset(("of", "the", "and", "for", "on", "in", "at", "de", "du", "des", "la", "le", "el",
                              "al", "van", "von", "da", "di", "&", "-"))
_MONTHS = ("january|february|march|april|may|june|july|august|september|october|november|december|"
           "jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec")
_DATE_ONLY = re.compile(
    rf"^(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?(?:\d{{1,2}}\s+(?:{_MONTHS})\.?,?\s+\d{{4}}|"
    rf"(?:{_MONTHS})\.?\s+\d{{1,2}},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}})\s*$", _I)

# Start-anchored rules as (the ASCII letters a match can start with, lower-cased; pattern). The letters let a
# paragraph try only the rules its first letter allows (tests/test_boilerplate.py derives them from the patterns).
# Footers that name the original outlet: the first match gives the credit.
_CREDIT_RULES = (
    ("r", rf"^read (?:the )?(?:original|full) (?:article|story|report)(?: here)? (?:on|at|from) {_OUTLET}{_END}"),
    ("t", rf"^(?:this|the) (?:article|story|report|post|piece) (?:was )?(?:originally|first) "
          rf"(?:appeared|published|posted|ran) (?:on|in|at|by) {_OUTLET}{_END}"),
    ("t", rf"^(?:this|the) (?:article|story|report|post) is republished from {_OUTLET}(?: under [^\n]*)?\s*[.!]?\s*$"),
    ("t", rf"^the post .{{1,300}} appeared first on {_OUTLET}{_END}"),
    ("op", rf"^(?:originally )?published (?:on|by|in) {_OUTLET}{_END}"),
    ("s", r"^source:\s*(?P<outlet>[^\n.,;]{2,60})\.?\s*$"),
)
# Footers with no credit worth taking.
_FOOTER_RULES = (
    ("c", r"^(?:copyright\s*)?(?:©|\(c\))\s*(?:\d{4}|[a-z])"),
    ("c", r"^copyright\s+(?:\d{4}|by\b|the\b)"),
    ("a", r"^allafrica publishes\b"),
    ("aw", r"^(?:articles and commentaries that identify allafrica|we publish news and views ranging)\b"),
    ("t", r"^to (?:contact the copyright holder|address comments or complaints)\b"),
    ("t", r"^tagged\s*:"),
    ("trsm", r"^(?:tags|related(?: articles| stories| coverage)?|read more|see also|more from [^\n]{1,60})\s*:?\s*$"),
    ("ttf", r"^(?:tags|topics|filed under)\s*:"),
    ("arwect", r"^\(?\s*(?:additional )?(?:reporting|writing|editing|compiled|translated) by\b[^\n]{0,300}\)?\s*$"),
    ("", r"^\([^()\n]{0,120}\b(?:reporting|editing) by\b[^()\n]{0,300}\)\s*$"),
    ("ar", r"^(?:associated press|ap|afp|reuters) (?:writers?|reporters?|correspondents?)\b[^\n]{0,200}"
           r"\bcontributed\b[^\n]{0,40}$"),
    ("s", r"^(?:subscribe|sign up)(?: now| here| today| free)?\s*(?:for|to|and|on|at|[.!:]|$)[^\n]{0,160}$"),
    ("ct", r"^(?:click|tap) here to\b[^\n]{0,160}$"),
    ("fl", r"^(?:follow|like) us on\b[^\n]{0,160}$"),
    ("fj", r"^(?:follow|join) [^\n]{1,80} on (?:twitter|x|facebook|instagram|telegram|whatsapp|linkedin)\b"
           r"[^\n]{0,120}$"),
    ("spea", r"^(?:share|share this(?: article| story)?|print|email|advertisement|sponsored)\s*:?\s*$"),
    ("tv", r"^(?:the )?views expressed (?:in this|here)\b[^\n]{0,300}$"),
    ("gd", r"^(?:get|download) (?:our|the) (?:free )?app\b[^\n]{0,160}$"),
)


def _head_rules(letter: str | None) -> re.Pattern[str] | None:
    """The start-anchored rules a paragraph starting with ``letter`` (None: any start) can match, as one
    alternation: credit rules first, in order, each as group ``credit<i>`` (outlet in ``outlet<i>``), then the
    others as group ``footer``. An anchored alternation tries its branches in turn, so it finds what trying
    the rules one by one would; leaving out rules that cannot match changes nothing."""
    credit = [f"(?P<credit{i}>{p.replace('(?P<outlet>', f'(?P<outlet{i}>')})"
              for i, (first, p) in enumerate(_CREDIT_RULES) if letter is None or letter in first]
    footer = [f"(?:{p})" for first, p in _FOOTER_RULES if letter is None or letter in first]
    branches = credit + ([f"(?P<footer>{'|'.join(footer)})"] if footer else [])
    return re.compile("|".join(branches), _I) if branches else None


_HEAD_RULES = _head_rules(None)
# By first character, for paragraphs starting with an ASCII letter (any other start tries every rule).
_HEAD_BY_LETTER = {c: rx for letter in string.ascii_lowercase for rx in [_head_rules(letter)]
                   for c in (letter, letter.upper())}
# Footers whose phrase may stand anywhere in the line's head: scanning for them costs ~15 µs a paragraph,
# so each runs only when its words occur at all (a substring test: it never changes what matches).
_ALL_RIGHTS = re.compile(r"^[^\n]{0,200}\ball rights reserved\b[^\n]{0,40}$", _I)
_DISTRIBUTED = re.compile(r"^[^\n]{0,300}\bdistributed by allafrica\b", _I)
_SUBSCRIBE = re.compile(
    r"^[^\n]{0,80}\b(?:subscribe|sign up|signup|register)\b[^\n]{0,120}\b(?:newsletter|updates|inbox|"
    r"alerts|digest|briefing|free)\b[^\n]{0,120}$", _I)
# (words, rule, longest paragraph the rule can match or None): a rule runs on a paragraph whose lower-cased text
# holds one of its words. Of all non-ASCII characters only "İ" and the Kelvin sign lower-case to ASCII letters
# ("i̇" and "k"), and neither can stand inside these words, so the lower-cased text holds a word exactly when the
# ASCII projection (:func:`_ascii_lower`) does. A paragraph's projection is part of its whole text's, so words
# absent from the projection of every paragraph short enough for the rule rule it out for all of them at once.
_PHRASE_RULES = (
    ((b"all rights reserved",), _ALL_RIGHTS, 260),
    ((b"distributed by allafrica",), _DISTRIBUTED, None),
    ((b"subscribe", b"sign up", b"signup", b"register"), _SUBSCRIBE, 340),
)
_SHORT_PARAGRAPH = max(n for _, _, n in _PHRASE_RULES if n is not None)


def _ascii_lower(text: str) -> bytes:
    """``text`` with every non-ASCII character as "?", ASCII letters lower-cased (C-speed; one byte per character)."""
    return text.encode("ascii", "replace").lower()


def _possible_phrase_rules(paras: list[str]) -> tuple[tuple[tuple[bytes, ...], re.Pattern[str], int | None], ...]:
    """The phrase rules whose words occur in the paragraphs they could match (see :data:`_PHRASE_RULES`)."""
    whole = _ascii_lower("\n\n".join(paras))
    short = whole
    if paras and max(map(len, paras)) > _SHORT_PARAGRAPH:
        short = _ascii_lower("\n\n".join([p for p in paras if len(p) <= _SHORT_PARAGRAPH]))
    found = []
    for rule in _PHRASE_RULES:
        text = whole if rule[2] is None else short
        for word in rule[0]:
            if word in text:
                found.append(rule)
                break
    return tuple(found)


# Page-only lines (``page=True``). A feed item's text never holds them in a form worth a rule, and keeping them
# out of the feed path keeps stored feed text exactly as it was.
_PAGE_FOOTER = re.compile(
    r"^(?:read (?:more|also|next)|more on this|related(?: stories| articles)?|see also)\s*:\s*[^\n]{1,200}$"
    r"|^[^\n]{0,200}\bcontributed (?:to )?(?:this|the) (?:report|story|article)\b[^\n]{0,40}$"
    r"|^(?:this|the) (?:story|article|report|post) (?:has been|was) updated\b[^\n]{0,200}$"
    r"|^[^\n]{0,120}\baffiliate links?\b[^\n]{0,300}$"
    r"|^[(（【]\s*(?:责任编辑|責任編輯|编辑|編輯)\s*[:：]?[^\n]{0,40}[)）】]$"
    r"|^\((?:sourcing|sources?|additional reporting|with reporting)\b[^\n]{0,300}\)\.?$"
    r"|^[^\n]{0,200}\bplease share your (?:videos|photos|pictures|stories)\b[^\n]{0,200}$"
    r"|^loading\b[^\n]{0,40}(?:\.\.\.|…)$"
    r"|^(?:share this(?: article| story| news)?|このニュースをシェア|分享到|compartir|partager|teilen)\s*[:：]?$"
    r"|^[^\n]{0,60}?\s(?:https?://\S+|@\w{2,30})$", _I)
# A byline among the first paragraphs (or the last two) of a page: "By Jane Doe", "Par Jean Dupont",
# "-- By Jane Doe Follow @jdoe".
_PAGE_BYLINE = re.compile(r"^[-–—\s]*(?:by|par|por|von|di|door|av|af)\s+(?P<name>[^\n]{2,80}?)"
                          r"(?:\s+follow @\w+)?$", _I)
# A metadata line at the top: "Patricio Candia | Palma de Mallorca | 08/01/2014".
_PAGE_META_LINE = re.compile(r"^[^\n.!?]{0,80}\|[^\n]{0,60}(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2})"
                             r"[^\n]{0,20}$")
# Where a page's tail of links or comments begins: everything from such a heading on goes when it is only
# short lines ("More Must-Reads From TIME", "Related stories", "Comments" and their translations).
_TAIL_HEAD = re.compile(
    r"^(?:more (?:must[- ]reads?|stories|news|from|on)\b[^\n]{0,40}|most (?:read|popular|viewed)[^\n]{0,30}"
    r"|related(?: stories| articles| news| coverage| content)?|you (?:may|might) (?:also )?like[^\n]{0,20}"
    r"|recommended(?: for you)?|(?:leave a |post a )?comments?|comentar(?:ios)?|commentaires?|kommentare"
    r"|lire aussi|à lire aussi|voir aussi|lesen sie auch|mehr zum thema|leia também|lee también"
    r"|noticias relacionadas|相关(?:新闻|阅读|内容)|関連記事|관련 기사|เรื่องที่เกี่ยวข้อง|اقرأ أيضا|ذات صلة)"
    r"\s*[:：]?$", _I)
_TAIL_LINE_MAX = 120

_SIGNOFF_MAX_WORDS = 5
_OUTLET_MAX_WORDS = 8  # a longer "outlet" is a sentence, not a name


def _norm_outlet(name: str) -> str:
    name = re.sub(r"\s+", " ", name).strip(" .,:;-–—\"'“”")
    name = re.sub(r"^(?:the website of|the)\s+(?=[A-Z])", "", name)
    return name


def _looks_like_name(text: str, max_words: int) -> bool:
    """Capitalised words (connectors aside), no sentence: "Egypt State Information Service", "Ahram Online"."""
    ws = text.split()
    return 0 < len(ws) <= max_words and all(w[:1].isupper() or w[:1].isdigit() or w.lower() in _NAME_CONNECTORS
                                            for w in ws)


def _header_credit(line: str) -> str | None:
    if not line.rstrip().endswith(")"):  # the pattern ends in r"\)\s*$": skip its backtracking on prose
        return None
    m = _HEADER_CREDIT.match(line)
    if m is None or not _looks_like_name(m.group("outlet"), 8) or not _looks_like_name(m.group("city"), 4):
        return None
    return _norm_outlet(m.group("outlet")) or None


def _credit(m: re.Match[str]) -> str:
    """The outlet a matched credit footer names ("" when it names none usable)."""
    outlet = _norm_outlet(m.group("outlet" + (m.lastgroup or "")[len("credit"):]))
    return outlet if len(outlet.split()) <= _OUTLET_MAX_WORDS else ""


def _phrase_footer(p: str, rules: tuple[tuple[tuple[bytes, ...], re.Pattern[str], int | None], ...]) -> bool:
    """Whether one of ``rules`` (a subset of :data:`_PHRASE_RULES`) finds a footer in ``p``."""
    low = _ascii_lower(p)
    return any(any(w in low for w in words) and rx.match(p) is not None for words, rx, _ in rules)


def _is_signoff(p: str) -> bool:
    """A bare outlet name or byline line (no sentence in it, not a cut-off sentence)."""
    return _looks_like_name(p, _SIGNOFF_MAX_WORDS) and not re.search(r"[.!?:;,…]\s*$", p)


def _page_line(i: int, p: str, n: int) -> bool:
    """A page-only furniture line (see :data:`_PAGE_FOOTER`); bylines count among the first three paragraphs and
    the last two, metadata lines among the first three."""
    if _PAGE_FOOTER.match(p):
        return True
    if i < 3 and _PAGE_META_LINE.match(p):
        return True
    m = _PAGE_BYLINE.match(p) if i < 3 or i >= n - 2 else None
    return m is not None and _looks_like_name(re.sub(r"[,|/·•]|\band\b|\bet\b|\by\b", " ", m.group("name")), 10)


def _page_tail(paras: list[str]) -> int:
    """Index where a trailing block of links or comments starts (see :data:`_TAIL_HEAD`), else ``len(paras)``."""
    for i in range(len(paras) - 1, 0, -1):
        if _TAIL_HEAD.match(paras[i]) and (all(len(p) <= _TAIL_LINE_MAX for p in paras[i + 1:i + 12])
                                           or i >= len(paras) - 4):
            return i
    return len(paras)


def strip_boilerplate(
    paragraphs: list[str], feed_title: str | None = None, *, learned: set[str] | None = None, page: bool = False
) -> Cleaned:
    """Remove syndication wrappers (header credit line, "Read the original…", copyright footers) and the
    feed's learned boilerplate (``learned``: keys from :func:`repeated_paragraphs`); ``page`` adds the rules
    for text extracted from a web page."""
    paras = [p.strip() for p in paragraphs]
    paras = [p for p in paras if p]
    keep = [True] * len(paras)
    removed: list[str] = []
    header_credit: str | None = None
    footer_credit: str | None = None

    # Header: date-only lines and one "Publisher (City)" credit line among the first three paragraphs.
    for i, p in enumerate(paras[:3]):
        lines = [ln.strip() for ln in p.splitlines() if ln.strip()]
        credits = [_header_credit(ln) for ln in lines if not _DATE_ONLY.match(ln)]
        if len(credits) > 1 or not all(credits):
            break
        keep[i] = False
        header_credit = header_credit or (credits[0] if credits else None)

    if page:
        for i in range(_page_tail(paras), len(paras)):
            keep[i] = False
    phrase_rules = _possible_phrase_rules(paras)
    for i, p in enumerate(paras):
        if not keep[i]:
            continue
        rx = _HEAD_BY_LETTER.get(p[0], _HEAD_RULES)
        m = rx.match(p) if rx is not None else None
        if m is not None and m.lastgroup != "footer":
            footer_credit = footer_credit or _credit(m) or None
            keep[i] = False
        elif (m is not None or (phrase_rules and _phrase_footer(p, phrase_rules))
              or (learned and text_key(p) in learned) or (page and _page_line(i, p, len(paras)))):
            keep[i] = False

    # A bare sign-off line ("Ahram Online") right before a removed footer at the tail goes with it.
    if False not in keep:  # nothing cut (the common case)
        credit = header_credit or footer_credit
        if credit and feed_title and text_key(credit) == text_key(feed_title):
            credit = feed_title.strip()
        return Cleaned(paragraphs=paras, credit=credit or None, removed=[])
    last_kept = len(keep) - 1 - keep[::-1].index(True) if True in keep else -1
    signoff = None
    if 0 <= last_kept < len(paras) - 1 and _is_signoff(paras[last_kept]) and last_kept > 0:
        keep[last_kept] = False
        signoff = _norm_outlet(paras[last_kept]) or None

    kept = [p for p, k in zip(paras, keep, strict=True) if k]
    if not kept:  # never empty an item: a "footer-only" text is probably the text
        return Cleaned(paragraphs=paras, credit=None, removed=[])
    removed = [p for p, k in zip(paras, keep, strict=True) if not k]
    credit = header_credit or footer_credit
    if credit and feed_title and text_key(credit) == text_key(feed_title):
        credit = feed_title.strip()
    return Cleaned(paragraphs=kept, credit=credit or None, removed=removed, signoff=signoff)


def repeated_paragraphs(
    paragraph_lists: list[list[str]], min_items: int = 3, min_share: float = 0.5
) -> set[str]:
    """Keys (``text_key``) of paragraphs found in at least ``min_items`` items and ``min_share`` of all
    items of one feed: footers, subscribe lines, standing disclaimers."""
    if not paragraph_lists:
        return set()
    counts: Counter[str] = Counter()
    for paras in paragraph_lists:
        counts.update(_keys(paras))
    need = max(min_items, min_share * len(paragraph_lists))
    return {k for k, n in counts.items() if n >= need}


def _keys(paras: Iterable[str]) -> set[str]:
    return {k for k in (text_key(p) for p in paras) if k}
