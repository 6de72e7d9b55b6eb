"""Poison among good feeds: the good ones land, each poison one is recorded and stops being retried.

No test hook exists in production code; two genuine failure paths are driven from outside:

1. A crash loop: a real feed too expensive to process within the task's hard time limit, which this test
   lowers (WIREFEED_TASK_TIME_LIMIT_SECONDS=3, and no soft limit, so each delivery meets the kill; a soft
   limit's exception takes the same path as case 2). Each delivery the pool child is killed; Celery acks
   the message as failed and never retries it, and the scheduler re-sends the feed when its claim expires.
   Only the start counter in PostgreSQL (task_attempts) sees the loop: on the 4th start (> 3 attempts) the
   task records the failure instead of running.
2. An exception: a process_feed message whose body is not what a producer of this version sends (not
   base64/zlib), sent straight to the broker. ``unpack_body`` raises on every delivery: retried with backoff
   (Celery retries), and on the 3rd failure recorded as poison.

Both end the same way: kind "internal" on the feed and in its fetch history, next fetch after a backoff,
message acked, nothing stored for it, and nothing retried afterwards.
"""

from __future__ import annotations

import time

import psycopg
from celery import Celery

from tests.faults.conftest import fault_env, make_feeds, rss, scalar, wait_until

FEED_STATE = """SELECT last_error_kind, last_error, error_count, claimed_until,
                       extract(epoch FROM next_fetch_at - now()), last_success_at, disabled_at
                FROM feeds WHERE id = %s"""


def _state(db_url: str, feed_id: int) -> tuple:
    with psycopg.connect(db_url) as c:
        feed = c.execute(FEED_STATE, (feed_id,)).fetchone()
        history = [(h[0], h[1]) for h in c.execute(
            "SELECT outcome, error_kind FROM feed_fetches WHERE feed_id = %s", (feed_id,))]
        attempts = c.execute("SELECT count(*) FROM task_attempts WHERE feed_id = %s", (feed_id,)).fetchone()[0]
        stored = c.execute("SELECT count(*) FROM article_sightings WHERE feed_id = %s", (feed_id,)).fetchone()[0]
    return feed, history, attempts, stored


def _assert_poisoned(db_url: str, feed_id: int, needle: str) -> str:
    feed, history, attempts, stored = _state(db_url, feed_id)
    kind, message, errors, claimed, next_in, success, disabled = feed
    assert kind == "internal" and errors == 1, feed
    assert needle in message, message
    assert claimed is None and success is None and disabled is None, feed
    assert next_in > 30, feed  # scheduled after a backoff, not at once
    assert ("error", "internal") in history, history  # in the fetch history too
    assert attempts == 0  # the run of attempts is closed
    assert stored == 0  # nothing half-stored
    return message


def test_poison_feeds_are_recorded_and_stop_while_good_feeds_land(env, db_url, conn, redis_url, tmp_path,
                                                                  procs) -> None:
    from worker.store import feeds as feed_store

    good = make_feeds(db_url, tmp_path / "good", count=5, items=20)
    slow_path = tmp_path / "slow.xml"
    slow_path.write_bytes(rss(99, 8000, words=80))
    corrupt_path = tmp_path / "corrupt.xml"
    corrupt_path.write_bytes(rss(98, 5))
    with psycopg.connect(db_url) as c:
        slow_id = feed_store.add_feed(c, "file://" + str(slow_path)).feed_id
        corrupt_id = feed_store.add_feed(c, "file://" + str(corrupt_path)).feed_id
        c.execute("UPDATE feeds SET next_fetch_at = now() + interval '1 day' WHERE id = %s", (corrupt_id,))
    # every one of the slow feed's 8000 items is read: at the default entry cap (1000) its batch ends in about
    # 3 s, at the hard limit itself, and the crash loop would depend on the machine's speed
    env = fault_env(env, WIREFEED_TASK_SOFT_TIME_LIMIT_SECONDS="0", WIREFEED_TASK_TIME_LIMIT_SECONDS="3",
                    WIREFEED_POISON_ATTEMPTS="3", WIREFEED_CLAIM_TIMEOUT_SECONDS="4",
                    WIREFEED_SCHEDULE_EVERY_SECONDS="1", WIREFEED_MAX_ENTRIES_PER_FEED="10000")
    worker = procs["worker"](env)
    procs["beat"](env)
    producer = Celery("fault-producer", broker=redis_url)
    producer.send_task("wirefeed.process_feed", args=(corrupt_id, "this is not a packed body"),
                       kwargs={"url": "file://" + str(corrupt_path)}, queue="process")
    t0 = time.monotonic()
    done_sql = "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL"
    wait_until(lambda: scalar(db_url, done_sql) == 5, timeout=60)
    good_at = time.monotonic() - t0
    assert scalar(db_url, "SELECT count(*) FROM article_sightings") == good.expected  # the good ones all land
    errors_sql = "SELECT count(*) FROM feeds WHERE error_count >= 1"
    wait_until(lambda: scalar(db_url, errors_sql) == 2, timeout=120, interval=0.3)
    poisoned_at = time.monotonic() - t0
    slow_msg = _assert_poisoned(db_url, slow_id, "never finished")
    corrupt_msg = _assert_poisoned(db_url, corrupt_id, "after 3 attempts")
    # ... and they stay stopped: several claim timeouts and scheduler ticks later nothing touched them
    events = worker.text().count("task_poison") + worker.text().count("task_failed")
    time.sleep(10)
    for feed_id in (slow_id, corrupt_id):
        assert scalar(db_url, "SELECT error_count FROM feeds WHERE id = %s", (feed_id,)) == 1
        assert scalar(db_url, "SELECT count(*) FROM task_attempts WHERE feed_id = %s", (feed_id,)) == 0
    assert worker.text().count("task_poison") + worker.text().count("task_failed") == events
    assert scalar(db_url, "SELECT count(*) FROM article_sightings") == good.expected
    print(f"\npoison: 5 good feeds ({good.expected} items) done in {good_at:.1f}s; both poison feeds recorded "
          f"within {poisoned_at:.1f}s:\n  crash loop: {slow_msg!r}\n  exception: {corrupt_msg!r}")
