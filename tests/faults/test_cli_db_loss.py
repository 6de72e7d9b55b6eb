"""``wirefeed ingest`` when its database connection is lost mid-run: the input in flight is retried on a new
connection (worker/cli/session.py), nothing is stored twice, and the command still succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tests.faults.conftest import rss, scalar
from tests.session_guard import run_dir

WIREFEED = Path(sys.executable).with_name("wirefeed")


def _cli_backends(db_url: str, exclude: set[int]) -> set[int]:
    with psycopg.connect(db_url, autocommit=True) as c:
        rows = c.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'wirefeed' "
            "AND pid <> pg_backend_pid()").fetchall()
    return {int(r[0]) for r in rows} - exclude


def test_ingest_survives_its_connection_being_killed(conn: psycopg.Connection, db_url: str, env: dict[str, str],
                                                    tmp_path: Path) -> None:
    feeds, items = 30, 40
    paths = []
    for f in range(feeds):
        p = tmp_path / f"feed{f}.xml"
        p.write_bytes(rss(f, items, words=200))
        paths.append(str(p))
    before = _cli_backends(db_url, set())
    proc = subprocess.Popen([str(WIREFEED), "ingest", *paths], env=env, cwd=run_dir(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killed: list[int] = []
    deadline = time.monotonic() + 60
    while len(killed) < 2 and time.monotonic() < deadline and proc.poll() is None:
        stored = scalar(db_url, "SELECT count(*) FROM article_sightings")
        if stored >= (len(killed) + 1) * 300:  # once early, once later in the run
            for pid in _cli_backends(db_url, before):
                with psycopg.connect(db_url, autocommit=True) as admin:
                    if admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]:
                        killed.append(pid)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    if not killed:
        pytest.fail(f"the ingest finished before its connection could be killed: {out[-500:]}")
    assert proc.returncode == 0, err
    assert "retrying in" in err and "total: 30 inputs, 0 failed" in out
    assert scalar(db_url, "SELECT count(*) FROM article_sightings") == feeds * items
    assert scalar(db_url, "SELECT count(*) FROM articles") == feeds * items  # each once, no duplicate rows
    assert scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL") == feeds


def test_session_retries_a_killed_connection_and_not_a_bad_statement(db_url: str, env: dict[str, str]) -> None:
    from worker.cli.session import Session
    from worker.settings import load_settings

    waits: list[float] = []
    settings = load_settings()
    assert settings.database_url == env["DATABASE_URL"] == os.environ["DATABASE_URL"]
    with Session(settings, sleep=waits.append) as session:
        first = session.conn.info.backend_pid

        def step(conn: psycopg.Connection) -> int:
            if conn.info.backend_pid == first:
                conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")  # this backend dies mid-step
            return int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]

        assert session.run("kill", step) != first
        assert session.retries == 1 and len(waits) == 1 and 0.5 <= waits[0] <= 2
        with pytest.raises(psycopg.errors.DivisionByZero):  # the statement is wrong: trying again cannot help
            session.run("bad", lambda c: c.execute("SELECT 1 / 0"))
        assert session.retries == 1
