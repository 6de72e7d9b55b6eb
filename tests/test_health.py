"""`wirefeed health`: exit 0 when the system is fine, 1 when any required part is not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT, free_port, wait_for
from tests.session_guard import run_dir
from worker.ops import status


def _health(cli, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    r = cli("health", "--json", *args, **({"env": env} if env else {}))
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert doc["healthy"] is (r.returncode == 0)
    return r.returncode, {c["name"]: c for c in doc["checks"]}


def test_healthy_when_database_schema_and_redis_are_up(cli, conn) -> None:
    code, checks = _health(cli)
    assert code == 0
    assert [checks[n]["ok"] for n in ("database", "schema", "redis")] == [True, True, True]
    r = cli("health")  # the readable form
    assert r.returncode == 0 and r.stdout.strip().endswith("healthy")


def test_unhealthy_when_redis_is_unreachable(cli, conn, env) -> None:
    code, checks = _health(cli, env={**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert code == 1
    assert checks["redis"]["ok"] is False and "cannot reach Redis" in checks["redis"]["detail"]
    assert checks["database"]["ok"] is True  # the rest is still checked and reported


def test_unhealthy_when_postgresql_is_unreachable(cli, env) -> None:
    dead = f"postgresql://wirefeed:secret@127.0.0.1:{free_port()}/wirefeed"
    r = cli("health", env={**env, "DATABASE_URL": dead})
    assert r.returncode == 1
    assert "FAIL database" in r.stdout
    assert "secret" not in r.stdout + r.stderr  # the password never reaches the output


def test_unhealthy_when_the_schema_is_not_current(cli, env, empty_db_url) -> None:
    code, checks = _health(cli, env={**env, "DATABASE_URL": empty_db_url})
    assert code == 1
    assert checks["database"]["ok"] is True
    assert checks["schema"]["ok"] is False and "wirefeed migrate" in checks["schema"]["detail"]


def test_workers_flag_needs_a_worker_answering_ping(cli, conn, redis_url) -> None:
    redis.Redis.from_url(redis_url).delete("_kombu.binding.celery.pidbox")  # no stale worker mailbox
    code, checks = _health(cli, "--workers", "--timeout", "0.5")
    assert code == 1 and checks["workers"]["ok"] is False


def test_workers_flag_with_a_real_worker(cli, conn, celery_worker) -> None:
    code, checks = _health(cli, "--workers")
    assert code == 0, checks
    name = checks["workers"]["detail"].split(": ", 1)[1].split(", ")[0]
    assert _health(cli, "--worker", name)[0] == 0
    code, checks = _health(cli, "--worker", "nobody@nowhere", "--timeout", "0.5")
    assert code == 1 and "nobody@nowhere" in checks["workers"]["detail"]


@pytest.fixture()
def clean_broker(redis_url: str):
    client = redis.Redis.from_url(redis_url)
    client.delete(status.BEAT_HEARTBEAT_KEY)
    yield client
    # beat enqueued schedule ticks that no worker consumed: leave the queue as we found it
    client.delete(status.BEAT_HEARTBEAT_KEY, "fetch")
    client.close()


def test_beat_heartbeat_from_a_real_beat_then_stale(cli, conn, env, clean_broker, tmp_path: Path) -> None:
    code, checks = _health(cli, "--beat")
    assert code == 1 and "no heartbeat" in checks["beat"]["detail"]

    exe = Path(sys.executable).with_name("wirefeed")
    beat = subprocess.Popen(
        [str(exe), "beat", "--schedule", str(tmp_path / "beat-schedule"), "--loglevel", "WARNING"],
        env={**env, "WIREFEED_SCHEDULE_EVERY_SECONDS": "1"}, cwd=run_dir(),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: clean_broker.get(status.BEAT_HEARTBEAT_KEY), timeout=30)
        first = float(clean_broker.get(status.BEAT_HEARTBEAT_KEY))
        # it keeps ticking: the heartbeat moves on with every published schedule task
        wait_for(lambda: float(clean_broker.get(status.BEAT_HEARTBEAT_KEY)) > first + 0.5, timeout=15)
        code, checks = _health(cli, "--beat", "--beat-max-age", "10")
        assert code == 0, checks
    finally:
        beat.terminate()
        beat.wait(timeout=20)
    # beat gone: after the allowed age the heartbeat is stale
    last = float(clean_broker.get(status.BEAT_HEARTBEAT_KEY))
    clean_broker.set(status.BEAT_HEARTBEAT_KEY, repr(last - 120))
    code, checks = _health(cli, "--beat", "--beat-max-age", "60")
    assert code == 1 and "limit 60 s" in checks["beat"]["detail"]


def test_compose_beat_health_check_is_this_command() -> None:
    import yaml

    from worker.cli.main import build_parser

    beat = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["beat"]
    test = beat["healthcheck"]["test"]
    assert test[:2] == ["CMD", "wirefeed"]
    args = build_parser().parse_args(test[2:])
    assert args.command == "health" and args.beat
