"""Fault-injection helpers: generated feeds, real worker and beat processes we can kill, counts.

Every test in tests/faults/ is marked ``faults`` (run them alone with ``pytest -m faults``). Feeds are
``file://`` feeds: the fetch step reads them directly, so many feeds are fetched at once without the
per-host politeness gap a single loopback HTTP server would impose; what is under test here is delivery,
not HTTP.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.conftest import wait_for
from tests.session_guard import run_dir

WIREFEED = Path(sys.executable).with_name("wirefeed")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.faults)


# --- generated feeds -------------------------------------------------------------------------------

WORDS = ["harbour", "council", "budget", "river", "festival", "railway", "minister", "drought", "market", "school",
         "hospital", "election", "museum", "bridge", "storm", "vaccine", "tariff", "library", "airport",
         "stadium", "orchestra", "factory", "harvest", "treaty"]


def item_text(feed: int, n: int, words: int = 60) -> str:
    """Distinct prose for item ``n`` of feed ``feed`` (no two items share a text or a near-copy)."""
    import random

    rnd = random.Random(feed * 100_003 + n)
    return " ".join(rnd.choice(WORDS) + str(rnd.randint(0, 99_999)) for _ in range(words))


def rss(feed: int, items: int, *, start: int = 0, words: int = 60, extra_item: str = "") -> bytes:
    parts = [f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>Fault feed {feed}</title>'
             f"<link>https://fault{feed}.example.org/</link><description>generated</description>"]
    for n in range(start, start + items):
        parts.append(
            f"<item><title>Feed {feed} item {n} {item_text(feed, n, 6)}</title>"
            f"<link>https://fault{feed}.example.org/news/{n}</link><guid>fault-{feed}-{n}</guid>"
            f"<pubDate>Mon, 02 Mar 2026 10:{n % 60:02d}:00 +0000</pubDate>"
            f"<description>{item_text(feed, n, words)}</description></item>")
    parts.append(extra_item)
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


@dataclass
class FeedSet:
    dir: Path
    ids: list[int]
    items_per_feed: int

    @property
    def expected(self) -> int:
        return len(self.ids) * self.items_per_feed


def make_feeds(db_url: str, where: Path, count: int, items: int, *, words: int = 60) -> FeedSet:
    """``count`` file:// feeds of ``items`` distinct items each, subscribed (not yet fetched)."""
    from worker.store import feeds as feed_store

    where.mkdir(parents=True, exist_ok=True)
    ids = []
    with psycopg.connect(db_url) as conn:
        for f in range(count):
            path = where / f"feed{f}.xml"
            path.write_bytes(rss(f, items, words=words))
            ids.append(feed_store.add_feed(conn, "file://" + str(path.resolve())).feed_id)
    return FeedSet(where, ids, items)


# --- counting --------------------------------------------------------------------------------------

def scalar(url: str, sql: str, params: tuple = ()) -> int:
    with psycopg.connect(url, connect_timeout=5) as c:
        row = c.execute(sql, params).fetchone()
        return int(row[0]) if row and row[0] is not None else 0


def try_scalar(url: str, sql: str) -> int | None:
    """``scalar`` that answers None while PostgreSQL is restarting."""
    try:
        return scalar(url, sql)
    except psycopg.OperationalError:
        return None


def counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as c:
        row = c.execute(
            """SELECT (SELECT count(*) FROM articles),
                      (SELECT count(DISTINCT url) FROM articles),
                      (SELECT count(DISTINCT content_hash) FROM articles),
                      (SELECT count(*) FROM article_sightings),
                      (SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL),
                      (SELECT count(*) FROM feeds WHERE claimed_until IS NOT NULL),
                      (SELECT count(*) FROM feeds WHERE error_count > 0)""").fetchone()
    keys = ("articles", "distinct_urls", "distinct_hashes", "sightings", "feeds_done", "feeds_claimed",
            "feeds_in_error")
    return dict(zip(keys, (int(v) for v in row), strict=True))


def assert_exactly_once(url: str, feeds: FeedSet) -> dict[str, int]:
    c = counts(url)
    n = feeds.expected
    assert c["sightings"] == n, c  # every item seen once per (feed, guid)
    assert c["articles"] == n, c  # every item stored, none twice
    assert c["distinct_urls"] == n and c["distinct_hashes"] == n, c  # and no two rows for one article
    assert c["feeds_done"] == len(feeds.ids), c
    assert c["feeds_claimed"] == 0, c  # nothing left claimed
    assert c["feeds_in_error"] == 0, c
    return c


# --- processes ---------------------------------------------------------------------------------------

def fault_env(env: dict[str, str], **extra: str) -> dict[str, str]:
    return {**env, "WIREFEED_LOG_LEVEL": "INFO", **extra}


class Proc:
    """A ``wirefeed worker`` / ``wirefeed beat`` in its own process group, its log in a file."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = log.open("ab")
        # a temporary directory of its own beside its log: what a process killed here leaves (billiard's pymp-*)
        # stays with the test's files instead of the session's
        tmp = log.with_suffix(".tmp")
        tmp.mkdir(exist_ok=True)
        self.p = subprocess.Popen([str(WIREFEED), *args], env={**env, "TMPDIR": str(tmp)}, stdout=self._fh,
                                  stderr=subprocess.STDOUT, cwd=run_dir(), start_new_session=True)

    @property
    def pid(self) -> int:
        return self.p.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError(f"process exited with {self.p.returncode}:\n{self.text()[-3000:]}")
            if "ready." in self.text():
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.text()[-3000:]}")

    def children(self) -> list[int]:
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children") as fh:
                return [int(x) for x in fh.read().split()]
        except OSError:
            return []

    def kill_group(self) -> None:
        """SIGKILL the worker and its pool children at once (a machine losing the process)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.p.wait(timeout=30)

    def stop(self, timeout: float = 30) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill_group()
        with contextlib.suppress(ProcessLookupError, PermissionError):  # pool children left behind by a kill
            os.killpg(self.pid, signal.SIGKILL)
        self._fh.close()


@pytest.fixture(autouse=True)
def _clean_broker(redis_url: str) -> Iterator[None]:
    """Killed workers leave unacked and queued messages in this session's Redis db: delete every Celery key
    after each fault test (the session's lock key stays), so no later test sees them or runs them."""
    yield
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.keys("*") if not k.startswith(b"wirefeed:test-session-lock")]
    if keys:
        client.delete(*keys)


@dataclass
class Topology:
    """The README's (and docker-compose.yml's) workers: a fetch worker on threads (fetch and pages queues) and
    a process worker on prefork (process queue). ``children``/``p``/``pid`` are the process worker's."""

    fetch: Proc
    process: Proc

    @property
    def p(self) -> subprocess.Popen:
        return self.process.p

    @property
    def pid(self) -> int:
        return self.process.pid

    def children(self) -> list[int]:
        return self.process.children()

    def text(self) -> str:
        return self.fetch.text() + self.process.text()


@pytest.fixture()
def procs(tmp_path: Path) -> Iterator[dict]:
    """Starts workers/beats for a test and always stops them: ``procs["worker"](env)`` starts the production
    topology (:class:`Topology`); ``procs["single"](env)`` one prefork worker on the fetch and process queues
    (for a test about one worker's own shutdown)."""
    started: list[Proc] = []

    def one(env: dict[str, str], queues: str, pool: str, concurrency: int, name: str) -> Proc:
        p = Proc(["worker", "-Q", queues, "-c", str(concurrency), "--pool", pool,
                  "-n", f"fault-{name}-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip",
                  "--loglevel", "INFO"], env, tmp_path / f"worker-{name}-{len(started)}.log")
        started.append(p)
        return p

    def single(env: dict[str, str], *, concurrency: int = 2, name: str = "w") -> Proc:
        p = one(env, "fetch,process", "prefork", concurrency, name)
        p.wait_ready()
        return p

    def fetch(env: dict[str, str], *, name: str = "w") -> Proc:
        """A fetch worker as docker-compose.yml runs it (fewer threads); not waited for."""
        return one(env, "fetch,pages", "threads", 4, f"{name}-fetch")

    def process(env: dict[str, str], *, concurrency: int = 2, name: str = "w") -> Proc:
        """A process worker as docker-compose.yml runs it; not waited for."""
        return one(env, "process", "prefork", concurrency, f"{name}-process")

    def worker(env: dict[str, str], *, concurrency: int = 2, name: str = "w") -> Topology:
        """Both, started together and ready: ``concurrency`` is the process worker's."""
        t = Topology(fetch(env, name=name), process(env, concurrency=concurrency, name=name))
        t.fetch.wait_ready()
        t.process.wait_ready()
        return t

    def beat(env: dict[str, str]) -> Proc:
        p = Proc(["beat", "--schedule", str(tmp_path / f"beat-{uuid.uuid4().hex[:6]}"), "--loglevel", "INFO"],
                 env, tmp_path / f"beat-{len(started)}.log")
        started.append(p)
        return p

    yield {"worker": worker, "fetch": fetch, "process": process, "single": single, "beat": beat}
    for p in reversed(started):
        p.stop()


def log_events(text: str) -> list[dict]:
    """The JSON log events in a worker's log (Celery's own lines are not JSON)."""
    import json

    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def enqueue_all(env: dict[str, str]) -> None:
    r = subprocess.run([str(WIREFEED), "fetch", "--all"], env=env, capture_output=True, text=True, timeout=60,
                       cwd=run_dir())
    assert r.returncode == 0, r.stderr
    assert "enqueued" in r.stdout, r.stdout


def wait_until(predicate, timeout: float, interval: float = 0.1):
    """``tests.conftest.wait_for``, polling faster (fault tests watch short recovery windows)."""
    return wait_for(predicate, timeout=timeout, interval=interval)
