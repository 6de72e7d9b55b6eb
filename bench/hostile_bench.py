"""Hostile inputs, measured on any checkout: CPU time and peak memory of each, one child process per case.

    .venv/bin/python -m bench.hostile_bench [--tree /path/to/a/checkout] [--only NAME ...]

The bodies are made here (from ``tests/faults/hostile.py`` of this checkout); each case runs in a child that imports
``worker`` from ``--tree`` (default: this checkout), so the same inputs can be timed on main and on a branch. A
child is capped at 2 GB of address space and 120 s of CPU (a case over them reports that instead of taking the
machine) and ``--wall`` seconds of wall time (20 by default: a read that blocks forever). Peak memory is the
child's VmHWM less its resident set before the case.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, pickle, resource, sys, time
tree, case, args = pickle.loads(sys.stdin.buffer.read())
sys.path.insert(0, tree)
from pathlib import Path

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0

def parse(body):
    from worker.parse.feed import parse_feed
    f = parse_feed(body, "https://hostile.example.org/feed.xml")
    return f"{len(f.entries)} entries, feed title {len(f.meta.title or '')} chars, parser {f.parser}"

def ingest_pure(body):  # what process_body does before storing: parse, cap (where there is one), normalise
    from datetime import UTC, datetime
    import worker.parse.feed as feedmod
    from worker.normalize.entry import normalize_entries
    f = feedmod.parse_feed(body, "https://hostile.example.org/feed.json")
    if hasattr(feedmod, "cap_entries"):
        feedmod.cap_entries(f, 1000)
    articles, skipped = normalize_entries(f.entries, f.meta, datetime(2026, 3, 2, tzinfo=UTC))
    return f"{len(articles)} articles normalised (to be stored in one transaction)"

def call(target, *a):
    import importlib
    module, _, name = target.partition(":")
    out = getattr(importlib.import_module(module), name)(*a)
    return f"{type(out).__name__} of {len(out) if hasattr(out, '__len__') else out!r}"

def read_file(path):  # what the fetch step of a file:// feed does
    try:
        from worker.fetch.local import read_local_file
    except ImportError:
        return f"{len(Path(path).read_bytes())} bytes read"
    return f"{len(read_local_file(Path(path), 10 * 1024 * 1024))} bytes read"

import worker.parse.feed, worker.normalize.entry  # noqa: E401  (imports before the baseline)
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))
resource.setrlimit(resource.RLIMIT_CPU, (120, resource.getrlimit(resource.RLIMIT_CPU)[1]))
before = status("VmRSS")
t0 = time.process_time()
try:
    outcome = globals()[case](*args)
except BaseException as exc:
    outcome = f"raised {type(exc).__name__}: {str(exc)[:160]}"
cpu = time.process_time() - t0
print(json.dumps({"cpu_s": round(cpu, 3), "peak_mb": round((status("VmHWM") - before) / 2**20, 1),
                  "outcome": outcome}))
"""


def cases(tmp: Path) -> dict[str, tuple[str, tuple[Any, ...]]]:
    sys.path.insert(0, str(ROOT))
    from tests.faults import hostile

    title = ('<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item><title>x</title><author>'
             + "a" * 40_000 + "@</author></item></channel></rss>").encode()
    fifo = tmp / "fifo.xml"
    os.mkfifo(fifo)
    return {
        "1 DOCTYPE after a comment holding <x> and <![CDATA[": ("parse", (hostile.commented_doctype_bomb(),)),
        "2 title of 40,000 '<!--' (clean_line)": ("call", ("worker.normalize.html:clean_line", "<!--" * 40_000)),
        "2 summary of 40,000 '<script>' (loose paragraphs)": (
            "call", ("worker.normalize.html:loose_html_to_paragraphs", "<script>" * 40_000)),
        "2 author of 40 KB (feedparser's e-mail pattern)": ("parse", (title,)),
        "2 1 MB of '<??>' (sniff_format)": ("call", ("worker.parse.feed:sniff_format", b"<??>" * 262_144)),
        "5 file:///dev/zero": ("read_file", ("/dev/zero",)),
        "5 a FIFO without a writer": ("read_file", (str(fifo),)),
        "6 JSON Feed of 70,000 items (1.3 MB)": ("ingest_pure", (hostile.many_json_items(70_000),)),
        "7 JSON Feed with size_in_bytes '²'": ("parse", (hostile.json_bad_numbers(huge_literal=False),)),
        "7 JSON Feed with a 5,000-digit literal": ("parse", (hostile.json_bad_numbers(),)),
    }


def run(tree: Path, case: str, args: tuple[Any, ...], wall: float = 20.0) -> dict[str, Any]:
    payload = pickle.dumps((str(tree), case, args))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        done = subprocess.run([sys.executable, "-c", _CHILD], input=payload, capture_output=True, timeout=wall,
                              env=env, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired:
        return {"cpu_s": None, "peak_mb": None, "outcome": f"still running after {wall:.0f} s of wall time: killed"}
    if done.returncode != 0:
        return {"cpu_s": None, "peak_mb": None,
                "outcome": f"child died (exit {done.returncode}): {done.stderr.decode()[-200:].strip()}"}
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose worker package is measured")
    ap.add_argument("--only", nargs="*", default=[], help="run the cases whose name contains one of these")
    ap.add_argument("--wall", type=float, default=20.0, help="seconds of wall time before a case is killed")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, (case, case_args) in cases(Path(tmp)).items():
            if args.only and not any(o in name for o in args.only):
                continue
            r = run(args.tree.resolve(), case, case_args, args.wall)
            cpu = "-" if r["cpu_s"] is None else f"{r['cpu_s']:.3f} s"
            mem = "-" if r["peak_mb"] is None else f"{r['peak_mb']:.0f} MB"
            print(f"{name:55} cpu {cpu:>10}  peak +{mem:>7}  {r['outcome']}", flush=True)


if __name__ == "__main__":
    main()
