"""Redis dies while feeds are being fetched: per-host politeness (kept in Redis) fails open, so the fetch in
flight finishes and the next one goes ahead without it; nothing waits on Redis and every feed lands.

A ``redis-server`` of the test's own is killed while ``wirefeed fetch --sync`` has a request in flight (the
loopback server holds that answer until Redis is gone).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.faults.conftest import WIREFEED, fault_env
from tests.faults.test_broker import PrivateRedis
from tests.httpserver import FeedServer, Route
from tests.session_guard import run_dir


def feed(n: int) -> bytes:
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title><link>https://r{n}.example/'
            f"</link><item><title>Story {n}</title><link>https://r{n}.example/1</link><guid>r{n}-1</guid>"
            f"<description>Story number {n}, fetched while Redis goes away.</description></item></channel></rss>"
            ).encode()


def test_redis_down_while_fetching_fails_open(env, db_url, conn, cli, tmp_path: Path) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server binary")
    private = PrivateRedis(tmp_path)
    private.start()
    release = threading.Event()

    def held(_: object) -> Route:
        release.wait(60)
        return Route(body=feed(1))

    try:
        with FeedServer() as srv:
            first, second = srv.route("/one.xml", held), srv.route("/two.xml", Route(body=feed(2)))
            for url in (first, second):
                assert cli("feeds", "add", "--no-discover", url).returncode == 0
            run_env = fault_env(env, REDIS_URL=private.url, WIREFEED_HOST_MIN_GAP_SECONDS="0")
            proc = subprocess.Popen([str(WIREFEED), "fetch", "--sync", "--all"], env=run_env, cwd=run_dir(),
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                wait_for(lambda: srv.hits_on("/one.xml"), timeout=60, interval=0.05)  # in flight, slot held
                private.kill()  # Redis is gone with the slot in it
                release.set()
                out, err = proc.communicate(timeout=120)
            finally:
                release.set()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            assert len(srv.hits_on("/two.xml")) == 1  # the next feed was fetched after Redis died
    finally:
        private.kill()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in err
    assert "politeness" in err and "Redis" in err  # it said why it went on without host limits
    rows = conn.execute("SELECT f.url, count(s.guid) FROM feeds f JOIN article_sightings s ON s.feed_id = f.id "
                        "GROUP BY f.url ORDER BY f.url").fetchall()
    assert rows == [(first, 1), (second, 1)]
