"""The end-of-session check (tests/session_guard.py) itself: a pytest run whose test leaves a process, a
temporary directory and a file behind fails and names each, and everything is cleaned up; a tidy run passes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LEAKY = '''
import subprocess, tempfile
from pathlib import Path
from tests import session_guard

def test_leaves_things_behind():
    sleeper = subprocess.Popen(["sleep", "600"])
    Path({pid_file!r}).write_text(str(sleeper.pid))
    tempfile.mkdtemp(prefix="forgotten-")
    (session_guard.run_dir() / "stray.txt").write_text("x")
'''

TIDY = '''
import subprocess, tempfile

def test_cleans_up(tmp_path):
    subprocess.run(["true"], check=True)
    with tempfile.TemporaryDirectory():
        pass
    (tmp_path / "kept-by-pytest.txt").write_text("x")
'''


def _pytest(tmp: Path, source: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    test = tmp / "test_inner.py"
    test.write_text(source)
    temp_root = tmp / "tmp"
    temp_root.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp_root), "WIREFEED_TEST_STOP_GRACE_SECONDS": "1"}
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
                        str(test)], cwd=tmp, env=env, capture_output=True, text=True, timeout=120)
    return r, temp_root


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_a_run_that_leaves_things_behind_fails_and_names_them(tmp_path: Path) -> None:
    pid_file = tmp_path / "sleeper.pid"
    r, temp_root = _pytest(tmp_path, LEAKY.format(pid_file=str(pid_file)))
    out = r.stdout
    assert r.returncode == 1, out  # the test itself passed; the leftovers fail the run
    assert "1 passed" in out
    pid = int(pid_file.read_text())
    assert f"process {pid} still running: sleep 600" in out
    assert "temporary directory left behind: forgotten-" in out
    assert "left in the run directory: stray.txt" in out
    assert not _alive(pid)  # stopped by the check
    assert list(temp_root.iterdir()) == []  # and every leftover removed


def test_a_tidy_run_passes_and_leaves_nothing(tmp_path: Path) -> None:
    r, temp_root = _pytest(tmp_path, TIDY)
    assert r.returncode == 0, r.stdout
    assert "left these behind" not in r.stdout
    assert list(temp_root.iterdir()) == []  # pytest's own folders of a passing run go too
