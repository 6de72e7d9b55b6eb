"""``wirefeed ingest`` as a user runs it (a child process, the installed console script), into a scratch database.

- ``first``: the files into an empty database (every entry new);
- ``again``: the same, unchanged files (the body hash matches: nothing is parsed);
- ``forced``: the same files with ``--force`` (parsed again, every entry known and unchanged: nothing is
  normalised or written but the feed state);
- ``memory``: one process ingesting many feeds; its peak RSS once 10k entries are stored and at the end.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.scenarios._util import WIREFEED, ChildRun, create_db, drop_db, rate, run_child


def _ingest(url: str, paths: list[Path], *extra: str, **kw: Any) -> tuple[ChildRun, dict[str, Any]]:
    run = run_child([WIREFEED, "ingest", "--json", *extra, *map(str, paths)],
                    {"DATABASE_URL": url, "WIREFEED_LOG_FORMAT": "json", "WIREFEED_LOG_LEVEL": "WARNING"}, **kw)
    if run.returncode != 0:
        raise RuntimeError(f"wirefeed ingest exited {run.returncode}: {run.stderr[-2000:]}")
    return run, json.loads(run.stdout)


def _summary(run: ChildRun, doc: dict[str, Any]) -> dict[str, Any]:
    totals = doc["totals"]
    entries = int(totals["entries"])
    inputs = doc["inputs"]
    pipeline_s = sum(float(i.get("duration_s") or 0) for i in inputs)
    return {
        "inputs": len(inputs),
        "entries": entries,
        "new_articles": int(totals["new_articles"]),
        "duplicates": int(totals["duplicates"]),
        "near_duplicates": int(totals["near_duplicates"]),
        "not_modified": sum(1 for i in inputs if i.get("not_modified")),
        "wall_s": run.wall_s,
        "pipeline_s": pipeline_s,  # inside process_body, summed over inputs (no start-up, no imports)
        "cpu_s": run.cpu_s,
        "machine_cpu_s": run.machine_cpu_s,
        "peak_rss_mib": run.peak_rss_mib,
        "entries_per_s": rate(entries, run.wall_s),
        "pipeline_entries_per_s": rate(entries, pipeline_s),
    }


def run(paths: list[Path], db_name: str = "wirefeed_bench_ingest") -> dict[str, Any]:
    url = create_db(db_name)
    try:
        first = _summary(*_ingest(url, paths))
        again = _summary(*_ingest(url, paths))
        forced = _summary(*_ingest(url, paths, "--force"))
        with psycopg.connect(url) as conn:
            stored = conn.execute(
                "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM article_sightings), "
                "(SELECT count(*) FROM articles WHERE story_id <> id)").fetchone()
    finally:
        drop_db(db_name)
    return {"first": first, "again": again, "forced": forced,
            "stored": {"articles": stored[0], "sightings": stored[1], "in_earlier_story": stored[2]}}


def run_memory(paths: list[Path], checkpoint: int = 10_000, db_name: str = "wirefeed_bench_memory") -> dict[str, Any]:
    """One ``wirefeed ingest`` over all ``paths``; VmHWM sampled twice a second beside the stored entry count."""
    url = create_db(db_name)
    marks: list[tuple[float, int, int]] = []  # (elapsed, sightings stored, VmHWM KiB)
    watch: list[psycopg.Connection] = []

    def stored() -> int:
        if not watch or watch[0].closed:
            watch[:] = [psycopg.connect(url, autocommit=True, connect_timeout=5)]
        return int(watch[0].execute("SELECT count(*) FROM article_sightings").fetchone()[0])  # type: ignore[index]

    def on_sample(elapsed: float, hwm: int) -> None:
        try:
            marks.append((elapsed, stored(), hwm))
        except psycopg.Error:  # the sample is lost, not the run
            watch.clear()

    try:
        run, doc = _ingest(url, paths, sample_every=0.5, on_sample=on_sample)
        final = stored()
    finally:
        for c in watch:
            c.close()
        drop_db(db_name)
    at_checkpoint = next(((e, n, h) for e, n, h in marks if n >= checkpoint), None)
    summary = _summary(run, doc)
    # the rate over the last stretch (after the checkpoint): does throughput hold as the tables grow?
    late_rate = None
    if at_checkpoint is not None and run.wall_s > at_checkpoint[0]:
        late_rate = (final - at_checkpoint[1]) / (run.wall_s - at_checkpoint[0])
    early_rate = at_checkpoint[1] / at_checkpoint[0] if at_checkpoint else None
    return {
        **summary,
        "stored_sightings": final,
        "checkpoint_entries": at_checkpoint[1] if at_checkpoint else None,
        "checkpoint_peak_rss_mib": at_checkpoint[2] / 1024 if at_checkpoint else None,
        "final_peak_rss_mib": run.peak_rss_mib,
        "rss_ratio": (run.peak_rss_mib / (at_checkpoint[2] / 1024)) if at_checkpoint else None,
        "rate_to_checkpoint": early_rate,
        "rate_after_checkpoint": late_rate,
        "samples": [(round(e, 1), n, h) for e, n, h in marks[:: max(1, len(marks) // 40)]] + (
            [(round(marks[-1][0], 1), marks[-1][1], marks[-1][2])] if marks else []),
        # where the peak grew after the checkpoint (None: it did not, up to the last sample)
        "growth_at": next(((round(e, 1), n, h) for e, n, h in marks
                           if at_checkpoint is not None and h > at_checkpoint[2] * 1.02), None),
        "finished_at": time.time(),
    }
