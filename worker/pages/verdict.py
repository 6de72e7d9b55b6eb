"""Is this page the article? Bad pages get a reason (pure).

Checked in this order, the first that holds wins (reasons in :mod:`worker.pages.model`):
- ``soft_404``: the title or heading is an error page's ("404", "page not found" and its translations) and the
  text is short;
- ``consent_wall``: the text is short and is mostly about cookies or consent;
- ``paywall``: the text is short and the page says the rest is for subscribers (or its JSON-LD says the
  article is not free and the text is a teaser);
- ``homepage``: nothing says "article" (no JSON-LD article, no ``og:type`` article) and the page is mostly
  links, or says it is a "website" with a short text and a quarter of it links, or its address is a site's root;
- ``empty``: almost no text came out;
- ``different_story``: the feed item's title and summary are given and too few of their words are on the page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from worker.pages.meta import PageMeta
from worker.pages.model import CONSENT_WALL, DIFFERENT_STORY, EMPTY, HOMEPAGE, PAYWALL, SOFT_404, PageHints
from worker.stories.fingerprint import words

__all__ = ["PageStats", "judge"]

MIN_TEXT = 80  # characters: less is no article
SHORT_TEXT = 1200  # characters: walls, stubs and error pages say little
HOMEPAGE_LINK_SHARE = 0.5  # share of the page's visible text inside links
WEBSITE_LINK_SHARE = 0.25  # the same for a page whose Open Graph type says "website" (and whose text is short)
WEBSITE_MAX_TEXT = 5000  # characters: a long text on a "website" page is an article all the same
MIN_HINT_OVERLAP = 0.25  # share of the feed item's words the page must hold

_SOFT_404 = re.compile(
    r"\b404\b|\bnot found\b|page (?:is )?(?:missing|unavailable|no longer available)|(?:could|can)(?:no|')t be found"
    r"|doesn[’']t exist|does not exist|no longer exists|página no encontrada|page introuvable|seite nicht gefunden"
    r"|pagina non trovata|página não encontrada|找不到|页面不存在|ページが見つかりません|페이지를 찾을 수 없",
    re.I)
_CONSENT = re.compile(
    r"\bcookies?\b|\bconsent\b|\bprivacy (?:settings|preferences|policy)\b|\baccept all\b|\bmanage (?:options|"
    r"preferences|settings)\b|\bpartners\b|\btracking\b|\bzustimm|\beinwillig|\bconsentement\b|\baccepter\b"
    r"|\bconsentimiento\b|\baceptar\b", re.I)
_PAYWALL = re.compile(
    r"subscribe (?:now )?to (?:continue|read|keep)|(?:for|only for) (?:paid )?subscribers|subscribers?[- ]only"
    r"|already (?:a subscriber|have an account)|to continue reading|continue reading with|this (?:article|story|"
    r"content) is (?:for|reserved for|exclusive to) (?:our )?(?:subscribers|members)|premium (?:article|content)"
    r"|réservé aux abonnés|nur für abonnenten|exclusivo para (?:assinantes|suscriptores)|会員限定|有料会員|付费阅读"
    r"|订阅后阅读|유료 회원", re.I)


@dataclass(frozen=True, slots=True)
class PageStats:
    """What the judgement needs from the whole page (counted before extraction)."""

    visible_chars: int
    link_chars: int
    page_text: str  # the page's visible text (a prefix), for the wall and paywall phrases


def _overlap(hint: str, page: str) -> float:
    want = {w for w in words(hint) if len(w) > 2 or not w.isascii()}
    if not want:
        return 1.0
    have = set(words(page))
    return len(want & have) / len(want)


def judge(text: str, meta: PageMeta, stats: PageStats, url: str | None,
          hints: PageHints | None) -> tuple[str, str] | None:
    """(reason, detail) for a page that is not the article, else None."""
    n = len(text)
    heading = " ".join(meta.headlines[:3])
    if n < SHORT_TEXT and _SOFT_404.search(heading or text[:300]):
        return SOFT_404, f"the page reads as an error page ({(meta.title or text[:80])!r})"
    consent_hits = len(_CONSENT.findall(text))
    if n < SHORT_TEXT and consent_hits >= 2 and consent_hits * 60 > n / 2:
        return CONSENT_WALL, "the page is a cookie or consent notice, not the article"
    if n < SHORT_TEXT and (_PAYWALL.search(text) or _PAYWALL.search(stats.page_text) or meta.paywalled):
        return PAYWALL, f"only a {n}-character teaser: the page keeps the rest for subscribers"
    link_share = stats.link_chars / stats.visible_chars if stats.visible_chars else 0.0
    root = bool(url) and urlsplit(url or "").path in ("", "/")
    website = meta.og_type == "website" and link_share >= WEBSITE_LINK_SHARE and n < WEBSITE_MAX_TEXT
    if not meta.is_article and (link_share >= HOMEPAGE_LINK_SHARE or website or (root and n < SHORT_TEXT * 2)):
        return HOMEPAGE, f"a front page, not an article ({link_share:.0%} of its text is links)"
    if n < MIN_TEXT:
        return EMPTY, f"no article text found ({n} characters)"
    if hints is not None and (hints.title or hints.summary):
        hint = " ".join(h for h in (hints.title, hints.summary) if h)
        share = _overlap(hint, " ".join([meta.title or "", text[:3000]]))
        if share < MIN_HINT_OVERLAP:
            return DIFFERENT_STORY, (f"the page does not tell the item's story (only {share:.0%} of the item's "
                                     "title and summary words are on it)")
    return None
