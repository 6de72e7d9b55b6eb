"""The page stage's cost: ``python -m bench.pages_bench [--items N] [--repeat N] [--json]``.

1. Extraction alone, one core: :func:`worker.pages.extract_page` on every page of the labelled set
   (``tests/data/pages``, 25 real pages of 25 templates), CPU time per call (``time.process_time``, median of
   ``--repeat`` runs per page), then the median and p95 over pages and pages per second per core.
2. An ingest of a summary-only feed, in-process as ``wirefeed ingest URL`` runs it: a generated feed of
   ``--items`` one-sentence items whose ~450-word article pages (navigation, related links and a footer
   around the article) are served by a loopback ``http.server`` in another process (so its CPU is not
   counted). The feed step (fetch, parse, normalise, dedupe, store) and the page step (robots.txt, every
   page fetched, extracted and stored, stories decided again) are timed apart, wall and this process's CPU;
   the page step's share of the whole is what the sizing needs. A scratch database next to ``DATABASE_URL``
   is created and dropped; Redis is not used (robots.txt is kept in the process, host limits are off).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from html import escape
from pathlib import Path
from typing import Any

WORDS = ("minister", "council", "water", "energy", "school", "health", "court", "police", "election", "budget",
         "climate", "transport", "village", "festival", "research", "company", "football", "museum", "harbour",
         "railway", "drought", "parliament", "hospital", "farmers", "exports", "currency", "talks", "treaty",
         "border", "rainfall", "mayor", "coalition", "strike", "teachers", "bridge", "airport")


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def extraction(repeat: int) -> dict[str, Any]:
    from bench.pages_eval import load_pages
    from worker.pages import extract_page

    per_page: list[float] = []
    for page in load_pages():
        runs = []
        for _ in range(repeat):
            t = time.process_time()
            extract_page(page.html, page.url)
            runs.append(time.process_time() - t)
        per_page.append(statistics.median(runs))
    mean = statistics.fmean(per_page)
    return {"pages": len(per_page), "cpu_ms_median": round(statistics.median(per_page) * 1000, 1),
            "cpu_ms_p95": round(_p95(per_page) * 1000, 1), "cpu_ms_mean": round(mean * 1000, 1),
            "pages_per_second_per_core": round(1 / mean, 1)}


def _sentence(rng: random.Random, n: int) -> str:
    words = [rng.choice(WORDS) for _ in range(n)]
    return " ".join(words).capitalize() + "."


def _site(directory: Path, items: int, base: str, seed: int = 7) -> None:
    rng = random.Random(seed)
    nav = "".join(f'<a href="/section/{i}">Section {i}</a> ' for i in range(25))
    entries = []
    for i in range(items):
        title = f"Story {i}: " + _sentence(rng, 7)[:-1]
        paragraphs = [_sentence(rng, 30) for _ in range(15)]
        related = "".join(f'<li><a href="/story/{rng.randrange(items)}.html">{_sentence(rng, 8)}</a></li>'
                          for _ in range(8))
        html = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)} | Example "
                f"News</title><meta property='og:type' content='article'><link rel='canonical' "
                f"href='https://news.example/story/{i}.html'></head><body><header><nav>{nav}</nav></header>"
                f"<main><article><h1>{escape(title)}</h1><p class='byline'>By Staff Reporter</p>"
                + "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
                + f"</article><aside><h2>Related</h2><ul>{related}</ul></aside></main><footer><p>Copyright "
                  "2026 Example News. All rights reserved.</p></footer></body></html>")
        (directory / "story").mkdir(exist_ok=True)
        (directory / "story" / f"{i}.html").write_text(html, encoding="utf-8")
        entries.append(f"<item><title>{escape(title)}</title><link>{base}/story/{i}.html</link>"
                       f"<guid isPermaLink='false'>s{i}</guid><pubDate>Mon, 01 Jun 2026 08:00:00 GMT</pubDate>"
                       f"<description>{escape(paragraphs[0])}</description></item>")
    (directory / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    (directory / "feed.rss").write_text("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
                                        "<title>Example News</title>" + "".join(entries) + "</channel></rss>",
                                        encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ingest(items: int) -> dict[str, Any]:
    import psycopg
    from psycopg import sql

    from worker import pipeline
    from worker.fetch.robots import Robots
    from worker.migrations import migrate
    from worker.settings import load_settings
    from worker.store.db import connect

    admin = os.environ.get("DATABASE_URL", "postgresql://127.0.0.1:5432/postgres")
    name = f"wirefeed_pages_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(psycopg.conninfo.make_conninfo(admin, dbname="postgres"), autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin, dbname=name)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        _site(Path(tmp), items, f"http://127.0.0.1:{port}")
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            os.environ.update({"DATABASE_URL": url, "WIREFEED_ALLOW_PRIVATE_ADDRESSES": "true",
                               "WIREFEED_FETCH_PAGES": "auto", "WIREFEED_HOST_MIN_GAP_SECONDS": "0"})
            settings = load_settings()
            # no Redis: robots.txt kept in this process, no host limits (their cost is one Redis script call per
            # request; leaving them out keeps the benchmark off any Redis database a test session may hold)
            robots = Robots(settings, client=None, politeness=None)
            with connect(url) as conn:
                migrate(conn)
                w0, c0 = time.perf_counter(), time.process_time()
                report = pipeline.ingest_url(conn, settings, f"http://127.0.0.1:{port}/feed.rss")
                w1, c1 = time.perf_counter(), time.process_time()
                pipeline.fetch_pages_now(conn, settings, report, robots=robots, politeness=None)
                w2, c2 = time.perf_counter(), time.process_time()
                with conn.transaction():
                    sources = dict(conn.execute("SELECT text_source, count(*) FROM articles GROUP BY 1").fetchall())
        finally:
            server.terminate()
            server.wait()
            with psycopg.connect(psycopg.conninfo.make_conninfo(admin, dbname="postgres"), autocommit=True) as c:
                c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    feed_wall, page_wall = w1 - w0, w2 - w1
    feed_cpu, page_cpu = c1 - c0, c2 - c1
    return {"items": items, "new_articles": report.new_articles, "pages": report.pages, "text_source": sources,
            "feed_step_wall_s": round(feed_wall, 3), "page_step_wall_s": round(page_wall, 3),
            "feed_step_cpu_s": round(feed_cpu, 3), "page_step_cpu_s": round(page_cpu, 3),
            "page_share_wall": round(page_wall / (feed_wall + page_wall), 3),
            "page_share_cpu": round(page_cpu / (feed_cpu + page_cpu), 3),
            "page_cpu_ms_per_item": round(page_cpu / items * 1000, 1),
            "page_wall_ms_per_item": round(page_wall / items * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--items", type=int, default=200, help="items in the generated summary feed (default 200)")
    p.add_argument("--repeat", type=int, default=5, help="runs per labelled page (default 5)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    result = {"extraction": extraction(args.repeat), "ingest": ingest(args.items)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    e, i = result["extraction"], result["ingest"]
    print(f"extraction: {e['pages']} labelled pages, CPU per page median {e['cpu_ms_median']} ms, p95 "
          f"{e['cpu_ms_p95']} ms, mean {e['cpu_ms_mean']} ms: {e['pages_per_second_per_core']} pages/s per core")
    print(f"ingest of a {i['items']}-item summary feed: feed step {i['feed_step_wall_s']} s wall / "
          f"{i['feed_step_cpu_s']} s CPU; page step {i['page_step_wall_s']} s wall / {i['page_step_cpu_s']} s CPU "
          f"({i['page_wall_ms_per_item']} ms wall, {i['page_cpu_ms_per_item']} ms CPU per page); the page step is "
          f"{i['page_share_wall']:.0%} of the wall time and {i['page_share_cpu']:.0%} of this process's CPU; "
          f"pages {i['pages']}, text_source {i['text_source']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
