"""The arrows of the task layer, read from the source: the tasks import only the pipeline, the app, the settings
and their base; nothing imports the tasks; the feed-state decision imports no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

WORKER = ROOT / "worker"


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.update(f"{node.module}.{a.name}" if node.module == "worker" else node.module for a in node.names)
    return found


def test_tasks_import_only_the_pipeline_app_settings_and_base() -> None:
    allowed = {"__future__", "typing", "worker.pipeline", "worker.app", "worker.settings", "worker.tasks.base"}
    assert imports(WORKER / "tasks" / "__init__.py") - allowed == set()


def test_nothing_imports_the_tasks() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in WORKER.rglob("*.py")
                 if "tasks" not in p.relative_to(WORKER).parts
                 and any(m == "worker.tasks" or m.startswith("worker.tasks.") for m in imports(p))]
    assert offenders == []


def test_feed_state_imports_no_io() -> None:
    io = ("psycopg", "redis", "httpx", "httpcore", "socket", "celery", "kombu", "worker.store", "worker.fetch")
    for path in (WORKER / "feed_state").glob("*.py"):
        bad = {m for m in imports(path) if m.startswith(io)}
        assert bad == set(), path
