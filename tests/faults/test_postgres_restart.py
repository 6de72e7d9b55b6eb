"""PostgreSQL restarts during ingestion: in-flight tasks fail, retry with backoff, and every item lands.

The restart is real (fast shutdown: every connection is terminated, in-flight transactions roll back), and
it hits a throwaway cluster this test creates for itself (:mod:`tests.pgcluster`), never a server anyone
else uses. Redis is this session's own database, as everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests import pgcluster
from tests.conftest import free_port
from tests.faults.conftest import (
    assert_exactly_once,
    enqueue_all,
    fault_env,
    make_feeds,
    scalar,
    try_scalar,
    wait_until,
)


@pytest.fixture()
def cluster() -> Iterator[pgcluster.Cluster]:
    why = pgcluster.unavailable()
    if why:
        pytest.skip(f"no throwaway PostgreSQL cluster: {why}")
    c = pgcluster.Cluster.start(free_port())
    try:
        yield c
    finally:
        c.remove()


def test_postgres_restart_mid_ingestion_loses_nothing(env, cluster, tmp_path, procs) -> None:
    from worker.migrations import migrate
    from worker.store.db import connect

    db_url = cluster.url
    with connect(db_url) as conn:
        migrate(conn)
    feeds = make_feeds(db_url, tmp_path / "feeds", count=12, items=250)
    env = fault_env(env, DATABASE_URL=db_url, WIREFEED_CLAIM_TIMEOUT_SECONDS="120")
    worker = procs["worker"](env)
    enqueue_all(env)
    wait_until(lambda: 0 < scalar(db_url, "SELECT count(*) FROM article_sightings") < feeds.expected // 2,
               timeout=60, interval=0.02)
    before = scalar(db_url, "SELECT count(*) FROM article_sightings")
    t0 = time.monotonic()
    cluster.restart()
    down_for = time.monotonic() - t0
    wait_until(cluster.is_up, timeout=60, interval=0.2)
    wait_until(lambda: try_scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL") == 12,
               timeout=180, interval=0.5)
    recovered = time.monotonic() - t0
    c = assert_exactly_once(db_url, feeds)
    log = worker.text()
    # the restart really hit running tasks, and they were retried rather than lost
    assert "task_failed" in log and '"kind": "database"' in log, log[-3000:]
    print(f"\npg restart: restarted at {before}/{feeds.expected} items (restart took {down_for:.1f}s); "
          f"all {c['articles']} stored once {recovered:.1f}s after the restart began; "
          f"{log.count('task_failed')} task failures retried")
