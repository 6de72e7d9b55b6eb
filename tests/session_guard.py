"""A test session's footprint outside itself: made in places of its own, and checked when the session ends.

At the start (``start``, from ``pytest_configure``):

- a private temporary root (``wirefeed-tests-<token>-…`` in the system's temporary directory) becomes
  ``TMPDIR`` for this process and every process a test starts, so whatever they leave lands there;
- the session works from an empty directory inside it (``run/``), and the processes tests start run there
  too, so a ``.env`` in the checkout (settings read ``.env`` from the working directory) never reaches them;
- ``WIREFEED_TEST_SESSION=<token>`` is put in the environment, which every descendant inherits.

At the end (``finish``, from ``pytest_sessionfinish``) the run fails, naming each leftover, when:

- a process still carries the token (a worker, a Redis or PostgreSQL server a test started): it is killed;
- the temporary root holds anything but pytest's own ``tmp_path`` folders (a throwaway cluster, a
  ``mkdtemp`` nobody removed, files written to the run directory): it is removed;
- a database named with the token is still there (the session's own, or one a test created): it is dropped.

pytest's own ``tmp_path`` folders (in the root) go with it, unless ``WIREFEED_TEST_KEEP_TMP=1`` keeps them
(the run says where).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ENV_KEY = "WIREFEED_TEST_SESSION"
KEEP_KEY = "WIREFEED_TEST_KEEP_TMP"  # "1": keep pytest's tmp_path folders after the run, to look into them
TOKEN = uuid.uuid4().hex[:12]


@dataclass
class Guard:
    root: Path
    run_dir: Path
    origin: Path  # the working directory the session started in
    admin_urls: set[str] = field(default_factory=set)  # PostgreSQL servers where the session made databases

    def proc_marker(self) -> bytes:
        return f"{ENV_KEY}={TOKEN}".encode() + b"\0"


_guard: Guard | None = None


def start() -> Guard:
    """Make the session's temporary root and run directory and point this process at them."""
    global _guard
    if _guard is not None:
        return _guard
    root = Path(tempfile.mkdtemp(prefix=f"wirefeed-tests-{TOKEN}-"))
    root.chmod(0o711)  # a throwaway cluster inside belongs to the postgres user, who must reach it
    run_dir = root / "run"
    run_dir.mkdir()
    _guard = Guard(root=root, run_dir=run_dir, origin=Path.cwd())
    os.environ[ENV_KEY] = TOKEN
    os.environ["TMPDIR"] = str(root)
    tempfile.tempdir = str(root)
    os.chdir(run_dir)
    return _guard


def current() -> Guard:
    if _guard is None:
        raise RuntimeError("the test session guard has not started (tests.conftest's pytest_configure)")
    return _guard


def run_dir() -> Path:
    """The empty working directory of the session and of every process a test starts."""
    return current().run_dir


def db_name(kind: str) -> str:
    """A database name that says which session made it (the end-of-session check finds it by that)."""
    return f"wirefeed_test_{kind}_{TOKEN}_{uuid.uuid4().hex[:6]}"


def note_admin_url(url: str) -> None:
    current().admin_urls.add(url)


# --- the check -------------------------------------------------------------------------------------------

def session_processes(exclude: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process whose environment carries this session's token."""
    marker = current().proc_marker()
    found = []
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else []:
        if not entry.name.isdigit() or int(entry.name) == exclude:
            continue
        try:
            if b"\0" + marker not in b"\0" + (entry / "environ").read_bytes():
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if cmd:  # a zombie has no command line and holds nothing
            found.append((int(entry.name), cmd))
    return found


def _processes(grace: float) -> list[str]:
    """Processes still alive after ``grace`` seconds (stopping ones get that long); each is stopped: SIGTERM
    (a server shuts its own children down), then SIGKILL for what is still there after 5 s."""
    left = _wait_gone(grace)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid, _ in session_processes(exclude=os.getpid()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if not _wait_gone(5.0):
            break
    return [f"process {pid} still running: {cmd[:200]}" for pid, cmd in left]


def _wait_gone(timeout: float) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while True:
        left = session_processes(exclude=os.getpid())
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def _temporary(keep_pytest: bool) -> list[str]:
    g = current()
    problems = []
    for path in sorted(g.run_dir.iterdir()):
        problems.append(f"left in the run directory: {path.name}")
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    # multiprocessing's own directory for this process (a test used a Queue or Barrier): its exit handler removes it
    import multiprocessing.process

    mp_dir = getattr(multiprocessing.process.current_process(), "_config", {}).get("tempdir")
    for path in sorted(g.root.iterdir()):
        if path == g.run_dir or path.name.startswith("pytest-of-") or str(path) == mp_dir:
            continue
        problems.append(f"temporary {'directory' if path.is_dir() else 'file'} left behind: {path.name}")
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    if keep_pytest:
        return problems
    shutil.rmtree(g.root, ignore_errors=True)
    return problems


def _databases() -> list[str]:
    import psycopg
    from psycopg import sql

    problems = []
    for url in current().admin_urls:
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=5) as c:
                names = [r[0] for r in c.execute("SELECT datname FROM pg_database WHERE strpos(datname, %s) > 0",
                                                 (TOKEN,))]
                for name in names:
                    problems.append(f"database left behind: {name}")
                    c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            problems.append(f"cannot check for leftover databases: {str(exc).strip().splitlines()[0]}")
    return problems


def finish() -> list[str]:
    """Every leftover of the session, each cleaned up; empty when the session left nothing behind."""
    g = current()
    os.chdir(g.origin)
    grace = float(os.environ.get("WIREFEED_TEST_STOP_GRACE_SECONDS", "10"))  # for stopping processes
    problems = _processes(grace) + _databases()
    problems += _temporary(keep_pytest=os.environ.get(KEEP_KEY) == "1")
    return problems


def kept() -> Path | None:
    """Where pytest's folders were kept (``WIREFEED_TEST_KEEP_TMP=1``), else None."""
    return current().root if os.environ.get(KEEP_KEY) == "1" else None
