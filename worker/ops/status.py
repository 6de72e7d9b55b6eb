"""``wirefeed status``: what the system is doing, from PostgreSQL, Redis and the workers.

The queries here are the single source of the numbers operators see: ``wirefeed status``, ``wirefeed
health`` and the scrape-time gauges of ``worker.ops.metrics`` all call them, so they never disagree.

``--json`` field names are stable (docs/operations.md lists them); new fields may be added.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from worker.settings import Settings

BEAT_HEARTBEAT_KEY = "wirefeed:beat:heartbeat"  # unix time of beat's last tick (see worker.ops.signals)
QUEUES = ("fetch", "process")  # worker.app's FETCH_QUEUE, PROCESS_QUEUE (not imported: no Celery app needed)
CONNECT_TIMEOUT = 3  # seconds: status, health and scrapes answer quickly even when a service is down


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def connect_quick(settings: Settings) -> psycopg.Connection:
    """A short-lived autocommit connection with a short connect and statement timeout."""
    return psycopg.connect(settings.database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                           options="-c statement_timeout=5000", application_name="wirefeed-status")


def redis_client(settings: Settings) -> Any:  # a redis.Redis
    import redis

    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=CONNECT_TIMEOUT,
                                socket_timeout=CONNECT_TIMEOUT)


# --- PostgreSQL ----------------------------------------------------------------------------------

def feed_counts(conn: psycopg.Connection) -> dict[str, Any]:
    """Feeds by state, how many are due, and the scheduler lag (seconds the most overdue enabled feed waits).

    healthy: enabled, last attempt succeeded; backing_off: enabled, failing (error_count > 0, retried
    later with backoff); disabled: stopped, with a reason.
    """
    row = conn.execute(
        """SELECT count(*),
                  count(*) FILTER (WHERE disabled_at IS NULL AND error_count = 0),
                  count(*) FILTER (WHERE disabled_at IS NULL AND error_count > 0),
                  count(*) FILTER (WHERE disabled_at IS NOT NULL),
                  count(*) FILTER (WHERE disabled_at IS NULL AND next_fetch_at <= now()),
                  coalesce(extract(epoch FROM now() - min(next_fetch_at) FILTER (
                      WHERE disabled_at IS NULL AND next_fetch_at <= now())), 0)
           FROM feeds"""
    ).fetchone()
    assert row is not None
    total, healthy, backing_off, disabled, due, lag = row
    return {
        "total": int(total), "enabled": int(healthy) + int(backing_off), "healthy": int(healthy),
        "backing_off": int(backing_off), "disabled": int(disabled), "due": int(due),
        "in_error": int(backing_off) + int(disabled), "scheduler_lag_seconds": round(float(lag), 1),
    }


def top_errors(conn: psycopg.Connection, limit: int = 5) -> list[dict[str, Any]]:
    """The commonest reasons feeds are failing or disabled: kind, how many feeds, one example message."""
    rows = conn.execute(
        """SELECT coalesce(last_error_kind, CASE WHEN disabled_at IS NOT NULL THEN 'disabled' END, 'error'),
                  count(*),
                  (array_agg(coalesce(last_error, disabled_reason) ORDER BY last_error_at DESC NULLS LAST))[1]
           FROM feeds WHERE error_count > 0 OR disabled_at IS NOT NULL
           GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT %s""",
        (limit,),
    ).fetchall()
    return [{"kind": k, "feeds": int(n), "example": ex} for k, n, ex in rows]


def article_counts(conn: psycopg.Connection) -> dict[str, Any]:
    row = conn.execute(
        """SELECT (SELECT count(*) FROM articles),
                  (SELECT count(*) FROM articles WHERE first_seen_at > now() - interval '1 hour'),
                  (SELECT count(*) FROM articles WHERE first_seen_at > now() - interval '1 day'),
                  (SELECT max(first_seen_at) FROM articles)"""
    ).fetchone()
    assert row is not None
    return {"total": int(row[0]), "last_hour": int(row[1]), "last_day": int(row[2]),
            "last_ingest_at": row[3].astimezone(UTC).isoformat() if row[3] else None}


def _database(settings: Settings) -> dict[str, Any]:
    from worker.store.migrate import pending

    with connect_quick(settings) as conn:
        missing = pending(conn)
        doc: dict[str, Any] = {"pending_migrations": [f"{m.version:04d}_{m.name}" for m in missing]}
        if missing:
            has_feeds = conn.execute("SELECT to_regclass('feeds') IS NOT NULL").fetchone()
            if not (has_feeds and has_feeds[0]):
                return doc  # no schema at all: nothing to count
        doc["feeds"] = feed_counts(conn)
        doc["feeds"]["top_errors"] = top_errors(conn)
        doc["articles"] = article_counts(conn)
    return doc


# --- Redis and the workers -----------------------------------------------------------------------

def queue_depths(client: Any) -> dict[str, int]:
    """Messages waiting in each queue (all priority levels), from the broker."""
    # kombu's Redis transport keeps a queue in one list per priority step: the queue's own name for step 0,
    # "<queue><sep><step>" for the others; sep and priority_steps are its documented transport options, which
    # worker.app leaves at their defaults.
    from kombu.transport.redis import Channel

    pipe = client.pipeline()
    for q in QUEUES:
        for step in Channel.priority_steps:
            pipe.llen(f"{q}{Channel.sep}{step}" if step else q)
    counts = pipe.execute()
    per = len(Channel.priority_steps)
    return {q: int(sum(counts[i * per:(i + 1) * per])) for i, q in enumerate(QUEUES)}


def in_flight(client: Any) -> int:
    """Messages delivered to a worker and not yet acknowledged (tasks running or prefetched)."""
    return int(client.hlen("unacked"))


def beat_heartbeat(client: Any) -> float | None:
    """Unix time of beat's last tick, or None when beat never wrote one (or Redis was flushed since)."""
    raw = client.get(BEAT_HEARTBEAT_KEY)
    return float(raw) if raw is not None else None


def write_beat_heartbeat(client: Any, when: float | None = None) -> None:
    client.set(BEAT_HEARTBEAT_KEY, repr(when if when is not None else time.time()), ex=7 * 86400)


def ping_workers(timeout: float = 1.0) -> list[str]:
    """Names of the workers answering a Celery ping within ``timeout`` seconds."""
    from worker.app import app

    replies = app.control.ping(timeout=timeout) or []
    return sorted(name for reply in replies for name in reply)


def _broker(settings: Settings, *, ping_timeout: float) -> dict[str, Any]:
    client = redis_client(settings)
    try:
        client.ping()
        doc: dict[str, Any] = {"queues": queue_depths(client), "in_flight": in_flight(client)}
        beat = beat_heartbeat(client)
    finally:
        client.close()
    doc["beat"] = {
        "last_heartbeat_at": datetime.fromtimestamp(beat, UTC).isoformat() if beat else None,
        "age_seconds": round(time.time() - beat, 1) if beat else None,
    }
    names = ping_workers(ping_timeout)
    doc["workers"] = {"alive": len(names), "names": names}
    return doc


def collect_status(settings: Settings, *, ping_timeout: float = 1.0) -> dict[str, Any]:
    """Everything ``wirefeed status`` shows. What cannot be reached is reported, never raised."""
    doc: dict[str, Any] = {"time": datetime.now(UTC).isoformat(), "database": "ok", "broker": "ok",
                           "problems": []}
    try:
        doc.update(_database(settings))
        if doc["pending_migrations"]:
            doc["problems"].append(f"PostgreSQL: schema not current, pending {', '.join(doc['pending_migrations'])}"
                                   " (run `wirefeed migrate`)")
    except Exception as exc:  # a status command reports what it cannot reach; it does not crash
        doc["database"] = "unreachable"
        doc["problems"].append(f"PostgreSQL: {_first_line(exc)}")
    try:
        doc.update(_broker(settings, ping_timeout=ping_timeout))
        if not doc["workers"]["alive"]:
            doc["problems"].append("no worker answered a ping")
    except Exception as exc:
        doc["broker"] = "unreachable"
        doc["problems"].append(f"Redis: {_first_line(exc)}")
    return doc


# --- rendering -----------------------------------------------------------------------------------

def _age(iso: str | None) -> str:
    from worker.cli.console import _ago

    return f"{iso[:19].replace('T', ' ')} UTC ({_ago(datetime.fromisoformat(iso))})" if iso else "never"


def _span(secs: float) -> str:
    from worker.cli.console import _span as span

    return span(secs)


def render_status(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    c = Console()
    ok = "[green]ok[/green]"
    t = Table(title="wirefeed status", show_header=False, title_justify="left")
    t.add_column("what", style="bold")
    t.add_column("value", overflow="fold")
    t.add_row("database", ok if doc["database"] == "ok" else "[red]unreachable[/red]")
    t.add_row("broker", ok if doc["broker"] == "ok" else "[red]unreachable[/red]")
    if "workers" in doc:
        w = doc["workers"]
        style = "green" if w["alive"] else "red"
        t.add_row("workers alive", f"[{style}]{w['alive']}[/{style}] {', '.join(w['names'])}")
        t.add_row("queues", ", ".join(f"{q}: {n} waiting" for q, n in doc["queues"].items())
                  + f"; {doc['in_flight']} in flight")
        b = doc["beat"]
        t.add_row("beat", f"last tick {_span(b['age_seconds'])} ago" if b["age_seconds"] is not None
                  else "[yellow]no heartbeat[/yellow]")
    if "feeds" in doc:
        f = doc["feeds"]
        t.add_row("feeds", f"{f['total']} total: [green]{f['healthy']} healthy[/green], "
                           f"[yellow]{f['backing_off']} backing off[/yellow], [red]{f['disabled']} disabled[/red]")
        t.add_row("due now", f"{f['due']} (most overdue waits {_span(f['scheduler_lag_seconds'])})")
        a = doc["articles"]
        t.add_row("articles", f"{a['total']} total, {a['last_hour']} in the last hour, {a['last_day']} in the last day")
        t.add_row("last ingest", _age(a["last_ingest_at"]))
    for p in doc["problems"]:
        t.add_row("[red]problem[/red]", p)
    c.print(t)
    if doc.get("feeds", {}).get("top_errors"):
        e = Table(title="top error reasons", title_justify="left")
        e.add_column("kind")
        e.add_column("feeds", justify="right")
        e.add_column("example", overflow="fold")
        for row in doc["feeds"]["top_errors"]:
            e.add_row(row["kind"], str(row["feeds"]), row["example"] or "")
        c.print(e)
