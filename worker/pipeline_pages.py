"""The page step of the pipeline: which items get their page, fetching it politely, and what its text changes.

    process_body (the feed's batch transaction)
      before_store   a changed item with the same link and title keeps the page text it already has
      after_store    the items whose feed text is a summary get a page request (worker.pages.when), in the
                     batch's transaction: a page is requested once per article, whoever runs the batch again
    claim            requests are claimed (a numbered claim, committed) before any message about them is sent
    fetch_page_step  robots.txt (worker.fetch.robots), then the page under the page cap, the SSRF guard, the
                     deadline and the host's politeness slot; the body is marked fetched under its claim, so a
                     redelivered message never fetches it again
    process_page     extract (worker.pages, outside any transaction), then in one transaction: the text and
                     metadata (worker.pages.apply), the content hash and fingerprints, the story decided again
                     without splitting any (pipeline_stories.redecide_story), the canonical URL as an alias,
                     the request's outcome

Outcomes (``article_pages.status``): ``extracted`` (the page's text is the article's), ``kept`` (read fine but
the feed's text stays: the page says no more, reason ``not_longer``; or it is another article, reason
``duplicate`` with ``duplicate_of``), ``refused`` (robots.txt), ``failed`` (reason: the fetch's error kind or
the page's verdict). In every case but ``extracted`` the article keeps its feed text.

A page whose text is another article's (their content hashes are unique) or whose canonical URL is another
article's is that article: nothing is written twice and no sighting moves; the article keeps its own text,
records ``duplicate_of`` and joins that article's story (``article_links.method`` ``same_text`` /
``same_url``).

The Celery tasks run :func:`fetch_page_step` on the ``pages`` queue (I/O, the fetch workers' thread pool) and
:func:`process_page` on the ``process`` queue (CPU, prefork); ``wirefeed ingest`` runs both in-process
(:func:`run_pages`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

import psycopg
import xxhash

from worker.errors import NEVER_SWALLOW, FetchError, HostBusy, TransientFetchError
from worker.feed_state.model import Feed
from worker.models import Article
from worker.normalize.urls import canonicalize_url
from worker.pages import PageHints, PageResult, extract_page
from worker.pages.apply import ArticleFacts, PageUpdate, merge_page
from worker.pages.when import resolve_mode, wants_page
from worker.pipeline_stories import join_story_of, redecide_story
from worker.settings import Settings
from worker.store import pages as page_store
from worker.stories.fingerprint import words

__all__ = ["PageFetch", "PageReport", "after_store", "before_store", "claim_pages", "fetch_page_step",
           "item_key", "process_page", "record_poison", "release", "run_pages"]

Outcome = Literal["fetched", "extracted", "kept", "refused", "failed", "skipped", "wait", "retry"]
# Fetch failures worth another try later (the workers retry them WIREFEED_PAGE_RETRIES times).
_RETRY_KINDS = frozenset({"timeout", "connect", "network", "dns", "http_408", "http_429", "http_500", "http_502",
                          "http_503", "http_504", "transient"})


@dataclass(slots=True)
class PageReport:
    """What happened to one page request: task results, the metrics, ``wirefeed ingest``'s page counts."""

    article_id: int
    outcome: Outcome = "skipped"
    reason: str | None = None
    detail: str | None = None
    http_status: int | None = None
    duration_s: float = 0.0
    story_action: str | None = None  # process: keep / move / merge
    step: str = "fetch"  # fetch (robots.txt and the page) or process (extract and store)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PageFetch:
    """The fetch half: a body to extract, or a finished / waiting / retrying report."""

    report: PageReport
    body: bytes | None = None
    url: str = ""
    final_url: str = ""
    content_type: str | None = None
    wait: float | None = None  # host busy or robots.txt unavailable: try again in this many seconds
    error: FetchError | None = None  # outcome "retry": a transient failure, not recorded yet


def item_key(a: Article) -> str:
    """What makes an item ask for its page again: its link and its title."""
    return xxhash.xxh3_64_hexdigest("\x1f".join((a.link or a.url or "", a.title)).encode("utf-8", "surrogatepass"))


# --- inside the feed's batch ---------------------------------------------------------------------------------


def before_store(conn: psycopg.Connection, articles: list[Article], known: dict[str, Any]) -> set[int]:
    """Changed items of articles whose text came from their page: the same link and title keep the page's text
    (the feed's summary changing is no reason to lose the article); a new link or title gives the feed's
    text back. Returns the articles whose page text goes (their request starts over in :func:`after_store`)."""
    changed = [(known[a.guid].article_id, a) for a in articles if a.guid in known]
    if not changed:
        return set()
    kept = page_store.page_texts(conn, [aid for aid, _ in changed])
    lose: set[int] = set()
    for aid, a in changed:
        k = kept.get(aid)
        if k is None:
            continue
        if k.item_key == item_key(a):
            a.content_text, a.content_html, a.content_hash = k.content_text, k.content_html, k.content_hash
            a.author = a.author or k.author
        else:
            lose.add(aid)
    return lose


def after_store(conn: psycopg.Connection, settings: Settings, feed: Feed, stored: Iterable[tuple[int, Article]],
                undated: set[str], lose: set[int], *, enabled: bool = True) -> int:
    """Page requests for the batch's new and changed articles whose feed text is a summary (the feed's mode,
    :mod:`worker.pages.when`). Returns how many were made."""
    items = list(stored)
    back = [aid for aid, _ in items if aid in lose]
    page_store.back_to_feed_text(conn, back)
    if not items or not enabled or settings.fetch_pages == "never":
        return 0
    mode = resolve_mode(settings.fetch_pages, page_store.feed_page_mode(conn, feed.id), enabled)
    if mode == "never":
        return 0
    history: list[tuple[int, int]] | None = None
    requests = []
    for aid, a in items:
        if a.url is None:
            continue
        decision = wants_page(mode, url=a.url, text=a.content_text)
        if not decision.fetch and mode == "auto":
            if history is None:
                history = page_store.history(conn, feed.id)
            decision = wants_page(mode, url=a.url, text=a.content_text, history=history)
        if decision.fetch:
            requests.append(page_store.PageRequest(aid, feed.id, a.url, item_key(a), decision.why, a.guid in undated,
                                                   len(words(a.content_text))))
    return page_store.request_pages(conn, requests)


# --- claims ----------------------------------------------------------------------------------------------------


def claim_pages(conn: psycopg.Connection, settings: Settings, *, feed_id: int | None = None,
                limit: int | None = None, worker_id: str | None = None) -> list[tuple[int, int]]:
    """Claim waiting page requests (one feed's, or any whose claim expired) in the name of ``worker_id`` and
    commit the claim before any message about them is sent. Returns (article id, claim) pairs."""
    with conn.transaction():
        return page_store.claim(conn, claim_seconds=settings.claim_timeout, feed_id=feed_id,
                                limit=limit or settings.schedule_batch, worker_id=worker_id)


def release(conn: psycopg.Connection, article_id: int, claim: int, seconds: float) -> None:
    """The request waits (its host is busy, or its robots.txt unreadable): claimed again after ``seconds``."""
    with conn.transaction():
        page_store.release(conn, article_id, claim, after_seconds=seconds)


def _current(conn: psycopg.Connection, article_id: int, claim: int, *, lock: bool = False
             ) -> tuple[page_store.PageRow | None, str | None]:
    """The request, and why a message of ``claim`` must do nothing (stale or finished), if so."""
    row = page_store.get(conn, article_id, lock=lock)
    if row is None:
        return None, "no page request for this article"
    if row.claim != claim:
        return row, f"claim {claim} is stale (now {row.claim})"
    if row.status not in ("pending", "fetched"):
        return row, f"already {row.status}"
    return row, None


# --- fetching --------------------------------------------------------------------------------------------------


def fetch_page_step(conn: psycopg.Connection, settings: Settings, article_id: int, claim: int, *,
                    robots: Any, politeness: Any = None, retries_left: bool = False) -> PageFetch:
    """robots.txt, then the page. A disallowed page is never requested (recorded ``refused``); a failure is
    recorded, except a transient one while ``retries_left`` (outcome ``retry``: the caller tries again)."""
    from worker.fetch.http import fetch_page_body
    from worker.fetch.robots import RobotsUnavailable

    started = time.perf_counter()
    report = PageReport(article_id)
    with conn.transaction():
        row, stale = _current(conn, article_id, claim)
    if row is None or stale:
        report.detail = stale
        return PageFetch(report)
    if row.status == "fetched" and row.fetch_claim == claim:
        report.detail = "fetched already under this claim (its extraction is on its way)"
        return PageFetch(report)
    try:
        verdict = robots.check(row.url)
        if not verdict.allowed:
            _finish(conn, report, "refused", "robots", verdict.why)
            return PageFetch(report)
        out = fetch_page_body(row.url, settings=settings, politeness=politeness)
    except HostBusy as busy:
        report.outcome, report.detail = "wait", busy.reason
        return PageFetch(report, wait=busy.retry_after)
    except RobotsUnavailable as err:
        report.outcome, report.reason, report.detail = "wait", err.kind, err.reason
        return PageFetch(report, wait=err.retry_after or float(settings.robots_retry))
    except FetchError as err:
        report.http_status = err.status
        report.duration_s = round(time.perf_counter() - started, 4)
        if retries_left and (err.kind in _RETRY_KINDS or (isinstance(err, TransientFetchError)
                                                           and err.status is not None and err.status >= 500)):
            report.outcome, report.reason, report.detail = "retry", err.kind, err.reason
            return PageFetch(report, error=err)
        _finish(conn, report, "failed", err.kind, err.reason, http_status=err.status, fetched=err.status is not None)
        return PageFetch(report)
    if verdict.crawl_delay and politeness is not None:  # the site asks for a gap between requests
        from urllib.parse import urlsplit

        politeness.note_retry_after(urlsplit(out.final_url).hostname or "", min(verdict.crawl_delay, 60.0))
    with conn.transaction():
        if not page_store.mark_fetched(conn, article_id, claim, http_status=out.status, final_url=out.final_url):
            report.detail = "the request moved on while its page was fetched"
            return PageFetch(report)
    report.outcome, report.http_status = "fetched", out.status
    report.duration_s = round(time.perf_counter() - started, 4)
    return PageFetch(report, body=out.body or b"", url=row.url, final_url=out.final_url, content_type=out.content_type)


def record_failure(conn: psycopg.Connection, report: PageReport, err: FetchError) -> PageReport:
    """A transient fetch failure that ran out of retries: recorded like any other."""
    _finish(conn, report, "failed", err.kind, err.reason, http_status=err.status, fetched=err.status is not None)
    return report


def record_poison(conn: psycopg.Connection, article_id: int, message: str) -> PageReport:
    """A page task that failed unexpectedly (or killed its worker) too often: given up, the summary kept."""
    report = PageReport(article_id)
    _finish(conn, report, "failed", "internal", message)
    return report


def _finish(conn: psycopg.Connection, report: PageReport, status: Outcome, reason: str | None, detail: str | None,
            **fields: Any) -> None:
    with conn.transaction():
        page_store.finish(conn, report.article_id, status, reason=reason, detail=detail, **fields)
    report.outcome, report.reason, report.detail = status, reason, detail
    if fields.get("http_status") is not None:
        report.http_status = fields["http_status"]


# --- extracting and storing ------------------------------------------------------------------------------------


def _article(facts: ArticleFacts, u: PageUpdate) -> Article:
    """The fields story assignment reads (title, text, summary)."""
    return Article(guid=str(facts.article_id), link=None, url=facts.url, title=facts.title, summary=facts.summary,
                   content_html=u.content_html, content_text=u.content_text, author=u.author, publisher=u.publisher,
                   syndicator=u.syndicator, language=u.language, published_at=facts.published_at,
                   published_raw=None, content_hash=u.content_hash)


def _keep_feed_text(facts: ArticleFacts, u: PageUpdate) -> PageUpdate:
    return replace(u, text_source="feed", content_text=facts.content_text, content_html=facts.content_html,
                   content_hash=facts.content_hash)


def process_page(conn: psycopg.Connection, settings: Settings, article_id: int, claim: int, body: bytes, *,
                 final_url: str, content_type: str | None = None, http_status: int | None = None) -> PageReport:
    """Extract a fetched page and store what it changes (see the module's docstring)."""
    started = time.perf_counter()
    report = PageReport(article_id, http_status=http_status, step="process")
    with conn.transaction():
        row, stale = _current(conn, article_id, claim)
        facts = page_store.facts(conn, article_id) if row is not None and not stale else None
    if row is None or stale or facts is None:
        report.detail = stale or "the article is gone"
        return report
    hints = PageHints(title=facts.title, summary=facts.summary or facts.content_text, feed_title=facts.feed_title)
    try:
        page = extract_page(body, final_url, content_type=content_type, hints=hints)
    except NEVER_SWALLOW:
        raise
    except Exception as exc:  # the extractor's bug must not cost the article: recorded, the summary kept
        page = PageResult(url=final_url, reason="internal", detail=f"extraction failed: {type(exc).__name__}: {exc}")
    with conn.transaction():
        row, stale = _current(conn, article_id, claim, lock=True)
        locked = page_store.facts(conn, article_id, lock=True) if row is not None and not stale else None
        if row is None or stale or locked is None:
            report.detail = stale or "the article is gone"
            return report
        _store_page(conn, report, locked, page, final_url)
    report.duration_s = round(time.perf_counter() - started, 4)
    return report


def _store_page(conn: psycopg.Connection, report: PageReport, facts: ArticleFacts, page: PageResult,
                final_url: str) -> None:
    aid = facts.article_id
    site = page.site_name
    canonical = canonicalize_url(page.canonical_url) if page.canonical_url else None
    if not page.ok:
        page_store.finish(conn, aid, "failed", reason=page.reason, detail=page.detail, canonical_url=canonical,
                          site_name=site, page_words=len(words(page.text)) or None)
        report.outcome, report.reason, report.detail = "failed", page.reason, page.detail
        return
    update = merge_page(facts, page)
    dup: tuple[int, Literal["same_text", "same_url"]] | None = None
    if canonical and canonical != facts.url and (other := page_store.article_with_url(conn, canonical, other_than=aid)):
        dup = (other, "same_url")
    elif update.replaced and (other := page_store.article_with_hash(conn, update.content_hash, other_than=aid)):
        dup = (other, "same_text")
    if dup is None:
        try:
            with conn.transaction():  # a savepoint: a concurrent page may have taken this text's hash
                page_store.apply_update(conn, aid, update)
        except psycopg.errors.UniqueViolation:
            other = page_store.article_with_hash(conn, update.content_hash, other_than=aid)
            if other is None:
                raise
            dup = (other, "same_text")
    if dup is not None:
        other, method = dup
        page_store.apply_update(conn, aid, _keep_feed_text(facts, update))
        what = "text" if method == "same_text" else f"canonical URL ({canonical})"
        detail = f"the page's {what} is article {other}'s; the feed's text is kept"
        moved = join_story_of(conn, aid, other, method, f"its page's {what} is article {other}'s")
        page_store.finish(conn, aid, "kept", reason="duplicate", detail=detail, canonical_url=canonical,
                          site_name=site, duplicate_of=other, page_words=update.page_words,
                          feed_words=update.feed_words)
        report.outcome, report.reason, report.detail = "kept", "duplicate", detail
        report.story_action = moved.action if moved else None
        return
    if canonical and canonical != facts.url:
        page_store.add_alias(conn, canonical, aid)
    if update.replaced:
        moved = redecide_story(conn, aid, _article(facts, update), why="page text")
        report.story_action = moved.action if moved else None
        detail = f"{update.page_words} words from the page replace the feed's {update.feed_words}"
        page_store.finish(conn, aid, "extracted", reason=None, detail=detail, canonical_url=canonical,
                          site_name=site, page_words=update.page_words, feed_words=update.feed_words)
        report.outcome, report.detail = "extracted", detail
        return
    detail = f"the page's {update.page_words} words are not more than the feed's {update.feed_words}"
    page_store.finish(conn, aid, "kept", reason="not_longer", detail=detail, canonical_url=canonical, site_name=site,
                      page_words=update.page_words, feed_words=update.feed_words)
    report.outcome, report.reason, report.detail = "kept", "not_longer", detail


# --- in-process: wirefeed ingest ----------------------------------------------------------------------------------


@dataclass(slots=True)
class PagesRun:
    """The pages of one ``wirefeed ingest`` input, run in this process."""

    reports: list[PageReport] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.reports:
            out[r.outcome] = out.get(r.outcome, 0) + 1
        return out


def run_pages(conn: psycopg.Connection, settings: Settings, feed_id: int, *, robots: Any,
              politeness: Any = None) -> PagesRun:
    """Fetch and extract the waiting pages of one feed here and now (no retries: a transient failure is
    recorded; a host that stays busy, or a robots.txt that cannot be read, leaves its page waiting)."""
    run = PagesRun()
    for article_id, claim in claim_pages(conn, settings, feed_id=feed_id):
        step = fetch_page_step(conn, settings, article_id, claim, robots=robots, politeness=politeness)
        if step.wait is not None:
            release(conn, article_id, claim, step.wait)
        elif step.body is not None:
            step.report = process_page(conn, settings, article_id, claim, step.body, final_url=step.final_url,
                                       content_type=step.content_type, http_status=step.report.http_status)
        run.reports.append(step.report)
    return run

