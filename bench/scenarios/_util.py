"""What every scenario needs: scratch databases, a child process measured (wall, CPU, peak RSS), machine facts."""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
WIREFEED = str(Path(PYTHON).with_name("wirefeed"))


def admin_url() -> str:
    return os.environ.get("WIREFEED_BENCH_ADMIN_URL", "postgresql://127.0.0.1:5432/postgres")


def db_url(name: str) -> str:
    return psycopg.conninfo.make_conninfo(admin_url(), dbname=name)


def create_db(name: str, *, migrate: bool = True) -> str:
    """A fresh, empty (migrated) database; returns its URL."""
    drop_db(name)
    with psycopg.connect(admin_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = db_url(name)
    if migrate:
        from worker.migrations import migrate as run_migrations

        with psycopg.connect(url) as conn:
            run_migrations(conn)
            conn.commit()
    return url


def drop_db(name: str) -> None:
    with psycopg.connect(admin_url(), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def scratch_db(name: str, *, keep: bool = False) -> Iterator[str]:
    url = create_db(name)
    try:
        yield url
    finally:
        if not keep:
            drop_db(name)


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a worker started in its own session (its main process and its pool children): SIGTERM, then
    SIGKILL after 30 s."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def machine_cpu_seconds() -> float:
    """CPU seconds spent by the whole machine (every process: the benchmark, PostgreSQL, Redis, workers)."""
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in KiB; (0, 0) once it is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    rss = re.search(r"VmRSS:\s+(\d+)", text)
    hwm = re.search(r"VmHWM:\s+(\d+)", text)
    return (int(rss.group(1)) if rss else 0), (int(hwm.group(1)) if hwm else 0)


@dataclass
class ChildRun:
    returncode: int
    wall_s: float
    cpu_s: float  # user + system of the child itself
    machine_cpu_s: float  # whole machine over the same interval (includes PostgreSQL)
    peak_rss_mib: float
    stdout: str
    stderr: str
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, VmHWM KiB)


def run_child(argv: Sequence[str], env: dict[str, str], *, sample_every: float = 0.1,
              on_sample: object = None) -> ChildRun:
    """Run a command to completion; wall clock, its own CPU (wait4), peak RSS, machine CPU meanwhile.

    The child's VmHWM is read every ``sample_every`` seconds; ``on_sample(elapsed, hwm_kib)`` is called each
    time (the memory scenario pairs it with the number of entries stored so far). The peak RSS is the last
    VmHWM read, not wait4's ``ru_maxrss``: on Linux that carries the *spawning* process's high-water mark
    across fork and exec (``/bin/true`` started from a 300 MB Python process reports ru_maxrss 313 MB), so it
    would charge the benchmark's own size to the command. VmHWM belongs to the program after exec and only
    grows; a rise in the child's last ``sample_every`` seconds would be missed."""
    full_env = {**os.environ, **env}
    out_path = Path(f"/tmp/wirefeed-bench-{os.getpid()}-{time.monotonic_ns()}.out")
    err_path = out_path.with_suffix(".err")
    with out_path.open("wb") as out, err_path.open("wb") as err:
        m0 = machine_cpu_seconds()
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), env=full_env, stdout=out, stderr=err, cwd=ROOT)
        samples: list[tuple[float, int]] = []
        stop = threading.Event()

        def sampler() -> None:
            while not stop.wait(sample_every):
                _, hwm = rss_kib(proc.pid)
                if hwm:
                    elapsed = time.perf_counter() - t0
                    samples.append((elapsed, hwm))
                    if callable(on_sample):
                        on_sample(elapsed, hwm)

        th = threading.Thread(target=sampler, daemon=True) if sample_every > 0 else None
        if th:
            th.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        m1 = machine_cpu_seconds()
        stop.set()
        if th:
            th.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = out_path.read_text(errors="replace")
    stderr = err_path.read_text(errors="replace")
    out_path.unlink(missing_ok=True)
    err_path.unlink(missing_ok=True)
    peak_kib = max((h for _, h in samples), default=usage.ru_maxrss)
    return ChildRun(proc.returncode, wall, usage.ru_utime + usage.ru_stime, m1 - m0, peak_kib / 1024,
                    stdout, stderr, samples)


def _first_line(cmd: Sequence[str]) -> str:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    return out.strip().splitlines()[0] if out.strip() else "?"


def machine_info() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    found = re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())
    mem_kib = int(found.group(1)) if found else 0
    try:
        with psycopg.connect(admin_url()) as conn:
            pg = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
            pg_settings = ", ".join(
                f"{n}={v}" for n, v in conn.execute(
                    "SELECT name, setting || coalesce(unit, '') FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'synchronous_commit', 'fsync', 'max_wal_size', 'autovacuum') "
                    "ORDER BY name").fetchall()
            )
    except psycopg.Error:
        pg, pg_settings = "?", "?"
    try:
        import redis

        redis_version = str(redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
                            .info("server")["redis_version"])
    except Exception:
        redis_version = "?"
    import celery
    import feedparser

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": f"{mem_kib / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": f"{pg} ({pg_settings})",
        "redis": redis_version,
        "feedparser": feedparser.__version__,
        "psycopg": psycopg.__version__,
        "celery": celery.__version__,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")
