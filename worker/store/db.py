"""Connections to PostgreSQL: one place that knows how to open them and which session settings they get."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg_pool import ConnectionPool

# Session settings every wirefeed connection gets: a runaway statement or a lock wait never holds a worker.
# jit=off: wirefeed's statements are short and indexed, but the story lookup (1,750 keys a batch) is costed
# over jit_above_cost whenever the planner's statistics are stale; compiling it then took 11 ms of a 16 ms
# query (70,000 articles, autovacuum off, EXPLAIN ANALYZE). JIT only pays for long analytic scans.
# plan_cache_mode=force_custom_plan: psycopg prepares a statement on its 5th execution, and PostgreSQL may
# then switch to a generic plan, made without knowing the array parameters' sizes. For the story lookup that
# plan hashed all of article_fingerprints (114 ms a batch at 82,000 articles, growing with the table)
# instead of probing the index (15 ms). Planning each execution costs well under a millisecond.
SESSION_OPTIONS = ("-c statement_timeout=120000 -c lock_timeout=30000 -c idle_in_transaction_session_timeout=300000"
                   " -c jit=off -c plan_cache_mode=force_custom_plan")

_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def connect(url: str, *, autocommit: bool = False, application_name: str = "wirefeed") -> psycopg.Connection:
    """A new connection with wirefeed's session settings (the caller closes it)."""
    return psycopg.connect(
        url, autocommit=autocommit, options=SESSION_OPTIONS, application_name=application_name,
        connect_timeout=10,
    )


def pool(url: str) -> ConnectionPool:
    """A process-wide pool per URL, health-checked on checkout (survives a PostgreSQL restart)."""
    with _pools_lock:
        p = _pools.get(url)
        if p is None:
            p = ConnectionPool(
                url,
                min_size=1,
                max_size=8,
                kwargs={"options": SESSION_OPTIONS, "application_name": "wirefeed-worker", "connect_timeout": 10},
                check=ConnectionPool.check_connection,  # a connection killed by a restart is replaced
                timeout=15,  # a checkout waits this long for PostgreSQL, then PoolTimeout (retried)
                reconnect_timeout=60,
                open=True,
                name="wirefeed",
            )
            _pools[url] = p
        return p


@contextmanager
def pooled(url: str) -> Iterator[psycopg.Connection]:
    """Borrow a pooled connection; the transaction commits on success and rolls back on error."""
    with pool(url).connection() as conn:
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

