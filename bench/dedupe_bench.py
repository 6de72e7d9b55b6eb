"""Near-duplicate cost as the store grows: ``python -m bench.dedupe_bench [--sizes 10000,100000,1000000]``.

Creates one scratch database per size (``wirefeed_bench_dedupe_<size>``, dropped at the end unless
``--keep``), migrates it and fills it with synthetic articles loaded by binary COPY: one ``articles`` row, one
``article_fingerprints`` row (random signature) and BANDS + LEAD_KEYS + 1 ``article_bands`` rows each, 2% of
the keys drawn from a small pool of "hot" values (template leads, common titles) so the per-key cap is
exercised. The sizes are then measured in alternation, round after round, so a busy machine slows each
alike. At each size it measures, for the labelled corpus (tests/data/stories: 33 texts, 12 of
which are copies of earlier ones):

* lookup: ``pipeline_stories.find_candidates`` alone (index-only scans on article_bands + signature prefilter), with
  one hot key added to each probe;
* assign: the whole ``assign_stories`` per article (locks, lookup, exact verification, writes), rolled back;
* the EXPLAIN (ANALYZE, BUFFERS) plan of the candidate query.

Also reports fingerprint throughput (texts/s, one core, 3 KB texts).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import statistics
import struct
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
from psycopg import sql

from worker import pipeline_stories as stories
from worker.migrations import migrate
from worker.models import Article
from worker.store.stories import CANDIDATES_SQL
from worker.stories import fingerprint as dedupe
from worker.stories.decide import CANDIDATES_PER_KEY
from worker.stories.fingerprint import content_hash, fingerprint

DB_NAME = "wirefeed_bench_dedupe"
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "stories"
KEYS_PER_ARTICLE = dedupe.BANDS + dedupe.LEAD_KEYS + 1
HOT_SHARE = 0.02
HOT_POOL = 500
CHUNK = 100_000
ROUNDS = 7  # measurement rounds per size, sizes alternating (the machine may be shared)
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_TRAILER = struct.pack(">h", -1)

_BAND_ROW = np.dtype([("n", ">i2"), ("l1", ">i4"), ("key", ">i8"), ("l2", ">i4"), ("id", ">i8")])
_FP_ROW = np.dtype([("n", ">i2"), ("l1", ">i4"), ("id", ">i8"), ("l2", ">i4"), ("scheme", ">i2"),
                    ("l3", ">i4"), ("sig", f"V{4 * dedupe.NUM_PERM}"), ("l4", ">i4"), ("sc", ">i4"),
                    ("l5", ">i4"), ("wc", ">i4")])


def _conninfo(base: str, dbname: str) -> str:
    return psycopg.conninfo.make_conninfo(base, dbname=dbname)


def corpus() -> list[tuple[str, str]]:
    docs = []
    for name in ("docs_a.json", "docs_b.json"):
        for d in json.loads((DATA / name).read_text(encoding="utf-8")).values():
            docs.append((d["title"], "\n\n".join(d["paras"])))
    return docs


def _band_rows(first_id: int, n: int, rng: np.random.Generator, hot: np.ndarray) -> bytes:
    rows = np.empty(n * KEYS_PER_ARTICLE, dtype=_BAND_ROW)
    rows["n"], rows["l1"], rows["l2"] = 2, 8, 8
    keys = rng.integers(-(2**63), 2**63 - 1, rows.size, dtype=np.int64)
    is_hot = rng.random(rows.size) < HOT_SHARE
    keys[is_hot] = rng.choice(hot, int(is_hot.sum()))
    rows["key"] = keys
    rows["id"] = np.repeat(np.arange(first_id, first_id + n, dtype=np.int64), KEYS_PER_ARTICLE)
    return rows.tobytes()


def _fp_rows(first_id: int, n: int, rng: np.random.Generator) -> bytes:
    rows = np.empty(n, dtype=_FP_ROW)
    rows["n"], rows["l1"], rows["l2"], rows["l3"], rows["l4"], rows["l5"] = 5, 8, 2, 4 * dedupe.NUM_PERM, 4, 4
    rows["id"] = np.arange(first_id, first_id + n, dtype=np.int64)
    rows["scheme"] = dedupe.SCHEME
    rows["sig"] = np.frombuffer(rng.bytes(n * 4 * dedupe.NUM_PERM), dtype=f"V{4 * dedupe.NUM_PERM}")
    rows["sc"] = rng.integers(100, 600, n)
    rows["wc"] = rows["sc"] + 2
    return rows.tobytes()


def _article_lines(first_id: int, n: int) -> Iterator[bytes]:
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        yield "".join(
            f"Synthetic story {first_id + i}\tsynthetic body {first_id + i}\t2025-01-01 00:00:00+00\t"
            f"bench-{first_id + i}\t{first_id + i}\n" for i in range(start, stop)
        ).encode()


def grow(conn: psycopg.Connection, target: int, rng: np.random.Generator, hot: np.ndarray) -> float:
    """Add synthetic articles until there are ``target``; returns seconds spent."""
    t0 = time.perf_counter()
    have = conn.execute("SELECT count(*) FROM articles").fetchone()[0]  # type: ignore[index]
    n = target - have
    if n <= 0:
        return 0.0
    first_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM articles").fetchone()[0]  # type: ignore[index]
    # rolled-back probes consumed identity values: restart right after the last stored row
    conn.execute("SELECT setval(pg_get_serial_sequence('articles', 'id'), %s, false)", (first_id,))
    conn.execute("DROP INDEX IF EXISTS article_bands_key_idx")
    # Synthetic rows need no per-row triggers (e.g. the consumers' commit-order cursor of migration 0004);
    # they are switched back on before measuring, so the probes pay what production pays.
    conn.execute("ALTER TABLE articles DISABLE TRIGGER USER")
    with conn.cursor() as cur:
        with cur.copy("COPY articles (title, content_text, published_at, content_hash, story_id) FROM STDIN") as cp:
            for chunk in _article_lines(first_id, n):
                cp.write(chunk)
        got = conn.execute("SELECT min(id), max(id) FROM articles WHERE id >= %s", (first_id,)).fetchone()
        assert got == (first_id, first_id + n - 1), f"unexpected ids {got}"
        with cur.copy("COPY article_fingerprints (article_id, scheme, signature, shingle_count, word_count) "
                      "FROM STDIN (FORMAT BINARY)") as cp:
            cp.write(_HEADER)
            for s in range(0, n, CHUNK):
                cp.write(_fp_rows(first_id + s, min(CHUNK, n - s), rng))
            cp.write(_TRAILER)
        with cur.copy("COPY article_bands (band_key, article_id) FROM STDIN (FORMAT BINARY)") as cp:
            cp.write(_HEADER)
            for s in range(0, n, CHUNK):
                cp.write(_band_rows(first_id + s, min(CHUNK, n - s), rng, hot))
            cp.write(_TRAILER)
    conn.execute("CREATE INDEX article_bands_key_idx ON article_bands (band_key, article_id)")
    conn.execute("ALTER TABLE articles ENABLE TRIGGER USER")
    conn.commit()
    conn.autocommit = True
    conn.execute("VACUUM ANALYZE article_bands")
    conn.execute("VACUUM ANALYZE article_fingerprints")
    conn.execute("VACUUM ANALYZE articles")
    conn.autocommit = False
    return time.perf_counter() - t0


def _article(title: str, text: str, i: int) -> Article:
    url = f"https://probe.example/{i}"
    return Article(guid=url, link=url, url=url, title=title, summary=None, content_html=None, content_text=text,
                   author=None, publisher=None, syndicator=None, language="en",
                   published_at=datetime(2025, 9, 16, tzinfo=UTC), published_raw=None,
                   content_hash=content_hash(text, title, url))


def _lookup_pass(conn: psycopg.Connection, fps: list[dedupe.Fingerprint], hot: np.ndarray, rep: int) -> list[float]:
    """The candidate query + prefilter alone, each probe with one hot key added."""
    out = []
    for i, fp in enumerate(fps):
        hot_fp = dataclasses.replace(fp, lead_keys=[*fp.lead_keys, int(hot[(i + rep) % hot.size])])
        t0 = time.perf_counter()
        stories.find_candidates(conn, 0, hot_fp)
        out.append((time.perf_counter() - t0) * 1000)
    conn.rollback()
    return out


def _assign_pass(conn: psycopg.Connection, probes: list[tuple[str, str]]) -> tuple[list[float], int]:
    """The whole story decision per article, in a transaction that is rolled back."""
    out, linked = [], 0
    with conn.transaction(force_rollback=True):
        for i, (t, x) in enumerate(probes):
            a = _article(t, x, i)
            aid = conn.execute(
                "INSERT INTO articles (url, title, content_text, published_at, content_hash) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING id",
                (a.url, a.title, a.content_text, a.published_at, a.content_hash),
            ).fetchone()[0]  # type: ignore[index]
            t0 = time.perf_counter()
            link = stories.assign_stories(conn, [(aid, a)])[aid]
            out.append((time.perf_counter() - t0) * 1000)
            linked += link.linked_to is not None
    return out, linked


def _plan(conn: psycopg.Connection, fp: dedupe.Fingerprint, hot_key: int) -> tuple[list[str], int]:
    fp = dataclasses.replace(fp, lead_keys=[*fp.lead_keys, hot_key])
    plan = [r[0] for r in conn.execute(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) " + CANDIDATES_SQL,
        {"keys": fp.keys, "per_key": CANDIDATES_PER_KEY, "exclude": "{}"},
    ).fetchall()]
    conn.rollback()
    hits = re.search(r"Buffers: shared hit=(\d+)(?: read=(\d+))?", "\n".join(plan))
    return plan, sum(int(g) for g in hits.groups() if g) if hits else -1


def measure(conns: dict[int, psycopg.Connection], probes: list[tuple[str, str]],
            hot: np.ndarray) -> dict[int, dict[str, object]]:
    """All sizes measured in alternation (round 0 warms up), so a busy machine slows every size alike."""
    fps = [fingerprint(t, x) for t, x in probes]
    lookup: dict[int, list[float]] = {n: [] for n in conns}
    assign: dict[int, list[float]] = {n: [] for n in conns}
    linked: dict[int, int] = {}
    for rep in range(ROUNDS + 1):
        for n, conn in conns.items():
            ms = _lookup_pass(conn, fps, hot, rep)
            a_ms, linked[n] = _assign_pass(conn, probes)
            if rep:
                lookup[n] += ms
                assign[n] += a_ms
    out: dict[int, dict[str, object]] = {}
    for n, conn in conns.items():
        plan, buffers = _plan(conn, fps[0], int(hot[0]))
        out[n] = {
            "buffers": buffers,
            "lookup_ms_median": statistics.median(lookup[n]),
            "lookup_ms_p95": statistics.quantiles(lookup[n], n=20)[-1],
            "assign_ms_median": statistics.median(assign[n]),
            "assign_ms_p95": statistics.quantiles(assign[n], n=20)[-1],
            "linked": linked[n],
            "probes": len(probes),
            "plan": plan,
        }
    return out


def fingerprint_rate(probes: list[tuple[str, str]], seconds: float = 3.0) -> tuple[float, int]:
    base = " ".join(x for _, x in probes)
    texts = [base[(i * 997) % (len(base) - 3000):][:3000] for i in range(500)]
    n, t0 = 0, time.process_time()  # CPU time of this process: "per core", whatever else runs
    while time.process_time() - t0 < seconds:
        for t in texts:
            fingerprint("A title", t)
        n += len(texts)
    return n / (time.process_time() - t0), len(texts[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--admin-url", default=os.environ.get("WIREFEED_BENCH_ADMIN_URL", "postgresql://127.0.0.1:5432/postgres"))
    ap.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    probes = corpus()
    rate, size = fingerprint_rate(probes)
    print(f"fingerprint: {rate:,.0f} texts/s on one core ({size}-character texts; MinHash-{dedupe.NUM_PERM}, "
          f"{dedupe.BANDS} bands, {KEYS_PER_ARTICLE} keys per article)")

    names = {n: f"{DB_NAME}_{n}" for n in sizes}  # one scratch database per size, measured side by side
    rng = np.random.default_rng(42)
    hot = rng.integers(-(2**63), 2**63 - 1, HOT_POOL, dtype=np.int64)
    results: list[tuple[int, dict[str, object]]] = []
    conns: dict[int, psycopg.Connection] = {}
    loaded: dict[int, tuple[float, int]] = {}
    try:
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            for name in names.values():
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for n, name in names.items():
            conn = conns[n] = psycopg.connect(_conninfo(args.admin_url, name))
            migrate(conn)
            conn.execute("ALTER TABLE article_fingerprints ALTER COLUMN keys SET DEFAULT '{}'")  # synthetic rows
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET synchronous_commit = off")
            conn.commit()
            took = grow(conn, n, rng, hot)
            bands = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'article_bands'"
                                 ).fetchone()[0]  # type: ignore[index]
            conn.rollback()
            loaded[n] = (took, int(bands))
        measured = measure(conns, probes, hot)
        for n in sizes:
            m = measured[n]
            results.append((n, m))
            took, bands = loaded[n]
            print(f"\n== {n:,} stored articles ({bands:,} band rows; loaded in {took:.1f} s)")
            print(f"lookup per article: median {m['lookup_ms_median']:.2f} ms, p95 {m['lookup_ms_p95']:.2f} ms")
            print(f"assign per article: median {m['assign_ms_median']:.2f} ms, p95 {m['assign_ms_p95']:.2f} ms "
                  f"({m['linked']} of {m['probes']} probes linked to an earlier probe)")
            print(f"buffers touched by one lookup ({KEYS_PER_ARTICLE + 1} keys, one hot): {m['buffers']}")
            print("plan of the candidate query (one probe, one hot key):")
            for line in m["plan"]:  # type: ignore[attr-defined]
                print("   ", line)
    finally:
        for conn in conns.values():
            conn.close()
        if not args.keep:
            with psycopg.connect(args.admin_url, autocommit=True) as admin:
                for name in names.values():
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    if len(results) >= 2:
        (n0, m0), (n1, m1) = results[0], results[-1]
        for k in ("buffers", "lookup_ms_median", "assign_ms_median"):
            ratio = float(m1[k]) / float(m0[k])  # type: ignore[arg-type]
            print(f"\n{k}: {n1:,} / {n0:,} = {ratio:.2f}x (target: at most 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
