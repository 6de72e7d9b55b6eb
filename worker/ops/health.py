"""``wirefeed health``: is the system able to do its job? Exit 0 when yes, 1 when not (for orchestrators).

Always checked: PostgreSQL answers, its schema is current (no pending migration), Redis answers.
On request: ``--workers`` at least one Celery worker answers a ping (``--worker NAME`` a given one);
``--beat`` the scheduler's heartbeat is fresh (beat writes it on every tick of ``schedule_due_feeds``,
see ``worker.ops.signals``). Compose uses ``wirefeed health --beat`` as beat's health check.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from worker.ops.status import beat_heartbeat, connect_quick, ping_workers, redis_client
from worker.redaction import first_line, redact
from worker.settings import Settings
from worker.store import ops as ops_store


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def default_beat_max_age(settings: Settings) -> float:
    """Three missed ticks, and never less than a minute."""
    return max(3 * settings.schedule_every, 60.0)


def _database(settings: Settings) -> list[Check]:
    from worker.migrations import pending

    where = redact(settings.database_url)
    try:
        with connect_quick(settings) as conn:
            ops_store.ping(conn)
            missing = pending(conn)
    except Exception as exc:
        return [Check("database", False, f"cannot reach PostgreSQL at {where}: {first_line(exc)}")]
    checks = [Check("database", True, f"PostgreSQL at {where} answers")]
    if missing:
        names = ", ".join(f"{m.version:04d}_{m.name}" for m in missing)
        checks.append(Check("schema", False, f"{len(missing)} migration(s) pending ({names}): run `wirefeed migrate`"))
    else:
        checks.append(Check("schema", True, "schema is current"))
    return checks


def run_checks(settings: Settings, *, workers: bool = False, worker_names: tuple[str, ...] = (),
               beat: bool = False, beat_max_age: float | None = None, timeout: float = 2.0) -> list[Check]:
    checks = _database(settings)
    where = redact(settings.redis_url)
    heartbeat: float | None = None
    try:
        client = redis_client(settings)
        try:
            client.ping()
            heartbeat = beat_heartbeat(client) if beat else None
        finally:
            client.close()
    except Exception as exc:
        checks.append(Check("redis", False, f"cannot reach Redis at {where}: {first_line(exc)}"))
        if workers or worker_names:
            checks.append(Check("workers", False, "not checked: the broker is unreachable"))
        if beat:
            checks.append(Check("beat", False, "not checked: the broker is unreachable"))
        return checks
    checks.append(Check("redis", True, f"Redis at {where} answers"))

    if workers or worker_names:
        try:
            alive = ping_workers(timeout)
        except Exception as exc:
            checks.append(Check("workers", False, f"ping failed: {first_line(exc)}"))
        else:
            missing = [n for n in worker_names if n not in alive]
            if missing:
                checks.append(Check("workers", False, f"no answer from {', '.join(missing)} within {timeout:g} s "
                                                      f"(answering: {', '.join(alive) or 'none'})"))
            elif not alive:
                checks.append(Check("workers", False, f"no worker answered a ping within {timeout:g} s"))
            else:
                checks.append(Check("workers", True, f"{len(alive)} answering: {', '.join(alive)}"))

    if beat:
        max_age = beat_max_age if beat_max_age is not None else default_beat_max_age(settings)
        if heartbeat is None:
            checks.append(Check("beat", False, "no heartbeat from beat (not started, or Redis was emptied since)"))
        else:
            age = time.time() - heartbeat
            checks.append(Check("beat", age <= max_age,
                                f"last tick {age:.0f} s ago (limit {max_age:g} s)"))
    return checks


def report(checks: list[Check]) -> dict[str, Any]:
    return {"healthy": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'ok  ' if c.ok else 'FAIL'} {c.name:<{width}}  {c.detail}" for c in checks]
    lines.append("healthy" if all(c.ok for c in checks) else "UNHEALTHY")
    return "\n".join(lines)
