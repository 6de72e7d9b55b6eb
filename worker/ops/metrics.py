"""Prometheus metrics for the workers, safe with Celery's prefork pool.

How it fits together (docs/operations.md has the operator's view):

- ``WIREFEED_METRICS_PORT`` (default 0 = off) is the port of ONE worker. Each ``wirefeed worker`` process
  serves ``http://<host>:<port>/metrics`` from its main process; run two workers on one host with two
  ports (in compose every worker has its own container, so both use 9100).
- Counters and histograms are written by whichever process runs the task (prefork children, or the main
  process with the threads pool) into ``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess
  mode); the main process sums every file at scrape time. The directory must belong to one worker: when
  the variable is unset a private temporary directory is made; when set, its ``*.db`` files are removed
  at start (stale counts from an earlier run would otherwise be added in).
- Gauges (queue depth, scheduler lag, feeds by state, last ingest) are read from Redis and PostgreSQL when
  Prometheus scrapes, by the same queries as ``wirefeed status``; every worker exports them, so aggregate
  them with ``max`` across instances.

prometheus_client picks its value class (in memory or mmap files) when it is first imported, so this
module imports it lazily, after ``setup_worker`` has set the directory. Nothing here runs on import.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.ops.logs import get_logger
from worker.redaction import first_line
from worker.settings import Settings

log = get_logger("wirefeed.metrics")

FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)
FATES = ("new", "near_duplicate", "duplicate", "updated", "skipped")
_MAX_SKIP_LABELS = 30  # distinct skip-reason labels per process; later ones count as "other"

_lock = threading.Lock()
_metrics: _Metrics | None = None
_server: Any = None
_created_dir: Path | None = None  # the temporary multiprocess directory this process made, if any
_skip_labels: set[str] = set()
_reason_labels: set[str] = set()


@dataclass(slots=True)
class _Metrics:
    fetches: Any
    fetch_duration: Any
    batches: Any
    batch_duration: Any
    entries: Any
    skipped: Any
    parsed: Any
    pages: Any
    page_failures: Any
    page_duration: Any


def _get() -> _Metrics:
    """The metric objects of this process, created on first use (after the value class is decided)."""
    global _metrics
    with _lock:
        if _metrics is None:
            from prometheus_client import CollectorRegistry, Counter, Histogram

            # Not the global registry: in multiprocess mode values live in the files, and the scrape
            # registry is built from them; this keeps repeated setup (tests, forks) free of name clashes.
            reg = CollectorRegistry()
            _metrics = _Metrics(
                fetches=Counter("wirefeed_fetches", "Feed fetches by outcome: modified, not_modified, or the "
                                "error kind (timeout, http_404, ...)", ["outcome"], registry=reg),
                fetch_duration=Histogram("wirefeed_fetch_duration_seconds", "Time to fetch one feed, by result "
                                         "(modified, not_modified, error)", ["result"], buckets=FETCH_BUCKETS,
                                         registry=reg),
                batches=Counter("wirefeed_batches", "Fetched bodies processed, by outcome: stored, unchanged "
                                "(same body as last time), or the error kind", ["outcome"], registry=reg),
                batch_duration=Histogram("wirefeed_batch_duration_seconds", "Time to parse, normalise, dedupe "
                                         "and store one feed body", buckets=BATCH_BUCKETS, registry=reg),
                entries=Counter("wirefeed_entries", "Feed entries by fate: new (a new story), near_duplicate "
                                "(new row joining an earlier story), duplicate (exact: same item, URL or text), "
                                "updated, skipped", ["fate"], registry=reg),
                skipped=Counter("wirefeed_entries_skipped", "Entries skipped, by reason", ["reason"],
                                registry=reg),
                parsed=Counter("wirefeed_parsed_bodies", "Feed bodies parsed, by parser: lxml (the fast path), "
                               "feedparser (the parser of record, for what the fast path declines), jsonfeed",
                               ["parser"], registry=reg),
                pages=Counter("wirefeed_pages", "Article page steps by outcome: fetched (the body came back), "
                              "extracted (its text is now the article's), kept (read, the feed's text kept), "
                              "refused (robots.txt), failed", ["outcome"], registry=reg),
                page_failures=Counter("wirefeed_page_failures", "Pages that failed, by reason (a fetch error kind "
                                      "such as timeout or http_404, or a page verdict such as paywall)", ["reason"],
                                      registry=reg),
                page_duration=Histogram("wirefeed_page_duration_seconds", "Time of one page step: fetch "
                                        "(robots.txt and the page) or process (extract and store)", ["step"],
                                        buckets=FETCH_BUCKETS, registry=reg),
            )
        return _metrics


def skip_label(reason: str) -> str:
    """A bounded Prometheus label for a skip reason: its words up to the first colon, snake_cased."""
    head = reason.split(":", 1)[0].lower()
    label = re.sub(r"[^a-z]+", "_", head).strip("_")[:60] or "unknown"
    with _lock:
        if label not in _skip_labels:
            if len(_skip_labels) >= _MAX_SKIP_LABELS:
                return "other"
            _skip_labels.add(label)
    return label


def fates(report: Any) -> dict[str, int]:
    """Split one batch's entries into fates that add up to ``report.entries``."""
    near = int(report.near_duplicates)
    return {
        "new": int(report.new_articles) - near,
        "near_duplicate": near,
        "duplicate": int(report.duplicates),
        "updated": int(report.updated),
        "skipped": int(report.skipped),
    }


def record_fetch(report: Any, *, modified: bool) -> str:
    """Count one fetch (an ``IngestReport`` from ``pipeline.fetch_step``); returns its outcome label."""
    if report.status != "ok":
        outcome, result = report.error_kind or "error", "error"
    elif report.not_modified or not modified:
        outcome = result = "not_modified"
    else:
        outcome = result = "modified"
    m = _get()
    m.fetches.labels(outcome).inc()
    m.fetch_duration.labels(result).observe(max(float(report.duration_s or 0.0), 0.0))
    return outcome


def record_batch(report: Any, skip_kinds: dict[str, int] | None = None) -> str:
    """Count one processed body (an ``IngestReport`` from ``pipeline.process_body``); returns its outcome."""
    if report.status != "ok":
        outcome = report.error_kind or "error"
    elif report.not_modified:
        outcome = "unchanged"
    else:
        outcome = "stored"
    m = _get()
    m.batches.labels(outcome).inc()
    m.batch_duration.observe(max(float(report.duration_s or 0.0), 0.0))
    parser = getattr(report, "parser", None)
    if parser in ("lxml", "feedparser", "jsonfeed"):
        m.parsed.labels(parser).inc()
    for fate, n in fates(report).items():
        if n > 0:
            m.entries.labels(fate).inc(n)
    kinds = skip_kinds if skip_kinds is not None else getattr(report, "skip_kinds", None)
    if kinds:
        for reason, n in kinds.items():
            m.skipped.labels(skip_label(reason)).inc(n)
    elif report.skipped:
        m.skipped.labels("unknown").inc(report.skipped)
    return outcome


_PAGE_OUTCOMES = ("fetched", "extracted", "kept", "refused", "failed")
_MAX_REASON_LABELS = 40  # page failure kinds are a closed set (fetch kinds, page verdicts): this is a guard


def _reason_label(reason: str | None) -> str:
    label = re.sub(r"[^a-z0-9]+", "_", (reason or "unknown").lower()).strip("_")[:40] or "unknown"
    with _lock:
        if label not in _reason_labels:
            if len(_reason_labels) >= _MAX_REASON_LABELS:
                return "other"
            _reason_labels.add(label)
    return label


def record_page(report: Any) -> str | None:
    """Count one page step (a ``PageReport``); returns its outcome, None for a step that did nothing."""
    outcome = report.outcome
    if outcome not in _PAGE_OUTCOMES:
        return None
    m = _get()
    m.pages.labels(outcome).inc()
    if outcome == "failed":
        m.page_failures.labels(_reason_label(report.reason)).inc()
    m.page_duration.labels(report.step).observe(max(float(report.duration_s or 0.0), 0.0))
    return str(outcome)


# --- scrape-time gauges --------------------------------------------------------------------------

class StateCollector:
    """Gauges read from PostgreSQL and Redis at scrape time (what every worker sees the same)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from worker.ops import status
        from worker.store import ops as ops_store

        up = GaugeMetricFamily("wirefeed_dependency_up", "1 when the dependency answered this scrape",
                               labels=["dependency"])
        try:
            with status.connect_quick(self.settings) as conn:
                feeds = ops_store.feed_counts(conn)
                last = ops_store.last_ingest_epoch(conn)
                pages = ops_store.page_counts(conn)
            up.add_metric(["postgresql"], 1)
            by_state = GaugeMetricFamily("wirefeed_feeds", "Feeds by state: healthy, backing_off "
                                         "(failing, retried with backoff), disabled", labels=["state"])
            by_state.add_metric(["healthy"], feeds.healthy)
            by_state.add_metric(["backing_off"], feeds.backing_off)
            by_state.add_metric(["disabled"], feeds.disabled)
            yield by_state
            yield GaugeMetricFamily("wirefeed_feeds_due", "Enabled feeds whose next fetch time has passed",
                                    value=feeds.due)
            yield GaugeMetricFamily("wirefeed_scheduler_lag_seconds", "How long the most overdue enabled feed "
                                    "has been due (0 when none is due)", value=feeds.scheduler_lag_seconds)
            if pages is not None:
                waiting = GaugeMetricFamily("wirefeed_pages_waiting", "Page requests waiting: pending (for a "
                                            "fetch), fetched (for extraction)", labels=["state"])
                waiting.add_metric(["pending"], pages.pending)
                waiting.add_metric(["fetched"], pages.fetched)
                yield waiting
            if last is not None:
                yield GaugeMetricFamily("wirefeed_last_ingest_timestamp_seconds", "Unix time the newest "
                                        "article was first seen", value=last)
        except Exception as exc:  # a scrape reports what it cannot reach; it does not fail
            up.add_metric(["postgresql"], 0)
            log.warning("metrics_scrape_failed", dependency="postgresql", error=first_line(exc))
        try:
            client = status.redis_client(self.settings)
            try:
                depths = status.queue_depths(client)
                flight = status.in_flight(client)
            finally:
                client.close()
            up.add_metric(["redis"], 1)
            q = GaugeMetricFamily("wirefeed_queue_depth", "Messages waiting in each Celery queue", labels=["queue"])
            for name, n in depths.items():
                q.add_metric([name], n)
            yield q
            yield GaugeMetricFamily("wirefeed_messages_in_flight", "Messages delivered to workers and not yet "
                                    "acknowledged", value=flight)
        except Exception as exc:
            up.add_metric(["redis"], 0)
            log.warning("metrics_scrape_failed", dependency="redis", error=first_line(exc))
        yield up


def scrape_registry(settings: Settings) -> Any:
    """The registry a scrape reads: every process's counters (multiprocess files) plus the state gauges."""
    from prometheus_client import CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    reg = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(reg)
    reg.register(StateCollector(settings))
    return reg


# --- worker lifecycle (called from worker.ops.signals) -----------------------------------------------

class MetricsTooLate(RuntimeError):
    """prometheus_client was imported before the multiprocess directory was set: its values live in memory."""


def prepare_multiproc_dir() -> Path:
    """Give this worker its own, empty multiprocess directory, before prometheus_client is imported.

    prometheus_client reads ``PROMETHEUS_MULTIPROC_DIR`` once, when it is first imported (its documented
    multiprocess set-up); raises :class:`MetricsTooLate` if something imported it earlier."""
    global _created_dir
    import sys

    if "prometheus_client" in sys.modules and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        raise MetricsTooLate("prometheus_client was imported before the metrics directory was set; "
                             "the pool's counters would not be shared")
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for f in path.glob("*.db"):
            f.unlink(missing_ok=True)
    else:
        path = Path(tempfile.mkdtemp(prefix="wirefeed-metrics-"))
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
        _created_dir = path
    return path


def setup_worker(settings: Settings) -> int | None:
    """In a worker's main process, before the pool starts: multiprocess dir, then the HTTP endpoint.
    Returns the port served, or None when metrics are off or the port could not be bound."""
    global _server
    if not settings.metrics_port:
        return None
    try:
        path = prepare_multiproc_dir()
    except MetricsTooLate as exc:
        log.error("metrics_unavailable", error=str(exc))
        return None
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(settings.metrics_port, registry=scrape_registry(settings))
    except OSError as exc:
        log.error("metrics_port_unavailable", port=settings.metrics_port, error=str(exc),
                  hint="give each worker on a host its own WIREFEED_METRICS_PORT")
        return None
    _server = server
    log.info("metrics_serving", port=settings.metrics_port, multiproc_dir=str(path))
    return settings.metrics_port


def child_started() -> None:
    """In a new pool child: forget metric objects inherited from the parent (they belong to its pid)."""
    global _metrics
    with _lock:
        _metrics = None


def child_exited(pid: int | None) -> None:
    """A pool child is gone: drop its live-gauge files (its counters stay: they are totals)."""
    if pid and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def shutdown() -> None:
    """Worker stopping: close the endpoint; remove the multiprocess directory if this process made it."""
    global _server, _created_dir
    if _server is not None:
        _server.shutdown()
        _server = None
    if _created_dir is not None:
        shutil.rmtree(_created_dir, ignore_errors=True)
        _created_dir = None
