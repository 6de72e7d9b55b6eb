"""A real Celery soft time limit on a real worker: the pool child gets SoftTimeLimitExceeded in the middle of
a batch, the task boundary retries it like any unexpected failure, and after WIREFEED_POISON_ATTEMPTS the feed
is recorded as poison (kind ``internal``) with nothing half-stored, while the other feeds land.

(tests/faults/test_time_limits.py raises the same exception from a signal in-process, to show parsing and
normalisation let it through; this is the whole path, from billiard's timer to the feed row.)
"""

from __future__ import annotations

import json

import psycopg

from tests.faults.conftest import enqueue_all, fault_env, make_feeds, rss, scalar, wait_until


def test_soft_time_limit_is_retried_then_recorded_as_poison(env, db_url, conn, tmp_path, procs) -> None:
    from worker.store import feeds as feed_store

    good = make_feeds(db_url, tmp_path / "good", count=3, items=10)
    slow_path = tmp_path / "slow.xml"
    slow_path.write_bytes(rss(97, 3000))  # seconds of processing, far over the 1 s limit; read in a blink
    with psycopg.connect(db_url) as c:
        slow = feed_store.add_feed(c, "file://" + str(slow_path)).feed_id
    # all 3000 items are read (the default entry cap would keep 1000): seconds of work against the 1 s limit
    env = fault_env(env, WIREFEED_TASK_SOFT_TIME_LIMIT_SECONDS="1", WIREFEED_TASK_TIME_LIMIT_SECONDS="60",
                    WIREFEED_POISON_ATTEMPTS="2", WIREFEED_MAX_ENTRIES_PER_FEED="10000")
    worker = procs["worker"](env)
    enqueue_all(env)
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM feeds WHERE error_count > 0") == 1, timeout=120,
               interval=0.3)
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL") == 3,
               timeout=60, interval=0.3)

    with psycopg.connect(db_url) as c:
        kind, message, errors, claimed = c.execute(
            "SELECT last_error_kind, last_error, error_count, claimed_until FROM feeds WHERE id = %s",
            (slow,)).fetchone()
        attempts = c.execute("SELECT count(*) FROM task_attempts WHERE feed_id = %s", (slow,)).fetchone()[0]
    assert (kind, errors, claimed, attempts) == ("internal", 1, None, 0)
    assert "internal error after 2 attempts" in message and "SoftTimeLimitExceeded" in message, message
    assert scalar(db_url, "SELECT count(*) FROM article_sightings WHERE feed_id = %s", (slow,)) == 0  # none stored
    assert scalar(db_url, "SELECT count(*) FROM article_sightings") == good.expected  # the others all landed

    events = [json.loads(line) for line in worker.text().splitlines() if line.startswith("{")]
    failed = [(e["attempt"], e["kind"], e["action"]) for e in events
              if e.get("event") == "task_failed" and e.get("feed_id") == slow and e.get("task") == "process"]
    assert failed == [(1, "internal", "retry"), (2, "internal", "poison")], failed  # the retry, then poison
