"""The real thing: a `wirefeed worker` process, a loopback HTTP server, Redis and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

from tests.conftest import wait_for
from tests.session_guard import run_dir


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url) as c:
        return int(c.execute(sql).fetchone()[0])


def test_enqueued_fetch_lands_rows_through_a_real_worker(cli, conn, db_url, fixture_server, celery_worker,
                                                         tmp_path: Path) -> None:
    # the main process loaded the language model before forking its pool (the children share it)
    warm = [json.loads(line) for line in (tmp_path / "worker.log").read_text(errors="replace").splitlines()
            if '"process_stage_warm"' in line]
    assert [w["pid"] for w in warm] == [celery_worker.pid]
    for name in ("sis-gov-eg.rss", "allafrica-egypt.rss", "ahram-online.atom"):
        r = cli("feeds", "add", f"{fixture_server}/{name}")
        assert r.returncode == 0, r.stderr
    r = cli("fetch", "--all")
    assert r.returncode == 0, r.stderr
    assert "enqueued 3 feed(s)" in r.stdout
    wait_for(lambda: _count(db_url, "SELECT count(*) FROM article_sightings") == 4, timeout=60)
    assert _count(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL "
                          "AND claimed_until IS NULL AND error_count = 0") == 3
    articles = _count(db_url, "SELECT count(*) FROM articles")
    assert articles == 3  # the wrapped verbatim copy is the original's row (see tests/test_ingest.py)

    # a second fetch of unchanged feeds adds nothing
    r = cli("fetch", "--all")
    assert "enqueued 3" in r.stdout
    wait_for(lambda: _count(db_url, "SELECT count(*) FROM feeds WHERE claimed_until IS NULL") == 3, timeout=60)
    assert _count(db_url, "SELECT count(*) FROM articles") == articles
    assert _count(db_url, "SELECT count(*) FROM article_sightings") == 4


def test_beat_schedules_due_feeds_from_postgres(cli, conn, env, db_url, fixture_server, celery_worker, tmp_path: Path) -> None:  # noqa: E501
    """beat → schedule_due_feeds claims due feeds in PostgreSQL and enqueues them; no manual fetch."""
    r = cli("feeds", "add", f"{fixture_server}/sis-gov-eg.rss")
    assert r.returncode == 0, r.stderr
    exe = Path(sys.executable).with_name("wirefeed")
    beat = subprocess.Popen(
        [str(exe), "beat", "--schedule", str(tmp_path / f"beat-{uuid.uuid4().hex[:6]}"), "--loglevel", "INFO"],
        env={**env, "WIREFEED_SCHEDULE_EVERY_SECONDS": "1"}, cwd=run_dir(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _count(db_url, "SELECT count(*) FROM article_sightings") == 2, timeout=60)
        # fetched once, then scheduled for later: not re-fetched on every tick
        next_in = _count(db_url, "SELECT extract(epoch FROM next_fetch_at - now())::int FROM feeds")
        assert next_in > 60
    finally:
        beat.terminate()
        beat.wait(timeout=20)


def test_a_fetch_only_worker_does_not_load_the_process_stage(env, tmp_path: Path) -> None:
    from tests.conftest import _wait_worker_ready, stop_process

    log_path = tmp_path / "fetch-worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("wirefeed")), "worker", "-Q", "fetch", "--pool", "threads", "-c", "2",
             "-n", f"fetchonly-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=run_dir())
        try:
            _wait_worker_ready(env, proc, log_path)
        finally:
            stop_process(proc)
    text = log_path.read_text(errors="replace")
    assert "ready." in text and "process_stage_warm" not in text


def test_feeds_queued_behind_one_busy_host_all_land(cli, conn, db_url, fixture_server, celery_worker) -> None:
    """Six feeds on one host, one request per second allowed there: the last waits ~5 s and is retried five
    times or more. Celery's own retry cap (3) must not turn that wait into an internal failure (poison)."""
    for n in range(6):
        assert cli("feeds", "add", f"{fixture_server}/sis-gov-eg.rss?copy={n}").returncode == 0
    assert "enqueued 6" in cli("fetch", "--all").stdout
    wait_for(lambda: _count(db_url, "SELECT count(*) FROM feeds WHERE last_fetched_at IS NOT NULL "
                                    "AND claimed_until IS NULL") == 6, timeout=90)
    assert _count(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL AND error_count = 0") == 6
    assert _count(db_url, "SELECT count(*) FROM feeds WHERE last_error_kind IS NOT NULL") == 0
