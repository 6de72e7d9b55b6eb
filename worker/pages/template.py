"""Site template learning: blocks that repeat across a site's pages are boilerplate (pure).

The feed path learns repeated paragraphs per feed (:func:`worker.normalize.boilerplate.repeated_paragraphs`);
pages of one site share a template the same way, so paragraphs the extractor lets through on several of a
site's pages (a standing disclaimer, a comment policy, a newsletter box) are learned here and removed from the
next page of that site. The caller keeps the learned keys per site (the pipeline, per feed or host).
"""

from __future__ import annotations

from collections.abc import Iterable

from worker.normalize.boilerplate import repeated_paragraphs

__all__ = ["learn_site_blocks"]


def learn_site_blocks(pages: Iterable[bytes], min_pages: int = 2, min_share: float = 0.5) -> frozenset[str]:
    """Text keys of paragraphs found on at least ``min_pages`` and ``min_share`` of ``pages`` (raw HTML of
    one site's article pages), as the extractor alone gives them."""
    from worker.pages.extract import raw_paragraphs

    lists = [raw_paragraphs(data) for data in pages]
    return frozenset(repeated_paragraphs([p for p in lists if p], min_items=min_pages, min_share=min_share))
