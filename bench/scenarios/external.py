"""Scenarios owned by other modules' benchmarks, run as they are (child processes) and folded into the report:

- ``bench.dedupe_bench``: near-duplicate lookup and whole story decision per article with 10k, 100k
  and 1M articles stored (synthetic rows loaded by COPY; its own scratch database);
- ``bench.normalize_bench``: normalise-only rate beside feedparser on the shared corpus and on
  generated feeds.
Their text output is kept verbatim in the report's appendix; the figures are read from it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bench.scenarios._util import PYTHON, run_child

_SIZE = re.compile(r"^== ([\d,]+) stored articles")
_LOOKUP = re.compile(r"lookup per article: median ([\d.]+) ms, p95 ([\d.]+) ms")
_ASSIGN = re.compile(r"assign per article: median ([\d.]+) ms, p95 ([\d.]+) ms")
_FP = re.compile(r"fingerprint: ([\d,.]+) texts/s")
_BUFFERS = re.compile(r"buffers touched by one lookup[^:]*: (\d+)")


def dedupe(sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)) -> dict[str, Any]:
    run = run_child([PYTHON, "-m", "bench.dedupe_bench", "--sizes", ",".join(map(str, sizes))], {})
    out: dict[str, Any] = {"returncode": run.returncode, "wall_s": run.wall_s, "output": run.stdout,
                           "stderr": run.stderr[-3000:], "sizes": {}}
    current: int | None = None
    for line in run.stdout.splitlines():
        if m := _FP.search(line):
            out["fingerprints_per_s"] = float(m.group(1).replace(",", ""))
        elif m := _SIZE.search(line):
            current = int(m.group(1).replace(",", ""))
            out["sizes"][current] = {}
        elif current is not None and (m := _LOOKUP.search(line)):
            out["sizes"][current].update(lookup_ms=float(m.group(1)), lookup_p95_ms=float(m.group(2)))
        elif current is not None and (m := _ASSIGN.search(line)):
            out["sizes"][current].update(assign_ms=float(m.group(1)), assign_p95_ms=float(m.group(2)))
        elif current is not None and (m := _BUFFERS.search(line)):
            out["sizes"][current].update(buffers=int(m.group(1)))
    return out


def normalize(generated: int = 20, repeat: int = 2) -> dict[str, Any]:
    run = run_child([PYTHON, "-m", "bench.normalize_bench", "--json", "--generated", str(generated),
                     "--repeat", str(repeat)], {})
    out: dict[str, Any] = {"returncode": run.returncode, "wall_s": run.wall_s, "stderr": run.stderr[-3000:]}
    try:
        out["sets"] = json.loads(run.stdout)
    except ValueError:
        out["sets"] = {}
        out["output"] = run.stdout[-3000:]
    return out
