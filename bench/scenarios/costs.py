"""Before and after in one run: the cost of a new article in two source trees side by side.

``before`` is another checkout of wirefeed (``--base``, e.g. ``git worktree add ../base <commit>`` with its own
``.venv``), ``after`` is this one. Each measurement runs once per tree, alternating (before, after, before,
after...) so that both see the same machine and the same neighbours; every database is fresh and migrated by
its own tree's ``wirefeed migrate``.

- ``cost``: the pipeline in-process (``bench/cost_child.py``, run by the tree's own Python) over a slice of the
  main set: Python CPU and the PostgreSQL backend's CPU per new entry, per stage. Repeated; the median run by
  PostgreSQL CPU is kept.
- ``ingest``: ``wirefeed ingest`` (the tree's console script) over the main set into an empty database, then
  again unchanged: new entries/s (wall), the re-ingest ratio, and the CPU of the database's backends, sampled
  from ``pg_stat_activity`` and ``/proc`` every 0.1 s.
- ``celery``: two prefork processes of the tree's Celery worker on the ``process`` queue, every feed body
  enqueued at once (``bench/scenarios/celery_run.py``): new entries/s from the first enqueue to the last commit.

CPU, not wall time, is the figure to trust on a shared machine: the load average is recorded with each run.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import threading
from pathlib import Path
from typing import Any

import psycopg

from bench.scenarios import celery_run
from bench.scenarios._util import create_db, db_url, drop_db, rate, run_child

HERE = Path(__file__).resolve().parents[1]


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def tree_python(tree: Path) -> str:
    return str(tree / ".venv" / "bin" / "python")


def migrated_db(tree: Path, name: str) -> str:
    """A fresh database migrated by ``tree``'s own ``wirefeed migrate``."""
    url = create_db(name, migrate=False)
    subprocess.run([str(tree / ".venv" / "bin" / "wirefeed"), "migrate"], env={**os.environ, "DATABASE_URL": url},
                   check=True, capture_output=True, cwd=tree)
    return url


class BackendCpu(threading.Thread):
    """CPU seconds of every backend connected to one database (other than the sampler's own), sampled every
    0.1 s from ``/proc``; a backend's last sample before it exits counts."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.conn = psycopg.connect(url, autocommit=True)
        self.seen: dict[int, float] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self._halt.wait(0.1):
            pids = [int(r[0]) for r in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]
            for pid in pids:
                try:
                    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                self.seen[pid] = max(self.seen.get(pid, 0.0), (int(f[11]) + int(f[12])) / tick)

    def stop(self) -> float:
        self._halt.set()
        self.join(timeout=5)
        self.conn.close()
        return sum(self.seen.values())


def cost(tree: Path, paths: list[Path], name: str) -> dict[str, Any]:
    url = migrated_db(tree, name)
    load = _load()
    try:
        out = subprocess.run([tree_python(tree), str(HERE / "cost_child.py"), url, *map(str, paths)],
                             capture_output=True, text=True, check=True, cwd=tree,
                             env={**os.environ, "WIREFEED_FETCH_PAGES": "never", "WIREFEED_LOG_LEVEL": "WARNING"})
    finally:
        drop_db(name)
    doc: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    doc["load"] = load
    return doc


def ingest(tree: Path, paths: list[Path], name: str) -> dict[str, Any]:
    url = migrated_db(tree, name)
    load = _load()
    exe = str(tree / ".venv" / "bin" / "wirefeed")
    env = {"DATABASE_URL": url, "WIREFEED_LOG_FORMAT": "json", "WIREFEED_LOG_LEVEL": "WARNING",
           "WIREFEED_FETCH_PAGES": "never"}
    try:
        sampler = BackendCpu(url)
        sampler.start()
        first = run_child([exe, "ingest", "--json", *map(str, paths)], env, sample_every=0)
        pg_cpu = sampler.stop()
        again = run_child([exe, "ingest", "--json", *map(str, paths)], env, sample_every=0)
        if first.returncode or again.returncode:
            raise RuntimeError(f"wirefeed ingest failed: {first.stderr[-1500:]} {again.stderr[-1500:]}")
        new = int(json.loads(first.stdout)["totals"]["new_articles"])
    finally:
        drop_db(name)
    return {"new": new, "wall_s": first.wall_s, "cpu_s": first.cpu_s, "backend_cpu_s": pg_cpu,
            "new_per_s": rate(new, first.wall_s), "again_wall_s": again.wall_s,
            "again_ratio": again.wall_s / first.wall_s, "load": load}


def celery(tree: Path, paths: list[Path], redis_url: str, name: str) -> dict[str, Any]:
    load = _load()
    out = celery_run.one_process_side(2, paths, redis_url, name, python=tree_python(tree), cwd=tree,
                                      make_db=lambda n: migrated_db(tree, n))
    celery_run.flush(redis_url)
    return {**out, "load": load}


def run(base: Path, paths: list[Path], cost_paths: list[Path], redis_url: str, repeat: int = 3) -> dict[str, Any]:
    trees = {"before": base.resolve(), "after": HERE.parent}
    out: dict[str, Any] = {"trees": {k: str(v) for k, v in trees.items()},
                           "commits": {k: _commit(v) for k, v in trees.items()},
                           "cost": {k: [] for k in trees}, "ingest": {k: [] for k in trees},
                           "celery": {k: [] for k in trees}}
    for _ in range(repeat):
        for label, tree in trees.items():
            out["cost"][label].append(cost(tree, cost_paths, f"wirefeed_bench_cost_{label}"))
    for label, tree in trees.items():
        out["ingest"][label].append(ingest(tree, paths, f"wirefeed_bench_cost_ingest_{label}"))
    try:
        for label, tree in trees.items():
            out["celery"][label].append(celery(tree, paths, redis_url, f"wirefeed_bench_cost_celery_{label}"))
    finally:
        celery_run.flush(redis_url, keep_claim=False)
    for label in trees:
        runs = out["cost"][label]
        out["cost"][label + "_median"] = sorted(runs, key=lambda r: r["backend_cpu_s"] / max(1, r["new"]))[
            len(runs) // 2]
    out["load_after"] = _load()
    return out


def _commit(tree: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def per_new_ms(r: dict[str, Any], key: str) -> float:
    return 1000 * float(r[key]) / max(1, int(r["new"]))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


__all__ = ["db_url", "per_new_ms", "run"]
