"""What wirefeed prints is safe to print: no secret of a setting reaches stdout, stderr or a log, and no text
from a feed or a server reaches the operator's terminal as markup or as a control sequence.

Every case runs the real ``wirefeed`` command (a separate process) and looks at the bytes it printed.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.faults.conftest import WIREFEED
from tests.session_guard import run_dir

S = "Hx7SecretPw"  # the secret in every setting below: it must appear in no output


def _run(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WIREFEED), *args], env={**env, **extra}, capture_output=True, text=True,
                          timeout=60, cwd=run_dir())


# --- secrets ---------------------------------------------------------------------------------------

def test_health_hides_every_form_of_password(env) -> None:
    """What compose's health check prints lands in ``docker inspect``: each form of secret, reachable or not."""
    cases = {
        # the session's own database (a conninfo string; trust authentication ignores the password)
        "conninfo, reachable": {"DATABASE_URL": f"{env['DATABASE_URL']} password={S}"},
        "conninfo, quoted": {"DATABASE_URL": f"host=127.0.0.1 port=1 user=w password='{S} x\\'y' dbname=w"},
        "URL query": {"DATABASE_URL": f"postgresql://w@127.0.0.1:1/w?password={S}&sslmode=disable"},
        "URL user info": {"DATABASE_URL": f"postgresql://w:{S}@127.0.0.1:1/w"},
        "redis without user": {"REDIS_URL": f"redis://:{S}@127.0.0.1:1/0"},
    }
    for name, extra in cases.items():
        r = _run(env, "health", "--beat", **extra)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and ("PostgreSQL at" in out or "Redis at" in out), (name, out)
        assert S not in out, (name, out)
        assert "***" in out, (name, out)  # it named the address, with the secret masked
    r = _run(env, "health", "--json", **cases["conninfo, reachable"])
    assert S not in r.stdout and "password=***" in r.stdout, r.stdout


@pytest.mark.parametrize(("name", "value"), [
    ("REDIS_URL", f"http://w:{S}@127.0.0.1/0"),  # wrong scheme: the value is echoed, masked
    ("DATABASE_URL", f"mysql://w:{S}@127.0.0.1/w?token={S}"),
    ("DATABASE_URL", f"host=127.0.0.1 password=two {S}"),  # not conninfo: where the password ends is unknown
    ("DATABASE_URL", f"host=127.0.0.1 password='{S}"),  # unterminated quote
])
@pytest.mark.parametrize("command", [("health",), ("worker",)])
def test_an_invalid_setting_is_named_without_its_secret(env, name: str, value: str, command: tuple[str, ...]) -> None:
    r = _run(env, *command, **{name: value})
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid configuration: {name}:"), r.stderr
    assert S not in r.stdout + r.stderr, r.stderr


LOGGER = f"""
import logging, sys
from worker.ops.logs import configure, get_logger
from worker.ops import signals

configure("json")
try:
    raise ConnectionError("cannot reach postgresql://w:{S}@db/w?sslpassword={S}")
except ConnectionError:
    get_logger().error("broken", dsn="host=db password='{S}' dbname=w", password="{S}",
                       url="redis://:{S}@r/0", exc_info=True)
std = logging.getLogger("celery.worker")
handler = logging.StreamHandler(sys.stderr)
std.addHandler(handler)
signals._redact_celery_logs(logger=std)  # what Celery's after_setup_logger signal does
try:
    raise RuntimeError("host=db password={S}")
except RuntimeError:
    std.exception("Cannot connect to %s", "rediss://u:{S}@r:6380/0")
"""


def test_log_lines_and_tracebacks_hide_secrets() -> None:
    r = subprocess.run([sys.executable, "-c", LOGGER], capture_output=True, text=True, timeout=60, cwd=run_dir())
    assert r.returncode == 0, r.stderr
    event = json.loads(r.stderr.splitlines()[0])
    assert event["event"] == "broken" and event["password"] == "***", event
    assert event["url"] == "redis://:***@r/0" and event["dsn"] == "host=db password=*** dbname=w", event
    assert "ConnectionError: cannot reach postgresql://w:***@db/w?sslpassword=***" in event["exception"], event
    assert "Cannot connect to rediss://u:***@r:6380/0" in r.stderr and "RuntimeError: host=db password=***" in r.stderr
    assert S not in r.stderr, r.stderr
