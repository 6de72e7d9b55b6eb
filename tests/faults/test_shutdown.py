"""Graceful shutdown: SIGTERM lets the running task finish, hands the waiting messages back, and exits.

Celery's warm shutdown stops consuming, waits for the tasks already running (bounded by the task's hard
time limit, WIREFEED_TASK_TIME_LIMIT_SECONDS, 360 s by default) and, on closing the Redis channel,
restores the messages it had reserved but not started. No beat runs here and claims last 600 s: a feed
whose message was lost could not come back within the test, so every feed landing proves nothing was.
"""

from __future__ import annotations

import signal
import subprocess
import time

import psycopg
import redis
from celery import Celery

from tests.faults.conftest import WIREFEED, fault_env, rss, scalar, wait_until
from tests.session_guard import run_dir


def _enqueue(env: dict[str, str], feed_id: int) -> None:
    r = subprocess.run([str(WIREFEED), "fetch", str(feed_id)], env=env, capture_output=True, text=True,
                       timeout=60, cwd=run_dir())
    assert r.returncode == 0 and "enqueued 1" in r.stdout, r.stdout + r.stderr


def test_sigterm_finishes_the_running_task_and_hands_back_the_rest(env, db_url, conn, redis_url, tmp_path,
                                                                   procs) -> None:
    from worker.store import feeds as feed_store

    sizes = [1000, 20, 20, 20]
    ids = []
    with psycopg.connect(db_url) as c:
        for f, n in enumerate(sizes):
            path = tmp_path / f"feed{f}.xml"
            path.write_bytes(rss(f, n))
            ids.append(feed_store.add_feed(c, "file://" + str(path)).feed_id)
    big, rest = ids[0], ids[1:]
    env = fault_env(env)
    broker = redis.Redis.from_url(redis_url)
    worker = procs["single"](env, concurrency=1)  # one worker's own warm shutdown (its queued fetches too)
    _enqueue(env, big)
    # the big feed's process task has started (its start is counted in PostgreSQL before any work)
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM task_attempts WHERE task = 'process' AND feed_id = %s",
                              (big,)) == 1, timeout=60, interval=0.02)
    # only now the rest, straight to the broker (quicker than the CLI: the big batch is still running): three
    # messages waiting, queued or reserved by the busy worker, beside the running one
    producer = Celery("shutdown-producer", broker=redis_url)
    for feed_id in rest:
        producer.send_task("wirefeed.fetch_feed", args=(feed_id,), queue="fetch")
    wait_until(lambda: broker.llen("fetch") + broker.hlen("unacked") == 4, timeout=30, interval=0.02)
    assert scalar(db_url, "SELECT count(*) FROM article_sightings WHERE feed_id = %s", (big,)) == 0
    worker.p.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    code = worker.p.wait(timeout=120)
    took = time.monotonic() - t0
    assert code == 0, worker.text()[-3000:]
    assert "Warm shutdown" in worker.text()
    # the running task finished before the worker left: the big feed is complete
    assert scalar(db_url, "SELECT count(*) FROM article_sightings WHERE feed_id = %s", (big,)) == sizes[0]
    # the rest were handed back: unstarted, each message waiting in its queue for the next worker at once
    # (none left unacknowledged, which would hold it until the broker's visibility timeout)
    assert scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NULL") == len(rest)
    assert (broker.llen("fetch"), broker.hlen("unacked")) == (len(rest), 0)
    procs["single"](env, name="second")
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL") == 4,
               timeout=60, interval=0.2)
    total = sum(sizes)
    assert scalar(db_url, "SELECT count(*) FROM article_sightings") == total
    assert scalar(db_url, "SELECT count(*) FROM articles") == total
    assert scalar(db_url, "SELECT count(*) FROM feeds WHERE claimed_until IS NOT NULL") == 0
    print(f"\nshutdown: SIGTERM during a {sizes[0]}-item batch; worker exited 0 after {took:.1f}s with the "
          f"batch complete; {len(rest)} waiting feeds handed back and finished by the next worker; {total} items once")
