"""Graceful shutdown: SIGTERM lets the running task finish, hands the waiting messages back, and exits.

Celery's warm shutdown stops consuming, waits for the tasks already running (bounded by the task's hard
time limit, WIREFEED_TASK_TIME_LIMIT_SECONDS, 360 s by default) and, on closing the Redis channel,
restores the messages it had reserved but not started. No beat runs here and claims last 600 s: a feed
whose message was lost could not come back within the test, so every feed landing proves nothing was.
"""

from __future__ import annotations

import signal
import time

import psycopg

from tests.faults.conftest import enqueue_all, fault_env, rss, scalar, wait_until


def test_sigterm_finishes_the_running_task_and_hands_back_the_rest(env, db_url, conn, tmp_path, procs) -> None:
    from worker.store import feeds as feed_store

    sizes = [1000, 20, 20, 20]
    ids = []
    with psycopg.connect(db_url) as c:
        for f, n in enumerate(sizes):
            path = tmp_path / f"feed{f}.xml"
            path.write_bytes(rss(f, n))
            ids.append(feed_store.add_feed(c, "file://" + str(path)).feed_id)
    big = ids[0]
    env = fault_env(env)
    worker = procs["worker"](env, concurrency=1)
    enqueue_all(env)
    # the big feed's process task has started (its start is counted in PostgreSQL before any work)
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM task_attempts WHERE task = 'process' AND feed_id = %s",
                              (big,)) == 1, timeout=60, interval=0.02)
    assert scalar(db_url, "SELECT count(*) FROM article_sightings WHERE feed_id = %s", (big,)) == 0
    worker.p.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    code = worker.p.wait(timeout=120)
    took = time.monotonic() - t0
    assert code == 0, worker.text()[-3000:]
    assert "Warm shutdown" in worker.text()
    # the running task finished before the worker left: the big feed is complete
    assert scalar(db_url, "SELECT count(*) FROM article_sightings WHERE feed_id = %s", (big,)) == sizes[0]
    left = scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NULL")
    # the rest were handed back to Redis, not lost: a new worker finishes them (no beat, 600 s claims)
    procs["worker"](env, name="second")
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL") == 4,
               timeout=60, interval=0.2)
    total = sum(sizes)
    assert scalar(db_url, "SELECT count(*) FROM article_sightings") == total
    assert scalar(db_url, "SELECT count(*) FROM articles") == total
    assert scalar(db_url, "SELECT count(*) FROM feeds WHERE claimed_until IS NOT NULL") == 0
    print(f"\nshutdown: SIGTERM during a {sizes[0]}-item batch; worker exited 0 after {took:.1f}s with the "
          f"batch complete; {left} feed(s) handed back and finished by the next worker; {total} items once")
