"""Connections to PostgreSQL: one place that knows how to open them and which session settings they get.

Nothing here commits or opens a transaction: callers do, explicitly (``with conn.transaction():``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

from worker.settings import Settings, defaults

# jit=off: wirefeed's statements are short and indexed, but the story lookup (1,750 keys a batch) is costed
# over jit_above_cost whenever the planner's statistics are stale; compiling it then took 11 ms of a 16 ms
# query (70,000 articles, autovacuum off, EXPLAIN ANALYZE). JIT only pays for long analytic scans.
# plan_cache_mode=force_custom_plan: psycopg prepares a statement on its 5th execution, and PostgreSQL may
# then switch to a generic plan, made without knowing the array parameters' sizes. For the story lookup that
# plan hashed all of article_fingerprints (114 ms a batch at 82,000 articles, growing with the table)
# instead of probing the index (15 ms). Planning each execution costs well under a millisecond.
_PLANNER_OPTIONS = "-c jit=off -c plan_cache_mode=force_custom_plan"

_pools: dict[tuple[str, str, int, float, int], ConnectionPool] = {}
_pools_lock = threading.Lock()


def session_options(settings: Settings) -> str:
    """The libpq ``options`` every wirefeed connection gets: a runaway statement, a lock wait or a
    transaction left open never holds a worker (or a lock) for long."""
    ms = {name: round(seconds * 1000) for name, seconds in (
        ("statement_timeout", settings.db_statement_timeout),
        ("lock_timeout", settings.db_lock_timeout),
        ("idle_in_transaction_session_timeout", settings.db_idle_in_transaction_timeout))}
    return " ".join(f"-c {name}={value}" for name, value in ms.items()) + " " + _PLANNER_OPTIONS


def connect(url: str, *, settings: Settings | None = None, autocommit: bool = False,
            application_name: str = "wirefeed") -> psycopg.Connection:
    """A new connection with wirefeed's session settings (the caller closes it). Without ``settings`` the
    session limits are the documented defaults."""
    s = settings or defaults()
    return psycopg.connect(
        url, autocommit=autocommit, options=session_options(s), application_name=application_name,
        connect_timeout=s.db_connect_timeout,
    )


def pool(settings: Settings) -> ConnectionPool:
    """A process-wide pool per database and limits, health-checked on checkout (survives a PostgreSQL restart)."""
    options = session_options(settings)
    key = (settings.database_url, options, settings.db_pool_size, settings.db_pool_timeout,
           settings.db_connect_timeout)
    with _pools_lock:
        p = _pools.get(key)
        if p is None:
            p = ConnectionPool(
                settings.database_url,
                min_size=1,
                max_size=settings.db_pool_size,
                kwargs={"options": options, "application_name": "wirefeed-worker",
                        "connect_timeout": settings.db_connect_timeout},
                check=ConnectionPool.check_connection,  # a connection killed by a restart is replaced
                timeout=settings.db_pool_timeout,  # a checkout waits this long, then PoolTimeout (retried)
                reconnect_timeout=60,
                open=True,
                name="wirefeed",
            )
            _pools[key] = p
        return p


@contextmanager
def pooled(settings: Settings) -> Iterator[psycopg.Connection]:
    """Borrow a pooled connection. Callers write inside ``with conn.transaction():`` blocks; the pool's
    own end-of-block commit (psycopg's connection context) then only ends a read-only transaction."""
    with pool(settings).connection() as conn:
        yield conn


def forget_pools() -> None:
    """Drop (without closing) pools inherited across fork: their sockets belong to the parent."""
    with _pools_lock:
        _pools.clear()


def close_pools() -> None:
    with _pools_lock:
        for p in _pools.values():
            p.close()
        _pools.clear()
