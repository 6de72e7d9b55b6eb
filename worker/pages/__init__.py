"""Article pages: the body text and metadata of the page behind a feed item (pure: bytes in, result out).

The integration (fetching with robots.txt, the Celery queue, storage) lives elsewhere; this package never does
I/O. Entry point: :func:`extract_page`.
"""

from worker.pages.extract import extract_page
from worker.pages.model import REASONS, Limits, PageHints, PageResult

__all__ = ["REASONS", "Limits", "PageHints", "PageResult", "extract_page"]
