"""`wirefeed status --json` against a database and broker put in a known state."""

from __future__ import annotations

import json
import time

import kombu
import pytest
import redis

from tests.conftest import free_port
from worker.ops import status


@pytest.fixture()
def broker(clean_redis: str):
    client = redis.Redis.from_url(clean_redis)
    yield client
    client.close()


def publish(redis_url: str, queue: str, n: int, priority: int | None = None) -> None:
    """``n`` messages into ``queue`` through kombu, as Celery sends them (kombu picks the Redis list)."""
    with kombu.Connection(redis_url) as connection:
        producer = connection.Producer()
        for i in range(n):
            producer.publish({"n": i}, routing_key=queue, declare=[kombu.Queue(queue)], priority=priority)


def _known_state(conn) -> None:
    conn.execute(
        """INSERT INTO feeds (url, next_fetch_at, error_count, last_error_kind, last_error, last_error_at,
                              disabled_at, disabled_reason) VALUES
           ('https://a.example/ok',      now() + interval '1 hour',     0, NULL, NULL, NULL, NULL, NULL),
           ('https://b.example/due',     now() - interval '10 minutes', 0, NULL, NULL, NULL, NULL, NULL),
           ('https://c.example/slow',    now() + interval '5 minutes',  2, 'timeout', 'c too slow', now(), NULL, NULL),
           ('https://d.example/slow',    now() + interval '5 minutes',  1, 'timeout', 'd too slow',
                                          now() - interval '1 hour', NULL, NULL),
           ('https://e.example/gone',    now() - interval '1 day',      3, 'http_410', 'HTTP 410 Gone', now(),
                                          now(), 'the server says the feed is gone')""")
    conn.execute(
        """INSERT INTO articles (url, title, content_text, published_at, content_hash, first_seen_at) VALUES
           ('https://a.example/1', 't1', 'x', now(), 'h1', now() - interval '5 minutes'),
           ('https://a.example/2', 't2', 'x', now(), 'h2', now() - interval '50 minutes'),
           ('https://a.example/3', 't3', 'x', now(), 'h3', now() - interval '3 hours'),
           ('https://a.example/4', 't4', 'x', now(), 'h4', now() - interval '2 days')""")
    conn.commit()


def test_status_json_matches_a_known_state(cli, conn, broker, clean_redis) -> None:
    _known_state(conn)
    publish(clean_redis, "fetch", 2)
    publish(clean_redis, "fetch", 1, priority=3)  # kombu keeps it in another Redis list: it counts in its queue too
    publish(clean_redis, "process", 1)
    status.write_beat_heartbeat(broker, time.time() - 30)

    r = cli("status", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)

    assert doc["database"] == "ok" and doc["broker"] == "ok"
    assert doc["pending_migrations"] == []
    f = doc["feeds"]
    assert {k: f[k] for k in ("total", "enabled", "healthy", "backing_off", "disabled", "due", "in_error")} == {
        "total": 5, "enabled": 4, "healthy": 2, "backing_off": 2, "disabled": 1, "due": 1, "in_error": 3}
    # the disabled feed is a day overdue but not waiting on the scheduler: lag is the due feed's 10 minutes
    assert 590 <= f["scheduler_lag_seconds"] <= 700
    assert f["top_errors"] == [
        {"kind": "timeout", "feeds": 2, "example": "c too slow"},  # the most recent message of the kind
        {"kind": "http_410", "feeds": 1, "example": "HTTP 410 Gone"},
    ]
    a = doc["articles"]
    assert (a["total"], a["last_hour"], a["last_day"]) == (4, 2, 3)
    newest = conn.execute("SELECT max(first_seen_at) FROM articles").fetchone()[0]
    assert a["last_ingest_at"] == newest.isoformat()
    assert doc["queues"] == {"fetch": 3, "process": 1, "pages": 0}
    assert doc["in_flight"] == 0
    assert 29 <= doc["beat"]["age_seconds"] <= 60
    assert doc["workers"] == {"alive": 0, "names": []}
    assert "no worker answered a ping" in doc["problems"]


def test_status_reports_an_unreachable_broker_without_failing(cli, conn, env) -> None:
    r = cli("status", "--json", env={**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["broker"] == "unreachable" and doc["database"] == "ok"
    assert any(p.startswith("Redis:") for p in doc["problems"])
    assert "queues" not in doc
    assert doc["feeds"]["total"] == 0


def test_status_table_for_a_terminal(cli, conn, broker) -> None:
    _known_state(conn)
    r = cli("status")
    assert r.returncode == 0, r.stderr
    for text in ("workers alive", "2 healthy", "2 backing off", "1 disabled", "timeout", "HTTP 410 Gone",
                 "2 in the last hour"):
        assert text in r.stdout, text


def test_status_on_a_database_without_schema_says_so(cli, env, empty_db_url) -> None:
    r = cli("status", "--json", env={**env, "DATABASE_URL": empty_db_url})
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["database"] == "ok"
    assert doc["pending_migrations"][0] == "0001_core"
    assert "feeds" not in doc
    assert any("wirefeed migrate" in p for p in doc["problems"])
