"""The connection pool and session settings every worker connection gets (worker/store/db.py)."""

from __future__ import annotations

import psycopg
import pytest

from worker.retry import classify


def test_pooled_sessions_have_statement_lock_and_idle_timeouts(settings) -> None:
    from worker.store.db import pooled

    with pooled(settings) as c:
        got = c.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), "
                        "current_setting('idle_in_transaction_session_timeout'), current_setting('jit'), "
                        "current_setting('plan_cache_mode')").fetchone()
    assert got == ("2min", "30s", "5min", "off", "force_custom_plan")


def test_pool_replaces_a_connection_the_server_killed(db_url, settings) -> None:
    """What a PostgreSQL restart does to every pooled connection, done to one: the next checkout works."""
    from worker.store.db import pool, pooled

    p = pool(settings)
    p.wait(timeout=10)
    with pooled(settings) as c:
        victim = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(db_url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (victim,)).fetchone()[0]
    for _ in range(3):  # each checkout is health-checked: the dead one is never handed out
        with pooled(settings) as c:
            assert c.execute("SELECT pg_backend_pid()").fetchone()[0] != victim


def test_a_lock_wait_ends_at_lock_timeout_and_is_retried_as_transient(db_url, conn) -> None:
    from worker.store.db import connect

    conn.execute("INSERT INTO feeds (url) VALUES ('https://example.org/locked')")
    conn.commit()
    conn.execute("SELECT id FROM feeds FOR UPDATE")  # hold the row
    with connect(db_url) as other:
        other.execute("SET lock_timeout = '300ms'")  # the session default is 30 s; same mechanism
        with pytest.raises(psycopg.errors.LockNotAvailable) as err:
            other.execute("UPDATE feeds SET title = 'x'")
    assert classify(err.value) == "database"  # retried with backoff by the task boundary
    conn.rollback()


def test_a_runaway_statement_ends_at_statement_timeout_and_is_retried_as_transient(db_url) -> None:
    from worker.store.db import connect

    with connect(db_url) as c:
        c.execute("SET statement_timeout = '200ms'")  # the session default is 120 s; same mechanism
        with pytest.raises(psycopg.errors.QueryCanceled) as err:
            c.execute("SELECT pg_sleep(5)")
    assert classify(err.value) == "database"
