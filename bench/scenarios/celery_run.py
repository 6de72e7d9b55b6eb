"""The pipeline through Celery and Redis with real worker processes (``celery -A worker.app worker -Q process``,
prefork pool of 1, 2 and 4 processes), into a scratch database and a Redis database number of its own.

Bodies are enqueued directly as ``wirefeed.process_feed`` messages (what a fetch worker sends after a
changed fetch: the body compressed in the message), so the figure is the process side alone; fetching is
measured apart (``fetch`` scenario). Two runs per pool size, on a fresh database each:

- burst: every feed enqueued at once; entries/s from the first enqueue to the last commit;
- paced: more feeds enqueued at about half the burst rate; latency from enqueue to the commit of the
  feed's rows, taken from the NOTIFY that ``process_body`` sends in its transaction (delivered at commit).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from bench.scenarios._util import PYTHON, ROOT, create_db, drop_db, machine_cpu_seconds, rate, stop_process_group

NOTIFY_CHANNEL = "wirefeed_articles"
_LOCK_KEY = "wirefeed:test-session-lock"  # the same claim the test suite takes on its Redis database number


class _Listener(threading.Thread):
    """Records when each feed's rows were committed (first NOTIFY per feed id)."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(url, autocommit=True)
        self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        self.done: dict[int, float] = {}
        self.articles = 0
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._halt.is_set():
            for n in self.conn.notifies(timeout=0.2):
                now = time.perf_counter()
                payload = json.loads(n.payload)
                with self._lock:
                    self.done.setdefault(int(payload["feed_id"]), now)
                    self.articles += len(payload.get("articles", []))

    def wait_for(self, feed_ids: set[int], timeout: float) -> bool:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            with self._lock:
                if feed_ids <= self.done.keys():
                    return True
            time.sleep(0.02)
        return False

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)
        self.conn.close()


def _start_worker(concurrency: int, db_url: str, redis_url: str, *, python: str = PYTHON,
                  cwd: Path = ROOT) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "WIREFEED_LOG_FORMAT": "json",
           "WIREFEED_LOG_LEVEL": "WARNING", "WIREFEED_FETCH_PAGES": "never"}
    return subprocess.Popen(
        [python, "-m", "celery", "-A", "worker.app", "worker", "-Q", "process", "-P", "prefork",
         "-c", str(concurrency), "-n", f"bench{concurrency}-{os.getpid()}@%h", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-l", "WARNING"],
        env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )


def _wait_ready(app: Any, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"celery worker exited {proc.returncode}: {err[-2000:]}")
        if app.control.ping(timeout=0.5):
            return
    raise RuntimeError("celery worker did not answer a ping within a minute")


def _feeds(url: str, paths: list[Path]) -> list[tuple[int, str, bytes]]:
    from worker.pipeline import file_url
    from worker.store import feeds as feed_store

    out = []
    with psycopg.connect(url) as conn:
        for p in paths:
            u = file_url(p)
            out.append((feed_store.add_feed(conn, u).feed_id, u, p.read_bytes()))
        conn.commit()
    return out


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, round(q * (len(sorted_values) - 1)))]


def _one(concurrency: int, burst_paths: list[Path], paced_paths: list[Path], redis_url: str,
         db_name: str) -> dict[str, Any]:
    from celery import Celery

    from worker.tasks import pack_body

    url = create_db(db_name)
    app = Celery("bench", broker=redis_url, backend=redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
    worker = _start_worker(concurrency, url, redis_url)
    listener = _Listener(url)
    listener.start()
    try:
        _wait_ready(app, worker)
        burst = _feeds(url, burst_paths)
        paced = _feeds(url, paced_paths)
        messages = {fid: pack_body(body) for fid, _, body in burst + paced}

        def send(fid: int, u: str) -> float:
            t = time.perf_counter()
            app.send_task("wirefeed.process_feed", args=(fid, messages[fid]), kwargs={"url": u}, queue="process")
            return t

        m0 = machine_cpu_seconds()
        t0 = time.perf_counter()
        sent = {fid: send(fid, u) for fid, u, _ in burst}
        if not listener.wait_for(set(sent), timeout=900):
            raise RuntimeError(f"burst: only {len(listener.done)} of {len(sent)} feeds committed in 15 minutes")
        t1 = max(listener.done[f] for f in sent)
        m1 = machine_cpu_seconds()
        articles = listener.articles
        with psycopg.connect(url) as conn:
            entries = int(conn.execute("SELECT count(*) FROM article_sightings").fetchone()[0])  # type: ignore[index]
        burst_s = t1 - t0
        burst_lat = sorted(listener.done[f] - sent[f] for f in sent)
        # paced: about half the burst rate, in feeds per second
        feeds_per_s = max(0.2, 0.5 * len(burst) / burst_s)
        psent: dict[int, float] = {}
        start = time.perf_counter()
        for i, (fid, u, _) in enumerate(paced):
            delay = start + i / feeds_per_s - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            psent[fid] = send(fid, u)
        if not listener.wait_for(set(psent), timeout=300):
            raise RuntimeError("paced run did not complete in 5 minutes")
        lat = sorted(listener.done[f] - psent[f] for f in psent)
    finally:
        listener.stop()
        stop_process_group(worker)
        drop_db(db_name)
    return {
        "processes": concurrency,
        "feeds": len(burst),
        "entries": entries,
        "new_articles": articles,
        "burst_s": burst_s,
        "entries_per_s": rate(entries, burst_s),
        "machine_cpu_s": m1 - m0,
        "burst_latency_p50_s": statistics.median(burst_lat),
        "burst_latency_p95_s": _pct(burst_lat, 0.95),
        "paced_feeds_per_s": feeds_per_s,
        "paced_feeds": len(paced),
        "latency_p50_s": statistics.median(lat),
        "latency_p95_s": _pct(lat, 0.95),
        "latency_max_s": lat[-1],
    }


def one_process_side(concurrency: int, paths: list[Path], redis_url: str, db_name: str, *, python: str,
                     cwd: Path, make_db: Callable[[str], str]) -> dict[str, Any]:
    """A burst alone (every body enqueued at once) through the worker of another tree (``python``, ``cwd``),
    into a database ``make_db`` creates: new entries/s from the first enqueue to the last commit, and the CPU
    of the whole machine meanwhile."""
    from celery import Celery

    from worker.tasks import pack_body

    url = make_db(db_name)
    app = Celery("bench", broker=redis_url, backend=redis_url)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry_on_startup=True)
    worker = _start_worker(concurrency, url, redis_url, python=python, cwd=cwd)
    listener = _Listener(url)
    listener.start()
    try:
        _wait_ready(app, worker)
        feeds = _feeds(url, paths)
        messages = {fid: pack_body(body) for fid, _, body in feeds}
        m0 = machine_cpu_seconds()
        t0 = time.perf_counter()
        for fid, u, _ in feeds:
            app.send_task("wirefeed.process_feed", args=(fid, messages[fid]), kwargs={"url": u}, queue="process")
        if not listener.wait_for({fid for fid, _, _ in feeds}, timeout=900):
            raise RuntimeError(f"burst: only {len(listener.done)} of {len(feeds)} feeds committed in 15 minutes")
        t1 = max(listener.done.values())
        m1 = machine_cpu_seconds()
        with psycopg.connect(url) as conn:
            new = int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])  # type: ignore[index]
    finally:
        listener.stop()
        stop_process_group(worker)
        drop_db(db_name)
    return {"processes": concurrency, "feeds": len(feeds), "new": new, "burst_s": t1 - t0,
            "new_per_s": rate(new, t1 - t0), "machine_cpu_s": m1 - m0}


def claim_redis_db(base_url: str) -> str:
    """A Redis URL on a database number nobody uses, claimed the way the test suite claims one (a lock key
    with an expiry), highest number first. The benchmark flushes only that database, when it is done."""
    import redis

    base = base_url.rsplit("/", 1)[0] if base_url.count("/") >= 3 else base_url
    for db in range(15, 0, -1):
        r = redis.Redis.from_url(f"{base}/{db}")
        if r.dbsize() == 0 and r.set(_LOCK_KEY, f"bench-{os.getpid()}", nx=True, ex=3600):
            return f"{base}/{db}"
    raise RuntimeError("no free Redis database number (1-15)")


def flush(redis_url: str, *, keep_claim: bool = True) -> None:
    import redis

    r = redis.Redis.from_url(redis_url)
    r.flushdb()
    if keep_claim:
        r.set(_LOCK_KEY, f"bench-{os.getpid()}", ex=3600)


def run(burst_paths: list[Path], paced_paths: list[Path], redis_url: str,
        pools: tuple[int, ...] = (1, 2, 4)) -> dict[str, Any]:
    out: dict[str, Any] = {"redis_url": redis_url, "runs": []}
    try:
        for c in pools:
            out["runs"].append(_one(c, burst_paths, paced_paths, redis_url, f"wirefeed_bench_celery{c}"))
            flush(redis_url)
    finally:
        flush(redis_url, keep_claim=False)
    return out
