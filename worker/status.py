"""``wirefeed status``: what the system is doing, from PostgreSQL, Redis and the workers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from worker.settings import Settings


def _db_status(settings: Settings) -> dict[str, Any]:
    from worker.db import connect

    with connect(settings.database_url) as conn:
        row = conn.execute(
            """SELECT
                 count(*) FILTER (WHERE disabled_at IS NULL),
                 count(*) FILTER (WHERE disabled_at IS NULL AND next_fetch_at <= now()),
                 count(*) FILTER (WHERE disabled_at IS NULL AND error_count > 0),
                 count(*) FILTER (WHERE disabled_at IS NOT NULL),
                 extract(epoch FROM now() - min(next_fetch_at) FILTER (
                     WHERE disabled_at IS NULL AND next_fetch_at <= now()))
               FROM feeds"""
        ).fetchone()
        art = conn.execute(
            """SELECT count(*),
                      count(*) FILTER (WHERE first_seen_at > now() - interval '1 hour'),
                      count(*) FILTER (WHERE first_seen_at > now() - interval '1 day'),
                      max(first_seen_at)
               FROM articles"""
        ).fetchone()
        errors = conn.execute(
            """SELECT coalesce(last_error_kind, 'error'), count(*) FROM feeds
               WHERE error_count > 0 OR disabled_at IS NOT NULL
               GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5"""
        ).fetchall()
    assert row is not None and art is not None
    return {
        "feeds": {"enabled": row[0], "due": row[1], "in_error": row[2], "disabled": row[3],
                  "scheduler_lag_seconds": round(float(row[4]), 1) if row[4] is not None else 0.0,
                  "top_errors": [{"kind": k, "feeds": n} for k, n in errors]},
        "articles": {"total": art[0], "last_hour": art[1], "last_day": art[2],
                     "last_ingest_at": art[3].isoformat() if art[3] else None},
    }


def _broker_status(settings: Settings) -> dict[str, Any]:
    import redis

    from worker.app import FETCH_QUEUE, PROCESS_QUEUE, app

    r = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    queues = {q: int(r.llen(q)) for q in (FETCH_QUEUE, PROCESS_QUEUE)}
    replies = app.control.ping(timeout=1.0) or []
    workers = sorted(name for reply in replies for name in reply)
    return {"queues": queues, "workers": {"alive": len(workers), "names": workers}}


def collect_status(settings: Settings) -> dict[str, Any]:
    doc: dict[str, Any] = {"time": datetime.now(UTC).isoformat(), "problems": []}
    try:
        doc.update(_db_status(settings))
        doc["database"] = "ok"
    except Exception as exc:  # a status command reports what it cannot reach; it does not crash
        doc["database"] = "unreachable"
        doc["problems"].append(f"PostgreSQL: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    try:
        doc.update(_broker_status(settings))
        doc["broker"] = "ok"
    except Exception as exc:
        doc["broker"] = "unreachable"
        doc["problems"].append(f"Redis: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    return doc


def render_status(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console()
    t = Table(title="wirefeed status", show_header=False)
    t.add_column("what")
    t.add_column("value")
    t.add_row("database", doc.get("database", "?"))
    t.add_row("broker", doc.get("broker", "?"))
    if "workers" in doc:
        t.add_row("workers alive", f"{doc['workers']['alive']} {', '.join(doc['workers']['names'])}")
        t.add_row("queues", ", ".join(f"{q}: {n}" for q, n in doc["queues"].items()))
    if "feeds" in doc:
        f = doc["feeds"]
        t.add_row("feeds", f"{f['enabled']} enabled, {f['due']} due, {f['in_error']} in error, "
                           f"{f['disabled']} disabled")
        t.add_row("scheduler lag", f"{f['scheduler_lag_seconds']} s")
        if f["top_errors"]:
            t.add_row("top errors", ", ".join(f"{e['kind']} ({e['feeds']})" for e in f["top_errors"]))
        a = doc["articles"]
        t.add_row("articles", f"{a['total']} total, {a['last_hour']} last hour, {a['last_day']} last day")
        t.add_row("last ingest", a["last_ingest_at"] or "never")
    for p in doc["problems"]:
        t.add_row("[red]problem[/red]", p)
    c.print(t)
