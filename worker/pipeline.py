"""The one path an item takes: parse → skip unchanged → normalise → dedupe → store.

Used by the Celery tasks and by ``wirefeed ingest`` alike. Parsing happens outside any transaction;
everything one feed batch writes (articles, sightings, stories, feed state, NOTIFY) commits together
or not at all, so a failure never leaves half an article.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from worker import fetch_state
from worker.errors import InputError, TooLargeError, WirefeedError
from worker.feed_state.schedule import Hints, backoff, next_fetch_at
from worker.fetch.http import body_hash
from worker.models import RawEntry
from worker.normalize.entry import apply_learned_boilerplate, entry_hash, entry_key, normalize_entries
from worker.parse.feed import parse_feed
from worker.settings import Settings
from worker.store import articles as article_store
from worker.store import feeds as feed_store
from worker.store import fetches as fetch_store
from worker.stories.assign import assign_stories


@dataclass(slots=True)
class IngestReport:
    """What happened to one input: the body of ``wirefeed ingest --json`` and of task results."""

    input: str
    feed_id: int | None = None
    status: str = "ok"  # "ok" | "error"
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
    parser: str | None = None  # which parser read the body: "lxml" (fast path), "feedparser" or "jsonfeed"
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


def record_error(conn: psycopg.Connection, settings: Settings, feed_id: int, err: WirefeedError,
                 *, retry_after: float | None = None, disable_reason: str | None = None) -> None:
    """Keep a failure on the feed (own transaction), with a retry time; never raises for a missing feed."""
    with conn.transaction():
        feed = feed_store.get_feed(conn, feed_id, lock=True)
        failures = (feed.error_count if feed else 0) + 1
        delay = backoff(failures, base=settings.min_interval, cap=settings.max_interval, rand=random.random(),
                        retry_after=retry_after)
        feed_store.record_failure(
            conn, feed_id, kind=err.kind, message=err.reason,
            next_fetch_at=datetime.now(UTC) + timedelta(seconds=delay), disable_reason=disable_reason,
        )


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
) -> IngestReport:
    """Ingest one fetched (or read) feed body for ``feed_id``. Bad input is recorded, never raised."""
    report = report or IngestReport(input=url)
    report.feed_id = feed_id
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    bhash = body_hash(body)
    try:
        if len(body) > settings.max_feed_bytes:
            raise TooLargeError(
                f"feed body is {len(body)} bytes, over the limit of {settings.max_feed_bytes} "
                "(raise WIREFEED_MAX_FEED_BYTES if this feed is genuine)")
        feed = feed_store.get_feed(conn, feed_id)
        conn.commit()
        if feed is None:
            raise InputError(f"feed {feed_id} does not exist")
        if not force and feed.body_hash == bhash and feed.last_success_at is not None:
            with conn.transaction():
                sched = next_fetch_at(
                    now, poll_interval=feed.poll_interval, had_new_entries=False,
                    hints=Hints(cache_max_age=cache_max_age),
                    min_interval=settings.min_interval, max_interval=settings.max_interval,
                )
                feed_store.record_not_modified(conn, feed_id, next_fetch_at=sched.at, poll_interval=sched.interval)
                if fetch_id:
                    fetch_store.set_entries(conn, fetch_id, seen=0, new=0, not_modified_by="hash")
            report.not_modified = True
            return report
        parsed = parse_feed(body, url, content_type)
    except InputError as err:
        record_error(conn, settings, feed_id, err)
        if fetch_id:
            with conn.transaction():
                fetch_store.set_entries(conn, fetch_id, seen=0, new=0, error_kind=err.kind, error_message=err.reason)
        report.status, report.error, report.error_kind = "error", err.reason, err.kind
        return report
    finally:
        report.duration_s = round(time.perf_counter() - started, 4)

    report.parser = parsed.parser or None
    keyed = _dedupe_keys(parsed.entries)
    report.entries = len(parsed.entries)
    report.duplicates += len(parsed.entries) - len(keyed)
    with conn.transaction():
        # Lock the feed row: two deliveries of the same feed's batch run one after the other.
        feed = feed_store.get_feed(conn, feed_id, lock=True)
        known = article_store.known_entries(conn, feed_id, [k for k, _ in keyed])
        changed: list[RawEntry] = []
        for key, raw in keyed:
            k = known.get(key)
            if k is not None and k.entry_hash == entry_hash(raw):
                report.duplicates += 1  # the same item re-fetched
            else:
                changed.append(raw)
        default_tz = (feed.default_tz if feed else None) or settings.default_timezone
        articles, skipped = normalize_entries(
            changed, parsed.meta, now, default_tz=default_tz, future_skew_seconds=settings.future_skew_seconds)
        known_boilerplate = frozenset(feed.boilerplate_keys if feed else ())
        learned = apply_learned_boilerplate(articles, known_boilerplate)
        if learned != known_boilerplate:
            feed_store.set_boilerplate_keys(conn, feed_id, learned)
        report.skipped = len(skipped)
        report.skip_reasons = [f"{key}: {reason}" for key, reason in skipped][:20]
        for _key, reason in skipped:
            kind = reason.split(":", 1)[0][:80]
            report.skip_kinds[kind] = report.skip_kinds.get(kind, 0) + 1
        batch = article_store.store_batch(conn, feed_id, articles, known)
        # From here on only statements whose results are not needed right away, but for the story lookups:
        # pipeline mode sends them without waiting for each answer, which shortens the time the story
        # locks are held (a batch of 50 takes the batch-wide one) and saves a round trip per statement.
        with conn.pipeline():
            # new and changed articles take their story locks in one sorted pass (two passes could deadlock)
            links = assign_stories(conn, batch.new, changed=batch.changed)
            story_of = {aid: link.story_id for aid, link in links.items()}
            report.new_articles = len(batch.new)
            report.duplicates += batch.duplicates
            report.updated = batch.updated
            report.near_duplicates = sum(1 for aid, _ in batch.new if story_of.get(aid, aid) != aid)
            sched = fetch_state.schedule_after_parse(settings, feed, parsed, len(batch.new), now, cache_max_age)
            when, interval = sched.at, sched.interval
            if fetch_id:
                fetch_store.set_entries(conn, fetch_id, seen=report.entries, new=report.new_articles)
            feed_store.record_success(
                conn, feed_id, next_fetch_at=when, poll_interval=interval, title=parsed.meta.title,
                site_url=parsed.meta.site_url, language=parsed.meta.language, etag=etag,
                last_modified=last_modified, body_hash=bhash, new_entries=len(batch.new),
            )
            article_store.notify_new(conn, feed_id, [(aid, story_of.get(aid)) for aid, _ in batch.new])
    report.duration_s = round(time.perf_counter() - started, 4)
    return report


def file_url(path: Path) -> str:
    return "file://" + str(path.resolve())


def ingest_file(conn: psycopg.Connection, settings: Settings, path: Path, *, force: bool = False) -> IngestReport:
    """``wirefeed ingest FILE``: the file is a feed whose url is ``file://`` + its absolute path."""
    url = file_url(path)
    report = IngestReport(input=str(path))
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise InputError(f"{path} is not a regular file")
        if size > settings.max_feed_bytes:
            raise TooLargeError(
                f"file is {size} bytes, over WIREFEED_MAX_FEED_BYTES={settings.max_feed_bytes}")
        with path.open("rb") as fh:
            body = fh.read(settings.max_feed_bytes + 1)
    except FileNotFoundError:
        report.status, report.error, report.error_kind = "error", f"no such file: {path}", "not_found"
        return report
    except OSError as exc:
        report.status, report.error, report.error_kind = "error", f"cannot read {path}: {exc.strerror}", "io"
        return report
    except InputError as err:
        report.status, report.error, report.error_kind = "error", err.reason, err.kind
        with conn.transaction():
            feed_id = feed_store.add_feed(conn, url).feed_id
        record_error(conn, settings, feed_id, err)
        report.feed_id = feed_id
        return report
    with conn.transaction():
        feed_id = feed_store.add_feed(conn, url).feed_id
    return process_body(conn, settings, feed_id, body, url=url, force=force, report=report)


@dataclass(slots=True)
class FetchStep:
    """The fetch half of a refresh: either a body to process, or a finished report."""

    report: IngestReport
    body: bytes | None = None
    url: str = ""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    fetch_id: int | None = None  # the feed_fetches row, completed with entry counts by process_body
    cache_max_age: int | None = None


def fetch_step(conn: psycopg.Connection, settings: Settings, feed_id: int, *, politeness: Any = None) -> FetchStep:
    """Fetch a feed (conditional GET). Errors and "not modified" are recorded here and end the step.

    Raises ``worker.fetch.politeness.HostBusy`` (nothing recorded) when the host has no free slot: retry later.
    """
    from worker.errors import FetchError
    from worker.fetch.http import fetch_feed_body
    from worker.fetch.politeness import HostBusy

    feed = feed_store.get_feed(conn, feed_id)
    conn.commit()
    if feed is None:
        return FetchStep(IngestReport(input=str(feed_id), status="error", error=f"feed {feed_id} does not exist",
                                      error_kind="not_found"))
    report = IngestReport(input=feed.url, feed_id=feed_id)
    url = feed.url
    if url.startswith("file://"):
        path = Path(url[len("file://"):])
        try:
            body = path.read_bytes()
        except OSError as exc:
            err = InputError(f"cannot read {path}: {exc.strerror}", kind="io")
            record_error(conn, settings, feed_id, err)
            report.status, report.error, report.error_kind = "error", err.reason, err.kind
            return FetchStep(report)
        return FetchStep(report, body=body, url=url)
    started = time.perf_counter()
    try:
        out = fetch_feed_body(
            url, etag=feed.etag, last_modified=feed.last_modified,
            previous_body_hash=feed.body_hash, settings=settings, politeness=politeness,
        )
    except HostBusy:
        raise
    except FetchError as err:
        fetch_state.fetch_failed(conn, settings, feed, err, time.perf_counter() - started)
        report.status, report.error, report.error_kind = "error", err.reason, err.kind
        report.duration_s = round(time.perf_counter() - started, 4)
        return FetchStep(report)
    fetch_id = fetch_state.fetch_succeeded(conn, settings, feed, out)
    if out.outcome == "not_modified" or out.body is None:
        report.not_modified = True
        report.duration_s = round(time.perf_counter() - started, 4)
        return FetchStep(report)
    return FetchStep(report, body=out.body, url=out.final_url or url, content_type=out.content_type,
                     etag=out.etag, last_modified=out.last_modified, fetch_id=fetch_id,
                     cache_max_age=out.cache_max_age)


def refresh_feed(conn: psycopg.Connection, settings: Settings, feed_id: int, *, politeness: Any = None) -> IngestReport:
    """Fetch and process one feed in this process (``wirefeed fetch --sync``, ``wirefeed ingest URL``)."""
    step = fetch_step(conn, settings, feed_id, politeness=politeness)
    if step.body is None:
        return step.report
    return process_body(conn, settings, feed_id, step.body, url=step.url, content_type=step.content_type,
                        etag=step.etag, last_modified=step.last_modified, report=step.report,
                        fetch_id=step.fetch_id, cache_max_age=step.cache_max_age)


def ingest_url(conn: psycopg.Connection, settings: Settings, url: str) -> IngestReport:
    with conn.transaction():
        feed_id = feed_store.add_feed(conn, url).feed_id
    report = refresh_feed(conn, settings, feed_id)
    report.input = url
    return report
