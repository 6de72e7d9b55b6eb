"""One tree's pipeline in-process, for the side-by-side cost scenario (``bench/scenarios/costs.py``).

    <tree>/.venv/bin/python bench/cost_child.py DATABASE_URL FEED...

Run by the Python of the tree being measured (so ``worker`` is that tree's code, this file only measures):
the first feed warms up (imports, language model), the others go through ``pipeline.ingest_file`` one after
the other. Prints one JSON object: new articles, wall, this process's CPU, its PostgreSQL backend's CPU (from
``/proc/<pid>/stat``), and the same split per pipeline stage. Stages are timed exclusively (a stage called
inside another, such as the story decision inside ``store_batch``, is not counted twice); a stage a tree does
not have is simply absent. Only the standard library and the measured tree's ``worker`` are imported.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# (module attribute path from worker.pipeline, function name)
STAGES = (
    ("", "parse_feed"),
    ("article_store", "known_entries"),
    ("", "normalize_entries"),
    ("article_store", "store_batch"),
    ("", "assign_stories"),  # before the one-write change: after the insert
    ("", "decide_stories"),  # before the insert (called inside store_batch)
    ("", "write_stories"),
    ("feed_store", "apply_update"),
    ("article_store", "notify_new"),
)


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(url: str, paths: list[Path]) -> dict[str, Any]:
    from worker import pipeline
    from worker.settings import Settings
    from worker.store.db import connect

    settings = Settings(DATABASE_URL=url)  # type: ignore[call-arg]
    totals: dict[str, list[float]] = {}
    stack: list[list[float]] = []
    with connect(url) as conn:
        pid = int(conn.execute("SELECT pg_backend_pid()").fetchone()[0])  # type: ignore[index]
        conn.commit()

        def now() -> list[float]:
            return [time.perf_counter(), time.process_time(), backend_cpu(pid)]

        for owner, name in STAGES:
            mod = getattr(pipeline, owner) if owner else pipeline
            fn = getattr(mod, name, None)
            if fn is None:
                continue

            def wrapper(*a: Any, __fn: Callable[..., Any] = fn, __name: str = name, **k: Any) -> Any:
                start = now()
                stack.append([0.0, 0.0, 0.0])
                try:
                    return __fn(*a, **k)
                finally:
                    inner = stack.pop()
                    incl = [b - s for b, s in zip(now(), start, strict=True)]
                    t = totals.setdefault(__name, [0.0, 0.0, 0.0])
                    for i in range(3):
                        t[i] += incl[i] - inner[i]
                    if stack:
                        for i in range(3):
                            stack[-1][i] += incl[i]

            setattr(mod, name, wrapper)
        pipeline.ingest_file(conn, settings, paths[0])  # warm-up: not counted
        totals.clear()
        before = int(conn.execute("SELECT count(*) FROM articles").fetchone()[0])  # type: ignore[index]
        conn.commit()
        w0, c0, b0 = now()
        entries = sum(pipeline.ingest_file(conn, settings, p).entries for p in paths[1:])
        w1, c1, b1 = now()
        new = int(conn.execute("SELECT count(*) FROM articles").fetchone()[0]) - before  # type: ignore[index]
        conn.commit()
    return {"entries": entries, "new": new, "wall_s": w1 - w0, "cpu_s": c1 - c0, "backend_cpu_s": b1 - b0,
            "stages": totals}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], [Path(p) for p in sys.argv[2:]])))
