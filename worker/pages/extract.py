"""The page stage: bytes, URL and the feed's hints in; the article and its metadata out (pure, no I/O).

    decode (charset, refuse non-HTML) → parse once → metadata (JSON-LD, meta tags, links) → prune and bound →
    trafilatura → wirefeed's layer (headline, feed guidance, site template, boilerplate and attribution) →
    judgement (soft 404, consent wall, paywall, homepage, empty, different story) → language

Nothing here raises for a bad page: every failure is a :class:`~worker.pages.model.PageResult` with a reason.
"""

from __future__ import annotations

from typing import Any

from worker.normalize.language import resolve_language
from worker.pages.body import clean_paragraphs, run_extractor, summary_block
from worker.pages.decode import NotDecodable, decode_page
from worker.pages.meta import read_meta
from worker.pages.model import Limits, PageHints, PageResult
from worker.pages.tree import cut_after, parse_page, prune
from worker.pages.verdict import PageStats, judge

__all__ = ["extract_page", "raw_paragraphs"]

_DEFAULT_LIMITS = Limits()
_PAGE_TEXT_SCAN = 50_000  # characters of visible text searched for paywall phrases


def _stats(root: Any) -> PageStats:
    body = root.find("body")
    if body is None:
        body = root
    visible = " ".join(body.text_content().split())
    link_chars = sum(len(" ".join(a.text_content().split())) for a in body.iter("a"))
    return PageStats(visible_chars=len(visible), link_chars=link_chars, page_text=visible[:_PAGE_TEXT_SCAN])


def raw_paragraphs(data: bytes, url: str | None = None, limits: Limits = _DEFAULT_LIMITS) -> list[str]:
    """What the extractor alone makes of a page (no wirefeed layer); [] for a page that does not decode."""
    try:
        text = decode_page(data[:limits.max_bytes]).text
    except NotDecodable:
        return []
    root = parse_page(text)
    prune(root)
    cut_after(root, limits.max_nodes)
    return run_extractor(root, url)


def extract_page(data: bytes, url: str | None = None, *, content_type: str | None = None,
                 hints: PageHints | None = None, limits: Limits = _DEFAULT_LIMITS) -> PageResult:
    """The article in one page (see the module's docstring). ``url`` is where the page was found (resolves
    relative links; a site root counts against it being an article); ``content_type`` the response's header."""
    truncated = len(data) > limits.max_bytes
    try:
        decoded = decode_page(data[:limits.max_bytes], content_type)
    except NotDecodable as refused:
        return PageResult(url=url, reason=refused.reason, detail=refused.detail, truncated=truncated)
    root = parse_page(decoded.text)
    meta = read_meta(root, url)
    prune(root)
    truncated = cut_after(root, limits.max_nodes) or truncated
    stats = _stats(root)
    summary = hints.summary if hints is not None else None
    lead = summary_block(root, summary)
    headlines = list(meta.headlines)
    if hints is not None and hints.title:
        headlines.append(hints.title)
    body = clean_paragraphs(run_extractor(root, url), headlines=headlines,
                            summary=summary, site_blocks=hints.site_blocks if hints is not None else frozenset(),
                            credit_name=hints.feed_title if hints is not None else None, lead=lead)
    text = "\n\n".join(body.paragraphs)
    verdict = judge(text, meta, stats, url, hints)
    return PageResult(
        url=url, title=meta.title, text=text, author=meta.author, published_at=meta.published_at,
        language=resolve_language(meta.language, text) if text else meta.language,
        canonical_url=meta.canonical_url, original_url=meta.original_url, site_name=meta.site_name,
        paragraphs=body.paragraphs, publisher=meta.publisher, credit=body.signoff or body.credit,
        reason=verdict[0] if verdict else None, detail=verdict[1] if verdict else None,
        encoding=decoded.encoding, truncated=truncated, removed=body.removed)
