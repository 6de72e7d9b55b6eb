"""``wirefeed status``: what the system is doing, from PostgreSQL, Redis and the workers.

The numbers come from ``worker.store.ops``, which ``wirefeed health`` and the scrape-time gauges of
``worker.ops.metrics`` read too, so the three never disagree.

``--json`` field names are stable (docs/operations.md lists them); new fields may be added.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import psycopg

from worker.queues import ALL as QUEUES
from worker.redaction import first_line
from worker.settings import Settings
from worker.store import ops as ops_store

BEAT_HEARTBEAT_KEY = "wirefeed:beat:heartbeat"  # unix time of beat's last tick (see worker.ops.signals)
CONNECT_TIMEOUT = 3  # seconds: status, health and scrapes answer quickly even when a service is down


def connect_quick(settings: Settings) -> psycopg.Connection:
    """A short-lived autocommit connection with a short connect and statement timeout."""
    return psycopg.connect(settings.database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT,
                           options="-c statement_timeout=5000", application_name="wirefeed-status")


def redis_client(settings: Settings) -> Any:  # a redis.Redis
    import redis

    return redis.Redis.from_url(settings.redis_url, socket_connect_timeout=CONNECT_TIMEOUT,
                                socket_timeout=CONNECT_TIMEOUT)


# --- PostgreSQL ----------------------------------------------------------------------------------

def _database(settings: Settings) -> dict[str, Any]:
    from worker.migrations import pending

    with connect_quick(settings) as conn:
        missing = pending(conn)
        doc: dict[str, Any] = {"pending_migrations": [f"{m.version:04d}_{m.name}" for m in missing]}
        if missing and not ops_store.has_feeds_table(conn):
            return doc  # no schema at all: nothing to count
        doc["feeds"] = asdict(ops_store.feed_counts(conn))
        doc["feeds"]["top_errors"] = [asdict(e) for e in ops_store.top_errors(conn)]
        articles = ops_store.article_counts(conn)
        doc["articles"] = {**asdict(articles), "last_ingest_at": (
            articles.last_ingest_at.astimezone(UTC).isoformat() if articles.last_ingest_at else None)}
        pages = ops_store.page_counts(conn)
        if pages is not None:
            doc["pages"] = asdict(pages)
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
        doc["problems"].append(f"PostgreSQL: {first_line(exc)}")
    try:
        doc.update(_broker(settings, ping_timeout=ping_timeout))
        if not doc["workers"]["alive"]:
            doc["problems"].append("no worker answered a ping")
    except Exception as exc:
        doc["broker"] = "unreachable"
        doc["problems"].append(f"Redis: {first_line(exc)}")
    return doc
