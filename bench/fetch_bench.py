"""Fetch throughput against a loopback server that adds latency: ``python -m bench.fetch_bench``.

A server subprocess answers ``/feed/N`` after ``--latency`` seconds (default 0.1). Feed N is:
- changed (N % 10 == 0): a fresh ~230 KB RSS body the client has not seen;
- 304 (odd N): the client sends the stored ETag and gets ``304 Not Modified``;
- unchanged body (the rest): no validators, the same ~230 KB body again, caught by its hash.

The client runs ``worker.fetch.http.fetch_feed_body`` (the real policy: SSRF guard, deadline, byte cap, hashing)
on a thread pool, as the Celery fetch queue does, and reports feeds/second and CPU seconds per 1,000
fetches of each kind (thread CPU time per fetch), plus the parse CPU a changed body adds afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ITEMS = 50
WORDS = ["market", "government", "report", "city", "minister", "council", "water", "energy", "school",
         "health", "court", "police", "election", "budget", "climate", "transport", "village", "festival",
         "research", "company", "football", "museum"]


def rss(seed: int) -> bytes:
    rng = random.Random(seed)
    items = []
    for i in range(ITEMS):
        text = " ".join(rng.choice(WORDS) for _ in range(650))
        items.append(
            f"<item><title>Story {seed}-{i}</title><link>https://news.example/{seed}/{i}</link>"
            f"<guid>{seed}-{i}</guid><pubDate>Mon, 01 Jun 2026 {i % 24:02d}:00:00 GMT</pubDate>"
            f"<description><![CDATA[<p>{text}</p>]]></description></item>")
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Bench {seed}</title>'
            f"<link>https://news.example/</link>{''.join(items)}</channel></rss>").encode()


def kind_of(n: int) -> str:
    if n % 10 == 0:
        return "changed"
    return "304" if n % 2 else "unchanged"


# --- server (runs in its own process so its CPU is not counted) -------------------------------------

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    latency = 0.1
    body = b""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(self.latency)
        n = int(self.path.rsplit("/", 1)[1])
        kind = kind_of(n)
        if kind == "304" and self.headers.get("If-None-Match") == f'"{n}"':
            self.send_response(304)
            self.send_header("ETag", f'"{n}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        if kind == "304":
            self.send_header("ETag", f'"{n}"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


def serve(latency: float) -> None:
    _Handler.latency = latency
    _Handler.body = rss(1)
    httpd = _Server(("127.0.0.1", 0), _Handler)
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


# --- client -------------------------------------------------------------------------------------------

def run(feeds: int, threads: int, latency: float) -> dict[str, object]:
    from worker.fetch.http import body_hash, fetch_feed_body
    from worker.parse.feed import parse_feed
    from worker.settings import Settings

    server = subprocess.Popen([sys.executable, "-m", "bench.fetch_bench", "--serve", "--latency", str(latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        settings = Settings(allow_private_addresses=True)  # type: ignore[call-arg]
        known_hash = body_hash(rss(1))

        def one(n: int) -> tuple[str, float, str]:
            kind = kind_of(n)
            t0 = time.thread_time()
            out = fetch_feed_body(
                f"http://127.0.0.1:{port}/feed/{n}",
                etag=f'"{n}"' if kind == "304" else None, last_modified=None,
                previous_body_hash=None if kind == "changed" else known_hash, settings=settings,
            )
            return kind, time.thread_time() - t0, out.outcome

        one(1)  # warm up imports and the TLS context
        cpu0, wall0 = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(one, range(feeds)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        server.terminate()
        server.wait()
    by: dict[str, list[float]] = {}
    for kind, spent, outcome in results:
        expected = "modified" if kind == "changed" else "not_modified"
        assert outcome == expected, (kind, outcome)
        by.setdefault(kind, []).append(spent)
    body = rss(1)
    t0 = time.process_time()
    for _ in range(5):
        parse_feed(body, "https://news.example/feed")
    parse_cpu = (time.process_time() - t0) / 5
    per_k = {k: round(statistics.fmean(v) * 1000, 3) for k, v in by.items()}
    changed_total = per_k["changed"] + parse_cpu * 1000
    return {
        "feeds": feeds, "threads": threads, "latency_s": latency, "cores": os.cpu_count(),
        "wall_s": round(wall, 2), "feeds_per_s": round(feeds / wall, 1),
        "cpu_s_per_1000_fetches": round(cpu / feeds * 1000, 2),
        "fetch_cpu_s_per_1000_by_kind": per_k,
        "parse_cpu_s_per_changed_feed": round(parse_cpu, 4),
        "unchanged_304_cost_vs_changed_fetch_and_parse": f"{per_k['304'] / changed_total:.1%}",
        "unchanged_body_cost_vs_changed_fetch_and_parse": f"{per_k['unchanged'] / changed_total:.1%}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--feeds", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.latency)
        return 0
    print(json.dumps(run(args.feeds, args.threads, args.latency), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
