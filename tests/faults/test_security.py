"""Security checks that need real processes: secrets never printed, SQL only through parameters, the
roles of migration 0004 applied to the tables of later migrations, a worker-side login in the ingest role.

(The reader/ingest grants on the public tables are tested in tests/test_consumers.py; HTML sanitising of
hostile bodies in test_hostile_input.py; the SSRF guard in tests/test_ssrf.py.)
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import ADMIN_URL, ROOT, _with_db
from tests.faults.conftest import WIREFEED, Proc, rss
from tests.session_guard import run_dir

PG_SECRET = "PgS3cretValue42"
REDIS_SECRET = "RedisS3cretValue42"


def _run(env: dict[str, str], *args: str) -> str:
    r = subprocess.run([str(WIREFEED), *args], env=env, capture_output=True, text=True, timeout=60, cwd=run_dir())
    return r.stdout + r.stderr


@pytest.mark.parametrize("args", [
    ("feeds", "list"),  # a plain command that cannot reach its database
    ("ingest", "--json", "/dev/null"),  # the pipeline's entry point
    ("status", "--json"),  # talks to both PostgreSQL and Redis
    ("fetch", "--all"),  # would enqueue to Redis
    ("migrate",),  # the owner's command
])
def test_passwords_in_urls_never_reach_the_output(env, args: tuple[str, ...]) -> None:
    bad = {**env, "DATABASE_URL": f"postgresql://wirefeed:{PG_SECRET}@127.0.0.1:1/wirefeed",
           "REDIS_URL": f"redis://:{REDIS_SECRET}@127.0.0.1:1/0"}
    out = _run(bad, *args)
    assert out.strip(), "expected an error message"  # it did fail, and said something
    assert PG_SECRET not in out and REDIS_SECRET not in out, out


def test_worker_log_masks_the_broker_password(env, tmp_path: Path) -> None:
    bad = {**env, "REDIS_URL": f"redis://:{REDIS_SECRET}@127.0.0.1:1/0",
           "DATABASE_URL": env["DATABASE_URL"].replace("host=", f"password={PG_SECRET} host=")
           if "host=" in env["DATABASE_URL"] else env["DATABASE_URL"]}
    worker = Proc(["worker", "-Q", "fetch", "-c", "1", "--pool", "solo", "--without-mingle", "--without-gossip"],
                  bad, tmp_path / "worker.log")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "Cannot connect" not in worker.text():
            time.sleep(0.2)
    finally:
        worker.stop(timeout=10)
    text = worker.text()
    # it tried the broker at this URL and logged the attempt, URL included: where a password could leak (any
    # banner says "redis", so that proved nothing)
    assert "Cannot connect to redis://" in text and "@127.0.0.1:1/0" in text, text[-2000:]
    assert REDIS_SECRET not in text and PG_SECRET not in text, text[-2000:]


def test_sql_is_built_only_from_parameters() -> None:
    """ruff's S608 flags SQL assembled with f-strings, % or + ; the only exceptions are reviewed constants."""
    r = subprocess.run([str(Path(WIREFEED).with_name("ruff")), "check", "--select", "S608", "--no-cache", "worker"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stdout
    allowed = {"FEED_COLUMNS"}  # a module constant listing column names; values always travel as parameters
    for path in (ROOT / "worker").rglob("*.py"):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "noqa: S608" in line:
                assert any(name in line for name in allowed), f"{path}:{n}: review this: {line.strip()}"


def test_internal_tables_are_hidden_from_the_reader_and_usable_by_the_ingest_role(conn) -> None:
    conn.execute("SET ROLE wirefeed_reader")
    for table in ("task_attempts", "feed_fetches"):  # error messages stay with operators
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(sql.SQL("SELECT last_error FROM {}").format(sql.Identifier(table))
                         if table == "task_attempts" else sql.SQL("SELECT error_message FROM feed_fetches"))
    conn.rollback()
    conn.execute("SET ROLE wirefeed_ingest")  # what the workers do with task_attempts (migration 0005)
    from worker.store import attempts

    fid = conn.execute("INSERT INTO feeds (url) VALUES ('https://example.org/r') RETURNING id").fetchone()[0]
    assert attempts.begin(conn, "process", fid) == 1
    attempts.failed(conn, "process", fid, "KeyError: 'x'")
    assert attempts.begin(conn, "process", fid) == 2
    attempts.clear(conn, "process", fid)
    assert attempts.get(conn, "process", fid) == 0
    conn.rollback()


def test_ingest_as_a_login_in_the_ingest_role(env, db_url, conn, tmp_path: Path) -> None:
    """The least privilege the workers need is enough for the whole pipeline (stories, cursor, history)."""
    login = f"wirefeed_test_ingest_{uuid.uuid4().hex[:8]}"
    admin = _with_db(ADMIN_URL, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE wirefeed_ingest").format(sql.Identifier(login)))
    try:
        feed = tmp_path / "f.xml"
        feed.write_bytes(rss(7, 5))
        as_ingest = {**env, "DATABASE_URL": psycopg.conninfo.make_conninfo(db_url, user=login)}
        r = subprocess.run([str(WIREFEED), "ingest", "--json", str(feed)], env=as_ingest, capture_output=True,
                           text=True, timeout=120, cwd=run_dir())
        assert r.returncode == 0, r.stderr[-2000:]
        assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 5
        assert conn.execute("SELECT count(*) FROM article_sightings").fetchone()[0] == 5
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))
