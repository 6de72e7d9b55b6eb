"""SIGKILL mid-batch: every item is stored exactly once after the worker comes back.

Two ways a worker dies, two recovery paths:
- a pool child is killed (OOM killer, segfault): ``task_reject_on_worker_lost`` hands its message back
  to the queue at once and another child runs it;
- the whole worker is killed (machine lost): its unacked messages sit in Redis until kombu's restore sweep
  (visibility timeout 900 s), so the feeds come back through PostgreSQL instead: the scheduler re-claims
  every feed whose claim expired (``WIREFEED_CLAIM_TIMEOUT_SECONDS``, lowered to 4 s here) and was not
  finished. The test does not lower the visibility timeout: it proves the PostgreSQL path alone suffices.
"""

from __future__ import annotations

import os
import signal
import time

from tests.faults.conftest import (
    assert_exactly_once,
    enqueue_all,
    fault_env,
    make_feeds,
    scalar,
    wait_until,
)

IN_TX = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
         "AND application_name = 'wirefeed-worker' AND state IN ('active', 'idle in transaction') "
         "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()")


def _mid_batch(db_url: str, total: int) -> bool:
    """Some articles stored, not all, and a worker connection inside a transaction right now."""
    n = scalar(db_url, "SELECT count(*) FROM article_sightings")
    return 0 < n < total and scalar(db_url, IN_TX) > 0


def test_killed_pool_children_are_requeued_and_items_land_once(env, db_url, conn, tmp_path, procs) -> None:
    feeds = make_feeds(db_url, tmp_path / "feeds", count=10, items=300)
    env = fault_env(env)
    worker = procs["worker"](env)
    enqueue_all(env)
    wait_until(lambda: _mid_batch(db_url, feeds.expected), timeout=60, interval=0.02)
    before = scalar(db_url, "SELECT count(*) FROM article_sightings")
    children = worker.children()
    assert children, "no pool children to kill"
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL") == 10,
               timeout=120, interval=0.2)
    recovered = time.monotonic() - killed_at
    c = assert_exactly_once(db_url, feeds)
    log = worker.text()
    assert "WorkerLostError" in log or "exited prematurely" in log, log[-2000:]  # it really died mid-task
    print(f"\nchild kill: {len(children)} children killed at {before}/{feeds.expected} items; "
          f"all {c['articles']} stored once, {recovered:.1f}s after the kill")


def test_whole_worker_killed_feeds_come_back_through_claim_expiry(env, db_url, conn, tmp_path, procs) -> None:
    feeds = make_feeds(db_url, tmp_path / "feeds", count=10, items=300)
    env = fault_env(env, WIREFEED_CLAIM_TIMEOUT_SECONDS="4", WIREFEED_SCHEDULE_EVERY_SECONDS="1")
    first = procs["worker"](env, name="first")
    enqueue_all(env)
    wait_until(lambda: _mid_batch(db_url, feeds.expected), timeout=60, interval=0.02)
    before = scalar(db_url, "SELECT count(*) FROM article_sightings")
    first.kill_group()  # worker and children, SIGKILL: nothing acked, nothing handed back
    killed_at = time.monotonic()
    unfinished = scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NULL")
    assert unfinished > 0
    procs["worker"](env, name="second")
    procs["beat"](env)
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL") == 10,
               timeout=120, interval=0.2)
    recovered = time.monotonic() - killed_at
    c = assert_exactly_once(db_url, feeds)
    print(f"\nworker kill: killed at {before}/{feeds.expected} items with {unfinished} feeds unfinished; "
          f"all {c['articles']} stored once, {recovered:.1f}s after the kill (claim timeout 4 s)")
