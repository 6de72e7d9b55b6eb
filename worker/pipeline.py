"""The one path an item takes: parse → skip unchanged → normalise → dedupe → store.

Used by the Celery tasks and by ``wirefeed ingest`` alike. Parsing happens outside any transaction;
everything one feed batch writes (articles, sightings, stories, feed state, NOTIFY) commits together
or not at all, so a failure never leaves half an article.

Every transaction is opened and committed here (``with conn.transaction():``); the store's functions
never commit. Whatever happens to a feed's state goes through :func:`worker.feed_state.decide.decide`
(with the feed row locked) and :func:`worker.store.feeds.apply_update`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import psycopg

from worker import deadline, pipeline_pages, queues
from worker.errors import FetchError, HostBusy, InputError, WirefeedError, check_size
from worker.feed_state.decide import (
    Failure,
    Fetched,
    HostWait,
    Moved,
    NotModified,
    Outcome,
    ParseFailure,
    Poison,
    Processed,
    TransientFailure,
    decide,
    fetch_failure,
)
from worker.feed_state.model import Feed
from worker.fetch.http import FetchOutcome, body_hash
from worker.fetch.local import read_local_file
from worker.models import Article, ParsedFeed, RawEntry
from worker.normalize.entry import apply_learned_boilerplate, entry_hash, entry_key, normalize_entries
from worker.ops.logs import get_logger
from worker.parse.feed import cap_entries, parse_feed
from worker.pipeline_stories import StoryStep, decide_stories, write_stories
from worker.redaction import first_line
from worker.settings import Settings
from worker.store import articles as article_store
from worker.store import feeds as feed_store
from worker.store import fetches as fetch_store
from worker.store import workers as worker_store

log = get_logger("wirefeed.scheduler")

Status = Literal["ok", "error", "postponed"]


@dataclass(slots=True)
class IngestReport:
    """What happened to one input: the body of ``wirefeed ingest --json`` and of task results."""

    input: str
    feed_id: int | None = None
    status: Status = "ok"  # "postponed": a fetch whose host asked to wait (tasks and `fetch --sync` only)
    error: str | None = None
    error_kind: str | None = None
    not_modified: bool = False  # body identical to the last one processed: not parsed again
    entries: int = 0
    new_articles: int = 0
    duplicates: int = 0
    near_duplicates: int = 0
    updated: int = 0
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)
    skip_kinds: dict[str, int] = field(default_factory=dict)  # reason (up to its first colon) -> entries
    capped: int = 0  # entries past WIREFEED_MAX_ENTRIES_PER_FEED: not read (the first ones in document order are)
    note: str | None = None  # what a person should know about a body that was ingested (entries over the cap)
    parser: str | None = None  # which parser read the body: "lxml" (fast path), "feedparser" or "jsonfeed"
    pages_wanted: int = 0  # page requests this batch made (worker.pipeline_pages)
    pages: dict[str, int] = field(default_factory=dict)  # outcome -> pages, when they ran in this process
    duration_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _dedupe_keys(raws: list[RawEntry]) -> list[tuple[str, RawEntry]]:
    """Key each entry; a guid repeated inside one feed keeps its first occurrence only."""
    seen: set[str] = set()
    out = []
    for raw in raws:
        key = entry_key(raw)
        if key not in seen:
            seen.add(key)
            out.append((key, raw))
    return out


def _dates(parsed: ParsedFeed) -> tuple[datetime, ...]:
    """The items' publication dates (UTC), the feed's publishing rhythm for the schedule."""
    out = []
    for e in parsed.entries:
        d = e.published_parsed or e.updated_parsed
        if d is not None:
            out.append(d if d.tzinfo is not None else d.replace(tzinfo=UTC))
    return tuple(out)


def _apply(conn: psycopg.Connection, settings: Settings, feed: Feed, outcome: Outcome, now: datetime) -> None:
    """Decide what ``outcome`` does to ``feed`` and write it (inside the caller's transaction, row locked)."""
    feed_store.apply_update(conn, feed.id, decide(feed, outcome, now, settings))


def _failure_outcome(err: WirefeedError) -> Failure:
    if isinstance(err, FetchError):
        return fetch_failure(err)
    return ParseFailure(err.kind, err.reason)


def record_failure(conn: psycopg.Connection, settings: Settings, feed_id: int, err: WirefeedError,
                   *, fetch_id: int | None = None) -> None:
    """Keep a failure of the feed's fetch or body: on the feed (backoff, maybe disabled) and, when the fetch
    has a history row, on it. Never raises for a missing feed."""
    with conn.transaction():
        feed = feed_store.get_feed(conn, feed_id, lock=True)
        if feed is not None:
            _apply(conn, settings, feed, _failure_outcome(err), datetime.now(UTC))
        if fetch_id:
            fetch_store.set_entries(conn, fetch_id, seen=0, new=0, error_kind=err.kind, error_message=err.reason)


def record_poison(conn: psycopg.Connection, settings: Settings, feed_id: int, message: str,
                  *, fetch_id: int | None = None) -> bool:
    """Give up on ``feed_id`` until its next fetch: the error (kind ``internal``) on the feed and in its fetch
    history, the next fetch after a backoff. Returns False when there is no such feed."""
    with conn.transaction():
        feed = feed_store.get_feed(conn, feed_id, lock=True)
        if feed is None:
            return False
        poison = Poison(message)
        _apply(conn, settings, feed, poison, datetime.now(UTC))
        if fetch_id:
            fetch_store.set_entries(conn, fetch_id, seen=0, new=0, error_kind=poison.kind, error_message=message)
        else:
            fetch_store.record_fetch(conn, fetch_store.FetchRecord(
                feed_id=feed_id, url=feed.url, outcome="error", error_kind=poison.kind, error_message=message))
    return True


def postpone(conn: psycopg.Connection, settings: Settings, feed_id: int, seconds: float) -> None:
    """The feed's host asked everyone to wait (or stays busy): fetch it later, no error counted."""
    with conn.transaction():
        feed = feed_store.get_feed(conn, feed_id, lock=True)
        if feed is not None:
            _apply(conn, settings, feed, HostWait(seconds), datetime.now(UTC))


def process_body(
    conn: psycopg.Connection,
    settings: Settings,
    feed_id: int,
    body: bytes,
    *,
    url: str,
    content_type: str | None = None,
    etag: str | None = None,
    last_modified: str | None = None,
    force: bool = False,
    report: IngestReport | None = None,
    now: datetime | None = None,
    fetch_id: int | None = None,
    cache_max_age: int | None = None,
    pages: bool = True,
) -> IngestReport:
    """Ingest one fetched (or read) feed body for ``feed_id``. Bad input is recorded, never raised.
    ``pages`` False: no page is requested for this body's items (``ingest --no-pages``)."""
    report = report or IngestReport(input=url)
    report.feed_id = feed_id
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    bhash = body_hash(body)
    try:
        check_size(len(body), settings.max_feed_bytes, "feed body")
        with conn.transaction():
            feed = feed_store.get_feed(conn, feed_id)
        if feed is None:
            raise InputError(f"feed {feed_id} does not exist")
        if not force and feed.body_hash == bhash and feed.last_success_at is not None:
            with conn.transaction():
                locked = feed_store.get_feed(conn, feed_id, lock=True)
                if locked is not None:
                    _apply(conn, settings, locked, NotModified(by="hash", cache_max_age=cache_max_age), now)
                if fetch_id:
                    fetch_store.set_entries(conn, fetch_id, seen=0, new=0, not_modified_by="hash")
            report.not_modified = True
            return report
        parsed = parse_feed(body, url, content_type, max_entries=settings.max_entries_per_feed)
        total = len(parsed.entries) + parsed.unread
        report.note = cap_entries(parsed, settings.max_entries_per_feed)
        report.capped = total - len(parsed.entries)
    except InputError as err:
        record_failure(conn, settings, feed_id, err, fetch_id=fetch_id)
        report.status, report.error, report.error_kind = "error", err.reason, err.kind
        return report
    finally:
        report.duration_s = round(time.perf_counter() - started, 4)

    deadline.check("normalising")  # a soft limit that fired inside the parser may have been swallowed there
    report.parser = parsed.parser or None
    keyed = _dedupe_keys(parsed.entries)
    report.entries = len(parsed.entries)
    report.duplicates += len(parsed.entries) - len(keyed)
    with conn.transaction():
        # The feed row stays locked to the commit: two deliveries of one feed's batch run one after the
        # other (the second finds every item known), and its new state is decided on what is stored.
        feed = feed_store.get_feed(conn, feed_id, lock=True)
        if feed is None:
            report.status, report.error, report.error_kind = "error", f"feed {feed_id} does not exist", "bad_input"
            return report
        known = article_store.known_entries(conn, feed_id, [k for k, _ in keyed])
        changed: list[RawEntry] = []
        for key, raw in keyed:
            k = known.get(key)
            if k is not None and k.entry_hash == entry_hash(raw):
                report.duplicates += 1  # the same item re-fetched
            else:
                changed.append(raw)
        default_tz = feed.default_tz or settings.default_timezone
        articles, skipped = normalize_entries(
            changed, parsed.meta, now, default_tz=default_tz, future_skew_seconds=settings.future_skew_seconds)
        known_boilerplate = frozenset(feed.boilerplate_keys)
        learned = apply_learned_boilerplate(articles, known_boilerplate)
        if learned != known_boilerplate:
            feed_store.set_boilerplate_keys(conn, feed_id, learned)
        deadline.check("storing")
        report.skipped = len(skipped)
        report.skip_reasons = [f"{key}: {reason}" for key, reason in skipped][:20]
        for _key, reason in skipped:
            kind = reason.split(":", 1)[0][:80]
            report.skip_kinds[kind] = report.skip_kinds.get(kind, 0) + 1
        lose_page_text = pipeline_pages.before_store(conn, articles, known)
        # Each new row is written once: its story is decided before the insert, on the id reserved for it
        # (new and changed articles claim their story keys in one sorted pass: two passes could deadlock).
        steps: list[StoryStep] = []

        def stories(rows: list[tuple[int, Article]], changed: list[tuple[int, Article]]) -> dict[int, int]:
            steps.append(decide_stories(conn, rows, changed))
            return {aid: link.story_id for aid, link in steps[0].links.items()}

        batch = article_store.store_batch(conn, feed_id, articles, known, stories=stories)
        # From here on only statements whose results are not needed right away: pipeline mode sends them
        # without waiting for each answer, which shortens the time the batch's story claims and the
        # commit-order lock are held and saves a round trip per statement.
        with conn.pipeline():
            links = write_stories(conn, steps[0], {aid for aid, _ in batch.new}, changed=batch.changed,
                                  replaced=batch.replaced)
            story_of = {aid: link.story_id for aid, link in links.items()}
            report.new_articles = len(batch.new)
            report.duplicates += batch.duplicates
            report.updated = batch.updated
            report.near_duplicates = sum(1 for aid, _ in batch.new if story_of.get(aid, aid) != aid)
            if fetch_id:
                fetch_store.set_entries(conn, fetch_id, seen=report.entries, new=report.new_articles,
                                        error_message=report.note)
            meta = parsed.meta
            _apply(conn, settings, feed, Processed(
                new_entries=len(batch.new), published=_dates(parsed), ttl_minutes=meta.ttl_minutes,
                update_period_minutes=meta.update_period_minutes, cache_max_age=cache_max_age,
                title=meta.title, site_url=meta.site_url, language=meta.language,
                etag=etag, last_modified=last_modified, body_hash=bhash, note=report.note), now)
            article_store.notify_new(conn, feed_id, [(aid, story_of.get(aid)) for aid, _ in batch.new])
        undated = {entry_key(r) for r in changed if not (r.published or r.updated or r.dc_date)}
        report.pages_wanted = pipeline_pages.after_store(conn, settings, feed, [*batch.new, *batch.changed], undated,
                                                         lose_page_text, enabled=pages)
    report.duration_s = round(time.perf_counter() - started, 4)
    return report


def file_url(path: Path) -> str:
    return "file://" + str(path.resolve())


def ingest_file(conn: psycopg.Connection, settings: Settings, path: Path, *, force: bool = False,
                pages: bool = True) -> IngestReport:
    """``wirefeed ingest FILE``: the file is a feed whose url is ``file://`` + its absolute path, ingest-only
    (disabled with that reason: workers never get it)."""
    url = file_url(path)
    report = IngestReport(input=str(path))
    try:
        body = read_local_file(path, settings.max_feed_bytes)
    except FileNotFoundError:
        report.status, report.error, report.error_kind = "error", f"no such file: {path}", "not_found"
        return report
    except OSError as exc:
        report.status, report.error, report.error_kind = "error", f"cannot read {path}: {exc.strerror}", "io"
        return report
    except InputError as err:
        report.status, report.error, report.error_kind = "error", err.reason, err.kind
        report.feed_id = _subscribe(conn, settings, url, ingest_only=True)
        record_failure(conn, settings, report.feed_id, err)
        return report
    feed_id = _subscribe(conn, settings, url, ingest_only=True)
    return process_body(conn, settings, feed_id, body, url=url, force=force, report=report, pages=pages)


def _subscribe(conn: psycopg.Connection, settings: Settings, url: str, *, ingest_only: bool = False) -> int:
    """The feed for ``url``; ``ingest_only`` (a file): disabled with the reason that workers cannot read it, so
    beat never schedules it."""
    with conn.transaction():
        feed_id = feed_store.add_feed(conn, url, poll_interval=settings.default_interval).feed_id
        if ingest_only:
            feed_store.mark_ingest_only(conn, feed_id)
        return feed_id


@dataclass(slots=True)
class FetchStep:
    """The fetch half of a refresh: a body to process, a wait for a busy host, or a finished report."""

    report: IngestReport
    body: bytes | None = None
    url: str = ""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetch_id: int | None = None  # the feed_fetches row, completed with entry counts by process_body
    cache_max_age: int | None = None
    wait: float | None = None  # the host is busy: fetch again in this many seconds (nothing recorded)


def fetch_step(conn: psycopg.Connection, settings: Settings, feed_id: int, *, politeness: Any = None) -> FetchStep:
    """Fetch a feed (conditional GET). Errors and "not modified" are recorded here and end the step.

    A host with no free slot (or asking every client to wait) ends it with ``wait`` set and nothing recorded:
    the caller fetches again later (:func:`postpone` records a long wait on the feed).
    """
    from worker.fetch.http import fetch_feed_body

    with conn.transaction():
        feed = feed_store.get_feed(conn, feed_id)
    if feed is None:
        return FetchStep(IngestReport(input=str(feed_id), status="error", error=f"feed {feed_id} does not exist",
                                      error_kind="not_found"))
    report = IngestReport(input=feed.url, feed_id=feed_id)
    url = feed.url
    if url.startswith("file://"):
        path = Path(url[len("file://"):])
        failure: Failure | None = None
        try:
            body = read_local_file(path, settings.max_feed_bytes)
        except OSError as exc:
            failure = TransientFailure("io", f"cannot read {path}: {exc.strerror}")
        except InputError as err:  # not a regular file, or over the size cap
            failure = _failure_outcome(err)
        if failure is not None:
            _fetch_failed(conn, settings, feed_id, failure, status=None, elapsed=0.0)
            report.status, report.error, report.error_kind = "error", failure.message, failure.kind
            return FetchStep(report)
        return FetchStep(report, body=body, url=url)
    started = time.perf_counter()
    try:
        out = fetch_feed_body(
            url, etag=feed.etag, last_modified=feed.last_modified,
            previous_body_hash=feed.body_hash, settings=settings, politeness=politeness,
        )
    except HostBusy as busy:
        report.status, report.error = "postponed", busy.reason
        return FetchStep(report, wait=busy.retry_after)
    except FetchError as err:
        elapsed = time.perf_counter() - started
        _fetch_failed(conn, settings, feed_id, fetch_failure(err), status=err.status, elapsed=elapsed)
        report.status, report.error, report.error_kind = "error", err.reason, err.kind
        report.duration_s = round(elapsed, 4)
        return FetchStep(report)
    fetch_id = _fetch_answered(conn, settings, feed_id, out)
    if out.outcome == "not_modified" or out.body is None:
        report.not_modified = True
        report.duration_s = round(time.perf_counter() - started, 4)
        return FetchStep(report)
    return FetchStep(report, body=out.body, url=out.final_url or url, content_type=out.content_type,
                     etag=out.etag, last_modified=out.last_modified, fetch_id=fetch_id,
                     cache_max_age=out.cache_max_age)


def _fetch_failed(conn: psycopg.Connection, settings: Settings, feed_id: int,
                  failure: Failure, *, status: int | None, elapsed: float) -> None:
    """A fetch that got no body: its history row, and what the failure does to the feed."""
    with conn.transaction():
        feed = feed_store.get_feed(conn, feed_id, lock=True)
        if feed is None:
            return
        fetch_store.record_fetch(conn, fetch_store.FetchRecord(
            feed_id=feed_id, url=feed.url, outcome="error", status=status, duration_ms=round(elapsed * 1000),
            error_kind=failure.kind, error_message=failure.message))
        _apply(conn, settings, feed, failure, datetime.now(UTC))


def _fetch_answered(conn: psycopg.Connection, settings: Settings, feed_id: int, out: FetchOutcome) -> int:
    """A fetch that got an answer (a new body or not modified): its history row, a 301/308 move, and for a
    not-modified answer the next schedule. Returns the history row id (completed after processing)."""
    with conn.transaction():
        feed = feed_store.get_feed(conn, feed_id, lock=True)
        if feed is None:
            return 0
        moved = None
        if out.permanent_redirect_to:
            to = out.permanent_redirect_to
            moved = Moved(to, taken_by=feed_store.feed_with_url(conn, to, other_than=feed_id))
        outcome: Outcome = Fetched(moved)
        if out.outcome == "not_modified":
            outcome = NotModified(by=out.not_modified_by or "304", etag=out.etag, last_modified=out.last_modified,
                                  cache_max_age=out.cache_max_age, retry_after=out.retry_after, moved=moved)
        _apply(conn, settings, feed, outcome, datetime.now(UTC))
        return fetch_store.record_fetch(conn, fetch_store.FetchRecord(
            feed_id=feed_id, url=feed.url, final_url=out.final_url, outcome=out.outcome, status=out.status,
            not_modified_by=out.not_modified_by, bytes=out.bytes_read, duration_ms=round(out.elapsed * 1000),
        ))


def refresh_feed(conn: psycopg.Connection, settings: Settings, feed_id: int, *, politeness: Any = None,
                 pages: bool = True) -> IngestReport:
    """Fetch and process one feed in this process (``wirefeed fetch --sync``, ``wirefeed ingest URL``).
    A busy host postpones the feed (status ``postponed``)."""
    step = fetch_step(conn, settings, feed_id, politeness=politeness)
    if step.wait is not None:
        postpone(conn, settings, feed_id, step.wait)
        return step.report
    if step.body is None:
        return step.report
    return process_body(conn, settings, feed_id, step.body, url=step.url, content_type=step.content_type,
                        etag=step.etag, last_modified=step.last_modified, report=step.report,
                        fetch_id=step.fetch_id, cache_max_age=step.cache_max_age, pages=pages)


def ingest_url(conn: psycopg.Connection, settings: Settings, url: str, *, pages: bool = True) -> IngestReport:
    feed_id = _subscribe(conn, settings, url)
    report = refresh_feed(conn, settings, feed_id, pages=pages)
    report.input = url
    return report


def fetch_pages_now(conn: psycopg.Connection, settings: Settings, report: IngestReport, *, robots: Any,
                    politeness: Any = None) -> IngestReport:
    """The waiting pages of the report's feed, fetched and extracted in this process (``wirefeed ingest``);
    their outcomes are counted in ``report.pages``. Nothing when pages are off."""
    if report.feed_id is None or report.status != "ok" or settings.fetch_pages == "never":
        return report
    run = pipeline_pages.run_pages(conn, settings, report.feed_id, robots=robots, politeness=politeness)
    for outcome, n in run.counts().items():
        report.pages[outcome] = report.pages.get(outcome, 0) + n
    return report


# --- pages: the steps the tasks run (worker.pipeline_pages) ------------------------------------------------

claim_pages = pipeline_pages.claim_pages
fetch_page_step = pipeline_pages.fetch_page_step
process_page = pipeline_pages.process_page
release_page = pipeline_pages.release
record_page_failure = pipeline_pages.record_failure
record_page_poison = pipeline_pages.record_poison


# --- maintenance: the scheduler's claim and the daily prunes ---------------------------------------------


def give_back_dead(conn: psycopg.Connection, settings: Settings, *,
                   queues_empty: bool = False) -> worker_store.GivenBack:
    """The claims of workers whose heartbeats stopped (``WIREFEED_WORKER_DEAD_SECONDS``) go back to the
    scheduler: due again at once, instead of when their claim expires. ``queues_empty`` (the fetch and process
    queues hold no message now): also the feed claims whose message was sent longer ago than that and that no
    worker received. Logged when there were any."""
    with conn.transaction():
        back = worker_store.give_back_dead(conn, dead_after=settings.worker_dead_after)
        if queues_empty:
            back = replace(back, unreceived=worker_store.give_back_unreceived(
                conn, sent_before=settings.worker_dead_after))
    if back.workers or back.feeds or back.pages or back.unreceived:
        log.warning("dead_workers_claims_given_back", workers=back.workers, feeds=len(back.feeds),
                    pages=len(back.pages), feed_ids=back.feeds[:50], unreceived=back.unreceived[:50])
    return back


def claim_due_feeds(conn: psycopg.Connection, settings: Settings, *, queues_empty: bool = False
                    ) -> list[tuple[int, int]]:
    """Give back dead workers' (and unreceived) claims, then claim the feeds that are due (SKIP LOCKED: several
    schedulers never claim one feed twice); the claim commits before any message about them is sent. (feed id,
    claim) pairs."""
    give_back_dead(conn, settings, queues_empty=queues_empty)
    with conn.transaction():
        return feed_store.claim_due(conn, limit=settings.schedule_batch, claim_seconds=settings.claim_timeout)


def feed_queues_empty(settings: Settings) -> bool:
    """Whether the fetch and process queues hold no message now (False when Redis cannot say): then every
    feed message sent before now has been taken from its queue (:func:`give_back_dead`'s ``queues_empty``)."""
    from worker.ops import status

    try:
        client = status.redis_client(settings)
        try:
            depths = status.queue_depths(client)
        finally:
            client.close()
    except Exception as exc:  # the broker is away: this tick gives back nothing unreceived
        log.info("queue_depths_unavailable", error=first_line(exc))
        return False
    return depths.get(queues.FETCH, 1) == 0 and depths.get(queues.PROCESS, 1) == 0


def hand_off(conn: psycopg.Connection, feed_id: int, claim: int | None) -> None:
    """Before a task sends the feed's next message (the fetched body to the process queue): the claim names
    no worker until one receives it."""
    if claim is None:
        return
    with conn.transaction():
        worker_store.hand_off_feed(conn, feed_id, claim)


def prune_fetch_history(conn: psycopg.Connection, settings: Settings) -> int:
    """Drop fetch history older than WIREFEED_FETCH_HISTORY_DAYS (each feed keeps its newest 20 rows)."""
    cutoff = datetime.now(UTC) - timedelta(days=settings.fetch_history_days)
    with conn.transaction():
        return fetch_store.prune_fetches(conn, older_than=cutoff)


def prune_story_index(conn: psycopg.Connection, max_rounds: int = 100) -> int:
    """Drop near-duplicate index rows (``article_bands``) left by deleted articles, 10,000 rows per
    transaction, at most ``max_rounds`` transactions. Returns the rows removed."""
    from worker.store.stories import prune_bands

    removed = 0
    for _ in range(max_rounds):
        with conn.transaction():
            n = prune_bands(conn)
        removed += n
        if n < 10_000:
            break
    return removed
