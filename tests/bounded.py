"""Run one pure call in a child process under hard resource limits, and say what it cost.

The child imports the pure layers first, then limits itself: ``RLIMIT_AS`` to what it holds plus ``mem_mb``
(an input that needs more gets a MemoryError instead of taking the machine), ``RLIMIT_CPU`` to what it used plus
``cpu_s`` (an input that spins longer is killed by SIGXCPU). It reports the CPU seconds the call used, the growth
of its peak resident set (VmHWM) over the resident set before the call, and the call's result or the exception it
raised (class, the classes it derives from, message). These are limits the kernel enforces, not timings compared
after the fact: the numbers are printed for the record, never asserted against a clock.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.session_guard import run_dir

_CHILD = r"""
import importlib, pickle, resource, sys, time
import worker.errors, worker.normalize.entry, worker.pages.extract, worker.parse.feed  # before the limits
target, args, kwargs, cpu_s, mem_mb = pickle.loads(sys.stdin.buffer.read())
module, _, name = target.partition(":")
fn = getattr(importlib.import_module(module), name)

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0

limit = status("VmSize") + mem_mb * 1024 * 1024
as_hard = resource.getrlimit(resource.RLIMIT_AS)[1]
resource.setrlimit(resource.RLIMIT_AS, (limit, as_hard))  # soft limits: the hard ones stay, to be restored
used = time.process_time()
resource.setrlimit(resource.RLIMIT_CPU, (int(used + cpu_s) + 1, resource.getrlimit(resource.RLIMIT_CPU)[1]))
rss_before = status("VmRSS")
t0 = time.process_time()
out = {"error": None}
try:
    out["result"] = fn(*args, **kwargs)
except BaseException as exc:
    out["error"] = (type(exc).__name__, [c.__module__ + "." + c.__qualname__ for c in type(exc).__mro__],
                    str(exc)[:500])
out["cpu_s"] = time.process_time() - t0
out["peak_growth_mb"] = max(0, status("VmHWM") - rss_before) / 2**20
resource.setrlimit(resource.RLIMIT_AS, (as_hard, as_hard))
try:
    data = pickle.dumps(out)
except Exception as exc:
    data = pickle.dumps({**out, "result": repr(exc)})
sys.stdout.buffer.write(data)
"""


@dataclass
class Cost:
    returncode: int
    cpu_s: float | None
    peak_growth_mb: float | None
    result: Any
    error: tuple[str, list[str], str] | None
    stderr: str

    @property
    def finished(self) -> bool:
        """The call returned or raised inside the limits (not killed for CPU, not out of memory)."""
        return self.returncode == 0 and (self.error is None or self.error[0] != "MemoryError")

    def raised(self, qualname: str) -> bool:
        return self.error is not None and qualname in self.error[1]

    def __str__(self) -> str:
        return (f"rc={self.returncode} cpu={self.cpu_s}s peak+={self.peak_growth_mb}MB error={self.error} "
                f"stderr={self.stderr[-500:]!r}")


def run_bounded(target: str, *args: Any, cpu_s: float = 5.0, mem_mb: int = 256, **kwargs: Any) -> Cost:
    """Call ``target`` ("package.module:function") with ``args`` in a limited child. The function's result must
    pickle; return something small (a summary), not a whole feed."""
    payload = pickle.dumps((target, args, kwargs, cpu_s, mem_mb))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.run([sys.executable, "-c", _CHILD], input=payload, capture_output=True, cwd=run_dir(),
                          env=env, timeout=cpu_s * 4 + 60)
    if proc.returncode != 0 or not proc.stdout:
        return Cost(proc.returncode or -1, None, None, None, None, proc.stderr.decode(errors="replace"))
    out = pickle.loads(proc.stdout)
    return Cost(0, round(out["cpu_s"], 3), round(out["peak_growth_mb"], 1), out.get("result"), out["error"],
                proc.stderr.decode(errors="replace"))


# --- summaries the child returns (small, picklable) -----------------------------------------------------------


def parse_summary(body: bytes, url: str, content_type: str | None = None) -> dict[str, Any]:
    """:func:`worker.parse.feed.parse_feed` on ``body``: which parser, how many entries, the longest text field."""
    from worker.parse.feed import parse_feed

    feed = parse_feed(body, url, content_type)
    texts = [feed.meta.title or ""] + [t or "" for e in feed.entries for t in (e.title, e.summary, e.content)]
    return {"parser": feed.parser, "entries": len(feed.entries), "title": (feed.meta.title or "")[:200],
            "longest_text": max(map(len, texts)), "warnings": feed.warnings[:5],
            "entry_titles": [(e.title or "")[:100] for e in feed.entries[:20]]}


def summarize(target: str, *args: Any) -> dict[str, Any]:
    """``target`` ("package.module:function") called with ``args``: the type, size and start of what it returned."""
    import importlib

    module, _, name = target.partition(":")
    out = getattr(importlib.import_module(module), name)(*args)
    text = "\n".join(map(str, out)) if isinstance(out, list) else str(out)
    return {"type": type(out).__name__, "len": len(text), "head": text[:200]}


def normalize_summary(title: str, summary: str, author: str, category: str, feed_title: str) -> dict[str, Any]:
    """One entry with hostile fields through :func:`worker.normalize.entry.normalize_entries`."""
    from datetime import UTC, datetime

    from worker.models import FeedMeta, RawEntry
    from worker.normalize.entry import normalize_entries

    raw = RawEntry(guid="hostile-1", link="https://hostile.example.org/1", title=title, summary=summary,
                   content="<p>Plain body text of the hostile entry about the harbour.</p>", authors=[author],
                   categories=[category])
    meta = FeedMeta(url="https://hostile.example.org/feed.xml", title=feed_title)
    articles, skipped = normalize_entries([raw], meta, datetime(2026, 3, 2, tzinfo=UTC))
    a = articles[0] if articles else None
    return {"stored": len(articles), "skipped": skipped,
            "lengths": {k: len(str(getattr(a, k) or "")) for k in ("title", "summary", "author")} if a else {}}
