"""Memory soak: does a worker's resident memory stay flat over a long run?

Generates ``--feeds`` × ``--items`` distinct entries as file:// feeds, starts a real ``wirefeed worker``
(prefork), enqueues every feed and samples the resident set size (VmRSS from /proc) of the worker's main
process and of each pool child every ``--every`` seconds while the entries are stored. Prints a table of
RSS against entries stored and a JSON summary (growth per 10,000 entries of each child, after warm-up).

    .venv/bin/python bench/memory_soak.py                      # 100,000 entries (200 feeds × 500 items)
    .venv/bin/python bench/memory_soak.py --feeds 20 --items 500   # a quick look

It makes its own database (dropped at the end unless --keep) on the server of DATABASE_URL (default
postgresql://127.0.0.1:5432/postgres) and claims a free Redis database number the way the tests do.
``--max-tasks-per-child 0`` (the default here) disables recycling, so any leak shows.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ["harbour", "council", "budget", "river", "festival", "railway", "minister", "drought", "market", "school",
         "hospital", "election", "museum", "bridge", "storm", "vaccine", "tariff", "library", "airport", "stadium",
         "orchestra", "factory", "harvest", "treaty", "province", "senate", "court", "ruling", "protest", "union"]


def text(rnd: random.Random, words: int) -> str:
    return " ".join(rnd.choice(WORDS) + str(rnd.randint(0, 999_999)) for _ in range(words))


def feed_body(f: int, items: int, words: int) -> bytes:
    rnd = random.Random(f)
    out = [f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Soak {f}</title>'
           f"<link>https://soak{f}.example.net/</link><description>soak</description>"]
    for n in range(items):
        paras = "".join(f"&lt;p&gt;{text(rnd, words // 4)}&lt;/p&gt;" for _ in range(4))
        out.append(f"<item><title>{text(rnd, 8)}</title><link>https://soak{f}.example.net/a/{n}</link>"
                   f"<guid>soak-{f}-{n}</guid><pubDate>Tue, 03 Mar 2026 {n % 24:02d}:{n % 60:02d}:00 +0000</pubDate>"
                   f"<author>desk{f}@soak.example.net (Desk {f})</author><description>{paras}</description></item>")
    out.append("</channel></rss>")
    return "".join(out).encode()


def rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def claim_redis(base: str) -> tuple[str, redis.Redis]:
    token = f"soak-{os.getpid()}-{uuid.uuid4().hex}"
    for db in range(15, 0, -1):
        client = redis.Redis.from_url(f"{base}/{db}")
        if client.set("wirefeed:test-session-lock", token, nx=True, ex=7200):
            return f"{base}/{db}", client
    raise SystemExit("no free Redis database")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feeds", type=int, default=200)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--words", type=int, default=120, help="words of text per item")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--max-tasks-per-child", type=int, default=0, help="0 = never recycle (shows leaks)")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between samples")
    ap.add_argument("--keep", action="store_true", help="keep the database")
    args = ap.parse_args()

    from bench.scenarios._util import stop_process_group
    from worker.migrations import migrate
    from worker.store import feeds as feed_store

    admin = os.environ.get("DATABASE_URL", "postgresql://127.0.0.1:5432/postgres")
    name = f"wirefeed_soak_{os.getpid()}"
    with psycopg.connect(psycopg.conninfo.make_conninfo(admin, dbname="postgres"), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    db_url = psycopg.conninfo.make_conninfo(admin, dbname=name)
    redis_url, rclient = claim_redis(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0])
    tmp = Path(tempfile.mkdtemp(prefix="wirefeed-soak-"))
    worker = None
    samples: list[dict] = []
    try:
        with psycopg.connect(db_url) as c:
            migrate(c)
            for f in range(args.feeds):
                p = tmp / f"soak{f}.xml"
                p.write_bytes(feed_body(f, args.items, args.words))
                feed_store.add_feed(c, "file://" + str(p))
        total = args.feeds * args.items
        body_kb = sum(p.stat().st_size for p in tmp.glob("*.xml")) // 1024
        env = {**os.environ, "DATABASE_URL": db_url, "REDIS_URL": redis_url, "WIREFEED_LOG_LEVEL": "WARNING",
               "WIREFEED_LOG_FORMAT": "json"}
        exe = Path(sys.executable).with_name("wirefeed")
        log = (tmp / "worker.log").open("wb")
        worker = subprocess.Popen(
            [str(exe), "worker", "-Q", "fetch,process", "-c", str(args.concurrency), "--pool", "prefork",
             "--max-tasks-per-child", str(args.max_tasks_per_child or 10**9), "-n", f"soak-{os.getpid()}@%h",
             "--without-mingle", "--without-gossip", "--loglevel", "WARNING"],
            env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
        time.sleep(1)
        deadline = time.monotonic() + 60
        while not children(worker.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
        r = subprocess.run([str(exe), "fetch", "--all"], env=env, capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            raise SystemExit(r.stderr)
        t0 = time.monotonic()
        print(f"{total} entries in {args.feeds} feeds ({body_kb} KB of XML), worker -c {args.concurrency}, "
              f"max-tasks-per-child {args.max_tasks_per_child}", flush=True)
        print(f"{'t (s)':>7} {'stored':>8} {'main MB':>8}  children MB", flush=True)
        with psycopg.connect(db_url, autocommit=True) as c:
            while True:
                stored = c.execute("SELECT count(*) FROM article_sightings").fetchone()[0]
                kids = {pid: rss_kib(pid) for pid in children(worker.pid)}
                s = {"t": round(time.monotonic() - t0, 1), "stored": stored, "main_kib": rss_kib(worker.pid),
                     "children_kib": {str(k): v for k, v in kids.items() if v}}
                samples.append(s)
                print(f"{s['t']:>7} {stored:>8} {(s['main_kib'] or 0) / 1024:>8.1f}  "
                      + " ".join(f"{v / 1024:.1f}" for v in s["children_kib"].values()), flush=True)
                if stored >= total or worker.poll() is not None:
                    break
                time.sleep(args.every)
        elapsed = time.monotonic() - t0
        summary = summarise(samples, total, elapsed)
        print(json.dumps(summary, indent=2))
        (tmp / "samples.json").write_text(json.dumps(samples))
        return 0
    finally:
        if worker is not None:
            stop_process_group(worker)
        rclient.flushdb()
        if not args.keep:
            with psycopg.connect(psycopg.conninfo.make_conninfo(admin, dbname="postgres"), autocommit=True) as c:
                c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            shutil.rmtree(tmp, ignore_errors=True)


def summarise(samples: list[dict], total: int, elapsed: float) -> dict:
    """Per child: RSS when 10 % of the entries were stored (after warm-up) and at its last sample, and the
    growth per 10,000 entries between the two."""
    per_child: dict[str, list[tuple[int, int]]] = {}
    for s in samples:
        for pid, kib in s["children_kib"].items():
            per_child.setdefault(pid, []).append((s["stored"], kib))
    children_out = {}
    for pid, points in per_child.items():
        warm = [p for p in points if p[0] >= total * 0.1] or points
        first, last = warm[0], warm[-1]
        span = max(last[0] - first[0], 1)
        children_out[pid] = {
            "rss_mb_at_10pct": round(first[1] / 1024, 1), "rss_mb_last": round(last[1] / 1024, 1),
            "peak_mb": round(max(k for _, k in points) / 1024, 1),
            "growth_mb_per_10k_entries": round((last[1] - first[1]) / 1024 / span * 10_000, 2),
            "entries_span": span,
        }
    mains = [s["main_kib"] for s in samples if s["main_kib"]]
    return {"entries": total, "stored": samples[-1]["stored"] if samples else 0, "seconds": round(elapsed, 1),
            "entries_per_s": round((samples[-1]["stored"] if samples else 0) / max(elapsed, 0.001), 1),
            "main_rss_mb": [round(mains[0] / 1024, 1), round(mains[-1] / 1024, 1)] if mains else None,
            "children": children_out}


if __name__ == "__main__":
    sys.exit(main())
