"""The fuzz of :mod:`tests.fuzz`: parse_feed, normalize_entry and extract_page over generated hostile input.

Each target runs in its own child process (``python -m tests.fuzz NAME``) under the limits that module sets: no
input may raise outside the project's error tree, use more than 2 s of CPU or 256 MB. Deterministic and bounded
(derandomised, a fixed number of examples): the three take well under a minute together.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.session_guard import run_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("target", ["parse", "normalize", "extract"])
def test_fuzz(target: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0",
           "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path / "hypothesis")}  # not in the run directory
    done = subprocess.run([sys.executable, "-m", "tests.fuzz", target], env=env, cwd=run_dir(), capture_output=True,
                          text=True, timeout=240)
    print(done.stdout)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout[-5000:]}\n{done.stderr[-8000:]}"
    assert f"fuzz {target}: " in done.stdout
