"""Shared fixtures. Real PostgreSQL and Redis only: each test session gets its own database
(created, migrated, dropped) and its own Redis database number, so runs never see each other."""

from __future__ import annotations

import functools
import http.server
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import psycopg
import pytest
import redis
from psycopg import sql

from tests import session_guard

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"  # every file a test reads (tests/data/README.md: origin and licences)
FIXTURES = DATA / "fixtures" / "syndication"
CORPUS = DATA / "corpus" / "feeds"

ADMIN_URL = os.environ.get("WIREFEED_TEST_ADMIN_URL") or os.environ.get(
    "DATABASE_URL", "postgresql://127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
TABLES_KEEP = {"schema_migrations"}


@pytest.hookimpl(trylast=True)  # after pytest's own plugins have read their paths from the working directory
def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp:
        config.option.basetemp = os.path.abspath(config.option.basetemp)
    session_guard.start()


# A test that uses none of these needs neither PostgreSQL nor Redis: it is marked ``unit`` (./scripts/test -m unit).
SERVICE_FIXTURES = frozenset({"admin_url", "db_url", "empty_db_url", "redis_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # the compose test brings its own PostgreSQL and Redis up in containers: it is never a unit test
        if item.get_closest_marker("compose") is None and SERVICE_FIXTURES.isdisjoint(
                getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.unit)


_leftovers: list[str] = []


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A run that leaves a process, a database or a temporary file behind fails (tests/session_guard.py)."""
    _leftovers.extend(session_guard.finish())
    if _leftovers:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _leftovers:
        terminalreporter.section("the test run left these behind (now removed)", red=True, bold=True)
        for line in _leftovers:
            terminalreporter.line(line)
    if session_guard.kept():
        terminalreporter.line(f"tmp_path folders kept in {session_guard.kept()}")


def _with_db(url: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


@pytest.fixture(scope="session")
def admin_url() -> str:
    """The server's maintenance database, for a test that creates databases or roles of its own. Naming this
    fixture is what takes the test out of the unit layer: it needs PostgreSQL."""
    return _with_db(ADMIN_URL, "postgres")


@pytest.fixture(scope="session")
def db_url() -> Iterator[str]:
    """A freshly created and migrated database for this test session (dropped at the end)."""
    from worker.migrations import migrate
    from worker.store.db import connect

    name = session_guard.db_name("session")
    admin = _with_db(ADMIN_URL, "postgres")
    session_guard.note_admin_url(admin)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_db(ADMIN_URL, name)
    with connect(url) as conn:
        migrate(conn)
    yield url
    from worker.store.db import close_pools

    close_pools()
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def truncate_all(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        tables = [r[0] for r in c.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") if r[0] not in TABLES_KEEP]
        if tables:
            c.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(sql.Identifier(t) for t in tables)))


@pytest.fixture()
def empty_db_url() -> Iterator[str]:
    """A database of its own with no schema at all (``wirefeed migrate`` never ran), dropped afterwards."""
    name = session_guard.db_name("empty")
    admin = _with_db(ADMIN_URL, "postgres")
    session_guard.note_admin_url(admin)
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_db(ADMIN_URL, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture()
def conn(db_url: str) -> Iterator[psycopg.Connection]:
    """A connection to the session database, every table emptied before the test."""
    from worker.store.db import connect

    truncate_all(db_url)
    with connect(db_url) as c:
        yield c


_REDIS_LOCK = "wirefeed:test-session-lock"


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis database number of this session's own: it claims a free db (a lock key with an expiry),
    so concurrent test sessions never consume each other's Celery messages."""
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    first = int(os.environ.get("WIREFEED_TEST_REDIS_DB", "1"))
    for db in [*range(first, 16), *range(1, first)]:
        client = redis.Redis.from_url(f"{REDIS_BASE}/{db}")
        if client.set(_REDIS_LOCK, token, nx=True, ex=7200):
            break
    else:
        raise RuntimeError("no free Redis database (1-15) for this test session")
    url = f"{REDIS_BASE}/{db}"

    def reset() -> None:
        client.flushdb()
        client.set(_REDIS_LOCK, token, ex=7200)

    reset()
    _redis_resets[url] = reset
    yield url
    client.flushdb()


_redis_resets: dict[str, Callable[[], None]] = {}


@pytest.fixture()
def clean_redis(redis_url: str) -> str:
    """This session's Redis database emptied before the test (queues, unacked messages, heartbeats)."""
    _redis_resets[redis_url]()
    return redis_url


@pytest.fixture()
def env(db_url: str, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for this session's services; also applied to this process (settings cache cleared)."""
    from worker.settings import get_settings

    values = {
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "WIREFEED_ALLOW_PRIVATE_ADDRESSES": "true",
        "WIREFEED_LOG_FORMAT": "json",
        # The feed corpora hold real article links: no test may fetch them. Tests that serve their own
        # pages on loopback set "auto" or "always" themselves.
        "WIREFEED_FETCH_PAGES": "never",
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    yield {**os.environ, **values}
    get_settings.cache_clear()


@pytest.fixture()
def settings(env: dict[str, str]):
    from worker.settings import get_settings

    return get_settings()


def run_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the real ``wirefeed`` console script (a separate process, as a user would)."""
    exe = Path(sys.executable).with_name("wirefeed")
    cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "worker.cli.main", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=session_guard.run_dir())


@pytest.fixture()
def cli(env: dict[str, str]):
    return functools.partial(run_cli, env=env)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def fixture_server() -> Iterator[str]:
    """A loopback HTTP server serving the syndication fixtures; yields its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(FIXTURES))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def celery_worker(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The README's workers, as docker-compose.yml starts them (fewer threads): a fetch worker on threads
    (fetch and pages queues, log ``fetch-worker.log``) and a process worker on prefork (process queue, log
    ``worker.log``); yields the process worker. Stopped (TERM, then KILL) after the test."""
    exe = Path(sys.executable).with_name("wirefeed")
    tag = uuid.uuid4().hex[:6]
    started: list[tuple[subprocess.Popen[bytes], Path, IO[bytes]]] = []
    fetch = ["-Q", "fetch,pages", "--pool", "threads", "-c", "4", "-n", f"test-fetch-{tag}@%h"]
    process = ["-Q", "process", "--pool", "prefork", "-c", "2", "-n", f"test-process-{tag}@%h"]
    try:
        for log_name, args in (("fetch-worker.log", fetch), ("worker.log", process)):
            log = (tmp_path / log_name).open("wb")
            proc = subprocess.Popen([str(exe), "worker", *args, "--without-mingle", "--without-gossip"],
                                    env=env, stdout=log, stderr=subprocess.STDOUT, cwd=session_guard.run_dir())
            started.append((proc, tmp_path / log_name, log))
        for proc, path, _ in started:
            _wait_worker_ready(env, proc, path)
        yield started[-1][0]
    finally:
        for proc, _, log in started:
            stop_process(proc)
            log.close()


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM (a warm shutdown for Celery), then SIGKILL if it has not exited within ``timeout``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _wait_worker_ready(env: dict[str, str], proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        if "ready." in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"worker not ready after {timeout}s:\n{log.read_text(errors='replace')[-3000:]}")


def free_port() -> int:
    """A loopback TCP port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate, timeout: float = 30, interval: float = 0.2):
    """Poll ``predicate`` until it returns a truthy value; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        time.sleep(interval)
