"""The settings object: every knob documented, a bad value stops a process with one line, and the Celery app
is built from settings without reading any at import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from worker.settings import Settings, defaults


def test_every_setting_is_in_the_readme_table() -> None:
    section = (ROOT / "README.md").read_text().split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [f.alias for f in Settings.model_fields.values() if f"`{f.alias}`" not in section]
    assert missing == []


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_importing_the_app_reads_no_settings() -> None:
    r = _run("import worker.app, worker.tasks; print('imported')", WIREFEED_DB_POOL_SIZE="many")
    assert r.returncode == 0 and r.stdout.strip() == "imported", r.stderr


@pytest.mark.parametrize("args", [["-m", "celery", "-A", "worker.app", "worker"], ["-m", "worker.cli.main", "worker"]])
def test_a_bad_setting_stops_a_worker_with_one_line_naming_it(args: list[str]) -> None:
    r = subprocess.run([sys.executable, *args], env={"PATH": "/usr/bin:/bin", "WIREFEED_DB_POOL_SIZE": "many"},
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "WIREFEED_DB_POOL_SIZE" in lines[0], r.stderr


def test_make_app_uses_the_settings_it_is_given() -> None:
    from worker.app import make_app

    app = make_app(defaults().model_copy(update={"redis_url": "redis://127.0.0.1:1/5", "task_time_limit": 42}))
    assert app.conf.broker_url == "redis://127.0.0.1:1/5" and app.conf.task_time_limit == 42
    assert [q.name for q in app.conf.task_queues] == ["fetch", "process", "pages"]


def test_session_options_come_from_settings() -> None:
    from worker.store.db import session_options

    tight = defaults().model_copy(update={"db_statement_timeout": 1.5, "db_lock_timeout": 0.25})
    assert "-c statement_timeout=1500 " in session_options(tight) and "-c lock_timeout=250 " in session_options(tight)


def test_a_redis_password_as_a_query_parameter_is_refused_with_the_form_that_works() -> None:
    """kombu cannot read ?password= (a TypeError at the first connection): the setting names the fix instead,
    and never the password."""
    r = subprocess.run([sys.executable, "-m", "worker.cli.main", "health"],
                       env={"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://cache.internal:6379/0?password=s3cretQ"},
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    (line,) = r.stderr.strip().splitlines()
    assert "REDIS_URL" in line and "password cannot be a query parameter" in line and "user info" in line, line
    assert "s3cretQ" not in line
    assert Settings.model_validate({"REDIS_URL": "redis://:s3cret@cache.internal:6379/0"}).redis_url.startswith(
        "redis://:s3cret@")
