"""What a task tells operators when it finishes: one log event and the metrics, per fetch and per batch.

Called by ``worker.tasks.base`` with the ``IngestReport`` the pipeline returned. ``task_id`` and ``feed_id``
are already bound in the log context by the base task. Bookkeeping never fails a task.
"""

from __future__ import annotations

from typing import Any

from worker.ops import metrics
from worker.ops.logs import get_logger

log = get_logger("wirefeed.tasks")


def _metric_safe(fn: Any, *args: Any, **kwargs: Any) -> str | None:
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # pragma: no cover - a metrics bug must not lose a batch
        log.error("metrics_record_failed", error=f"{type(exc).__name__}: {exc}")
        return None


def fetch_done(report: Any, *, modified: bool) -> None:
    """One event per fetch: outcome (modified / not_modified / error kind), duration, error reason."""
    outcome = _metric_safe(metrics.record_fetch, report, modified=modified)
    fields: dict[str, Any] = {"feed_id": report.feed_id, "outcome": outcome, "duration_s": report.duration_s}
    if report.status != "ok":
        log.warning("fetch", **fields, error_kind=report.error_kind, error=report.error)
    else:
        log.info("fetch", **fields)


def batch_done(report: Any) -> None:
    """One event per processed body: outcome (stored / unchanged / error kind), counts, duration."""
    outcome = _metric_safe(metrics.record_batch, report)
    fields: dict[str, Any] = {
        "feed_id": report.feed_id, "outcome": outcome, "entries": report.entries,
        "new_articles": report.new_articles, "near_duplicates": report.near_duplicates,
        "duplicates": report.duplicates, "updated": report.updated, "skipped": report.skipped,
        "duration_s": report.duration_s, "parser": getattr(report, "parser", None),
    }
    if report.status != "ok":
        log.warning("batch", **fields, error_kind=report.error_kind, error=report.error)
    else:
        log.info("batch", **fields)


def page_done(report: Any) -> None:
    """One event per page step: outcome (fetched / extracted / kept / refused / failed), reason, duration."""
    outcome = _metric_safe(metrics.record_page, report)
    fields: dict[str, Any] = {"article_id": report.article_id, "outcome": outcome or report.outcome,
                              "reason": report.reason, "http_status": report.http_status,
                              "duration_s": report.duration_s, "story": report.story_action}
    if report.outcome == "failed":
        log.warning("page", **fields, detail=report.detail)
    else:
        log.info("page", **fields, detail=report.detail)
