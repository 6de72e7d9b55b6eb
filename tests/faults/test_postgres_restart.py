"""PostgreSQL restarts during ingestion: in-flight tasks fail, retry with backoff, and every item lands.

The restart is real (fast shutdown: every connection is terminated, in-flight transactions roll back),
so it also cuts the connections of anything else using this server at that moment. It runs only against a
server on this machine that the test can restart itself:
- the machine's cluster at 127.0.0.1:5432 through ``pg_ctlcluster`` (Debian/Ubuntu), or
- any loopback server whose data directory we can read (``SHOW data_directory``) with ``pg_ctl``
  (the throwaway server ``scripts/test`` starts when none is running).
It never leaves PostgreSQL down: whatever happens, the server is started again before the test ends.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time

import psycopg
import pytest

from tests.faults.conftest import (
    assert_exactly_once,
    enqueue_all,
    fault_env,
    make_feeds,
    scalar,
    try_scalar,
    wait_until,
)


def _pg_ctl() -> str | None:
    for cand in [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)]:
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def restart_command(db_url: str) -> tuple[list[str], list[str]] | None:
    """(restart, start) commands for the server behind ``db_url``, or None when it is not ours to restart."""
    info = psycopg.conninfo.conninfo_to_dict(db_url)
    host, port = info.get("host") or "", int(info.get("port") or 5432)
    if host not in ("127.0.0.1", "localhost", "::1"):
        return None
    clusters = sorted(glob.glob("/etc/postgresql/*/main"))
    if port == 5432 and shutil.which("pg_ctlcluster") and len(clusters) == 1:
        version = clusters[0].split("/")[-2]
        base = ["pg_ctlcluster", "--skip-systemctl-redirect", "-m", "fast", version, "main"]
        return [*base, "restart"], [*base, "start"]
    pg_ctl = _pg_ctl()
    if pg_ctl is None:
        return None
    try:
        with psycopg.connect(db_url, connect_timeout=5) as c:
            data_dir = c.execute("SHOW data_directory").fetchone()[0]
    except psycopg.Error:
        return None
    if not os.path.isdir(data_dir):
        return None
    runas = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = [*runas, pg_ctl, "-D", data_dir, "-w", "-t", "60"]
    return [*base, "-m", "fast", "restart"], [*base, "start"]


def _up(db_url: str) -> bool:
    try:
        psycopg.connect(db_url, connect_timeout=3).close()
        return True
    except psycopg.OperationalError:
        return False


def test_postgres_restart_mid_ingestion_loses_nothing(env, db_url, conn, tmp_path, procs) -> None:
    commands = restart_command(db_url)
    if commands is None:
        pytest.skip(f"PostgreSQL at {db_url.split('@')[-1]} is not a local server this test can restart")
    restart, start = commands
    conn.close()
    feeds = make_feeds(db_url, tmp_path / "feeds", count=12, items=250)
    env = fault_env(env, WIREFEED_CLAIM_TIMEOUT_SECONDS="120")
    worker = procs["worker"](env)
    enqueue_all(env)
    wait_until(lambda: 0 < scalar(db_url, "SELECT count(*) FROM article_sightings") < feeds.expected // 2,
               timeout=60, interval=0.02)
    before = scalar(db_url, "SELECT count(*) FROM article_sightings")
    t0 = time.monotonic()
    try:
        r = subprocess.run(restart, capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, r.stderr
        down_for = time.monotonic() - t0
    finally:
        if not _up(db_url):
            subprocess.run(start, capture_output=True, timeout=90)
        wait_until(lambda: _up(db_url), timeout=60, interval=0.2)
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
