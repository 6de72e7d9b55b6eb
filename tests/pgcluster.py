"""A throwaway PostgreSQL cluster of a test's own: ``initdb`` in a temporary directory, a server on a free
loopback port, removed afterwards. Tests that stop or restart PostgreSQL use one, never a server they did
not start (``scripts/test`` makes the same kind of cluster when no server is reachable).

As root the cluster belongs to the ``postgres`` user (the server refuses to run as root), and every
PostgreSQL program runs through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import psycopg

PREFIX = "wirefeed-test-pg-"  # the session's leftover check looks for directories named like this


def bin_dir() -> Path | None:
    """A directory holding both ``initdb`` and ``pg_ctl``: the one on PATH, else the newest installed."""
    on_path = shutil.which("initdb")
    cands = [Path(on_path).resolve().parent] if on_path else []
    cands += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    cands.append(Path("/usr/local/pgsql/bin"))
    for d in cands:
        if os.access(d / "initdb", os.X_OK) and os.access(d / "pg_ctl", os.X_OK):
            return d
    return None


def unavailable() -> str | None:
    """Why no throwaway cluster can be made here (one line), or None when it can."""
    if bin_dir() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) are installed"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to own a throwaway cluster"
    return None


class Cluster:
    """``Cluster.start()`` → a running server; ``url`` reaches its ``postgres`` database; ``remove()``."""

    def __init__(self, port: int) -> None:
        self.bin = bin_dir()
        if self.bin is None:
            raise RuntimeError(unavailable())
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix=PREFIX))
        self.data = self.dir / "data"
        self._runas: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            self._runas = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://wirefeed@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str, timeout: float = 90) -> None:
        assert self.bin is not None
        r = subprocess.run([*self._runas, str(self.bin / "pg_ctl"), "-D", str(self.data), *args],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"pg_ctl {' '.join(args)} failed: {r.stderr.strip() or r.stdout.strip()}")

    @classmethod
    def start(cls, port: int) -> Cluster:
        c = cls(port)
        try:
            assert c.bin is not None
            r = subprocess.run([*c._runas, str(c.bin / "initdb"), "-D", str(c.data), "-A", "trust", "-U", "wirefeed",
                                "--no-sync"], capture_output=True, text=True, timeout=120)
            if r.returncode != 0:
                raise RuntimeError(f"initdb failed: {r.stderr.strip()}")
            c._ctl("-l", str(c.dir / "log"), "-w", "-t", "60",
                   "-o", f"-p {port} -k {c.dir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        except BaseException:
            c.remove()
            raise
        return c

    def restart(self) -> None:
        """A fast restart: every connection is terminated and in-flight transactions roll back."""
        self._ctl("-l", str(self.dir / "log"), "-w", "-t", "60", "-m", "fast", "restart")

    def is_up(self) -> bool:
        try:
            psycopg.connect(self.url, connect_timeout=3).close()
            return True
        except psycopg.OperationalError:
            return False

    def remove(self) -> None:
        """Stop the server (immediately: nothing in it is worth keeping) and delete the cluster."""
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            try:
                self._ctl("-m", "immediate", "stop", timeout=60)
            except (RuntimeError, subprocess.TimeoutExpired):
                with contextlib.suppress(OSError, ValueError, IndexError):  # the server this cluster started
                    os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(self.dir, ignore_errors=True)
