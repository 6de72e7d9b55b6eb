"""Broker faults: Redis keeps nothing on disk, so its queues can vanish. PostgreSQL holds the schedule:
a feed whose claim expired without a finished fetch is claimed again by the scheduler and sent again.

- queues flushed after enqueueing (the shared Redis: only this session's db number, and only the Celery
  keys; the session lock key stays);
- a private ``redis-server`` (no persistence) killed and restarted while the worker is busy: the worker and
  beat reconnect on their own and every feed lands once.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port
from tests.faults.conftest import assert_exactly_once, enqueue_all, fault_env, make_feeds, scalar, wait_until

CLAIM = 5  # seconds: WIREFEED_CLAIM_TIMEOUT_SECONDS in these tests
TICK = 1  # seconds: WIREFEED_SCHEDULE_EVERY_SECONDS


def _done(db_url: str) -> int:
    return scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL")


def test_flushed_queues_are_recovered_by_the_scheduler(env, db_url, conn, redis_url, tmp_path, procs) -> None:
    feeds = make_feeds(db_url, tmp_path / "feeds", count=8, items=50)
    env = fault_env(env, WIREFEED_CLAIM_TIMEOUT_SECONDS=str(CLAIM), WIREFEED_SCHEDULE_EVERY_SECONDS=str(TICK))
    enqueue_all(env)  # no worker yet: the messages wait in Redis, the feeds are claimed in PostgreSQL
    client = redis.Redis.from_url(redis_url)
    assert client.llen("fetch") == 8
    celery_keys = [k for k in client.keys("*") if not k.startswith(b"wirefeed:test-session-lock")]
    client.delete(*celery_keys)  # what a Redis restart without persistence does to them
    assert client.llen("fetch") == 0
    flushed_at = time.monotonic()
    assert scalar(db_url, "SELECT count(*) FROM feeds WHERE claimed_until > now()") == 8  # claimed, no message
    procs["worker"](env)
    procs["beat"](env)
    wait_until(lambda: _done(db_url) == 8, timeout=90, interval=0.2)
    recovered = time.monotonic() - flushed_at
    c = assert_exactly_once(db_url, feeds)
    # nothing can come back before its claim expires; then one scheduler tick and the work itself
    assert recovered >= CLAIM - 1
    print(f"\nbroker flush: 8 queued fetches deleted; all 8 feeds ({c['articles']} items) stored once "
          f"{recovered:.1f}s after the flush (claim timeout {CLAIM}s, tick {TICK}s, includes worker start)")


class PrivateRedis:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        wait_until(lambda: self._ping(client), timeout=20, interval=0.05)

    @staticmethod
    def _ping(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture()
def private_redis(tmp_path: Path):
    """A Redis of this test's own (set up before, so torn down after, the worker processes)."""
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server binary")
    private = PrivateRedis(tmp_path)
    private.start()
    yield private
    private.kill()


def test_redis_restart_mid_run_workers_reconnect_and_nothing_is_lost(env, db_url, conn, private_redis, tmp_path,
                                                                     procs) -> None:
    feeds = make_feeds(db_url, tmp_path / "feeds", count=10, items=200)
    env = fault_env(env, REDIS_URL=private_redis.url, WIREFEED_CLAIM_TIMEOUT_SECONDS=str(CLAIM),
                    WIREFEED_SCHEDULE_EVERY_SECONDS=str(TICK))
    worker = procs["worker"](env)
    procs["beat"](env)
    wait_until(lambda: 0 < scalar(db_url, "SELECT count(*) FROM article_sightings") < feeds.expected // 2,
               timeout=60, interval=0.02)
    before = scalar(db_url, "SELECT count(*) FROM article_sightings")
    private_redis.kill()  # every queued and unacked message is gone
    killed_at = time.monotonic()
    time.sleep(2)
    private_redis.start()  # empty
    wait_until(lambda: _done(db_url) == 10, timeout=120, interval=0.2)
    recovered = time.monotonic() - killed_at
    c = assert_exactly_once(db_url, feeds)
    log = worker.text()
    assert "Connection to broker lost" in log or "Cannot connect to redis" in log, log[-3000:]
    print(f"\nredis restart: killed at {before}/{feeds.expected} items, down 2s; all {c['articles']} "
          f"stored once {recovered:.1f}s after the kill")
