"""Parse-only rates on the benchmark's feeds (in this process, one core), and the naive baseline.

- ``feedparser_defaults``: ``feedparser.parse`` on the bytes with its defaults (sanitising and URI resolution on);
- ``feedparser_tuned``: ``sanitize_html=False, resolve_relative_uris=False``: the baseline for the ratios;
- ``parse_feed``: wirefeed's whole parse stage: the lxml fast path (:mod:`worker.parse.lxml_reader`) for the feeds it
  can read exactly, hardening + feedparser + mapping to RawEntry for the rest (``parsers`` counts which served
  how many feeds);
- ``fastparse``: the fast path alone (``served`` / ``declined`` feeds; entries of the served ones);
- ``naive``: how a simple Python aggregator stores a feed: feedparser defaults, then one INSERT and one COMMIT
  per entry into a plain table (no sanitising, no dedupe beyond the guid, no full-text index).
"""

from __future__ import annotations

import io
import time
from collections import Counter
from pathlib import Path
from typing import Any

import feedparser
import psycopg

from bench.scenarios._util import create_db, drop_db, machine_cpu_seconds, rate


def _timed(fn: Any) -> tuple[int, float, float]:
    c0 = time.process_time()
    t0 = time.perf_counter()
    n = fn()
    return n, time.perf_counter() - t0, time.process_time() - c0


def run(paths: list[Path]) -> dict[str, Any]:
    from worker.parse.feed import parse_feed
    from worker.parse.lxml_reader import parse_fast

    bodies = [p.read_bytes() for p in paths]
    out: dict[str, Any] = {"feeds": len(bodies), "bytes": sum(map(len, bodies))}

    def defaults() -> int:
        return sum(len(feedparser.parse(io.BytesIO(b)).entries) for b in bodies)

    def tuned() -> int:
        return sum(len(feedparser.parse(io.BytesIO(b), sanitize_html=False, resolve_relative_uris=False).entries)
                   for b in bodies)

    parsers: Counter[str] = Counter()

    def ours() -> int:
        n = 0
        for i, b in enumerate(bodies):
            feed = parse_feed(b, f"https://bench.example/{i}")
            parsers[feed.parser] += 1
            n += len(feed.entries)
        return n

    parse_feed(bodies[0], "https://bench.example/warm")  # imports and regex compilation outside the clock
    for name, fn in (("feedparser_tuned", tuned), ("feedparser_defaults", defaults), ("parse_feed", ours)):
        n, wall, cpu = _timed(fn)
        out[name] = {"entries": n, "wall_s": wall, "cpu_s": cpu, "entries_per_s": rate(n, wall)}
    out["parse_feed"]["parsers"] = dict(parsers)
    served = [0]

    def fast() -> int:
        n = 0
        for i, b in enumerate(bodies):
            feed = parse_fast(b, f"https://bench.example/{i}")
            if feed is not None:
                served[0] += 1
                n += len(feed.entries)
        return n

    n, wall, cpu = _timed(fast)
    out["fastparse"] = {"entries": n, "wall_s": wall, "cpu_s": cpu, "entries_per_s": rate(n, wall),
                        "served": served[0], "declined": len(bodies) - served[0]}
    out["entries"] = out["feedparser_tuned"]["entries"]
    return out


_NAIVE_TABLE = """
CREATE TABLE naive_articles (
    id bigserial PRIMARY KEY,
    guid text NOT NULL UNIQUE,
    url text,
    title text,
    summary text,
    content text,
    published text,
    created_at timestamptz NOT NULL DEFAULT now()
)"""


def run_naive(paths: list[Path], db_name: str = "wirefeed_bench_naive") -> dict[str, Any]:
    """feedparser defaults + one INSERT and commit per entry (a fresh database, so every entry is new)."""
    url = create_db(db_name, migrate=False)
    try:
        with psycopg.connect(url) as conn:
            conn.execute(_NAIVE_TABLE)
            conn.commit()
            m0 = machine_cpu_seconds()
            c0 = time.process_time()
            t0 = time.perf_counter()
            n = 0
            for p in paths:
                d = feedparser.parse(io.BytesIO(p.read_bytes()))
                for e in d.entries:
                    content = e.get("content")
                    conn.execute(
                        "INSERT INTO naive_articles (guid, url, title, summary, content, published) "
                        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (guid) DO NOTHING",
                        (e.get("id") or e.get("link"), e.get("link"), e.get("title"), e.get("summary"),
                         content[0].get("value") if content else None, e.get("published")),
                    )
                    conn.commit()
                    n += 1
            wall = time.perf_counter() - t0
            cpu = time.process_time() - c0
            stored = conn.execute("SELECT count(*) FROM naive_articles").fetchone()[0]  # type: ignore[index]
            machine = machine_cpu_seconds() - m0
    finally:
        drop_db(db_name)
    return {"entries": n, "stored": stored, "wall_s": wall, "cpu_s": cpu, "machine_cpu_s": machine,
            "entries_per_s": rate(n, wall)}
