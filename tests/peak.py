"""The peak resident memory of one ``wirefeed`` command, measured inside that process.

``os.wait4``'s ``ru_maxrss`` cannot be used for this: Linux carries the parent's high-water mark across
fork and exec into the child's, so a command started by a pytest process that has grown to 450 MB reports
at least 450 MB, whatever it did itself. ``VmHWM`` of ``/proc/self/status`` is the new program's own peak:
the command runs under a two-line wrapper that writes it to a file at exit.
"""

from __future__ import annotations

import sys
from pathlib import Path

_WRAP = """import atexit, sys
out = sys.argv.pop(1)
def _hwm():
    with open("/proc/self/status") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(out, "w") as f:
        f.write(str(kb))
atexit.register(_hwm)
sys.argv[0] = "wirefeed"
from worker.cli.main import main
sys.exit(main())
"""


def wirefeed_argv(hwm_file: Path, *args: str) -> list[str]:
    """argv that runs ``wirefeed ARGS...`` (the installed entry point's code, in the venv's Python) and
    writes its peak resident set in KiB to ``hwm_file`` when it exits."""
    return [sys.executable, "-c", _WRAP, str(hwm_file), *args]


def peak_mb(hwm_file: Path) -> float:
    """The peak the command wrote (MiB); fails when it wrote none (it was killed, or never exited cleanly)."""
    assert hwm_file.exists(), "the command exited without writing its peak memory (killed?)"
    return int(hwm_file.read_text()) / 1024
