"""The statements behind ``wirefeed migrate`` and the schema checks: the advisory lock, the
``schema_migrations`` ledger, and running one migration's SQL. Each runs in its caller's transaction;
``worker.migrations`` decides what to apply and commits each migration on its own."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

MIGRATION_LOCK = 0x77697265  # "wire": a fixed advisory lock key for schema changes


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str  # SHA-256 of the file's text when it was applied


def lock(conn: psycopg.Connection) -> None:
    """Wait for any other process changing the schema; held until the caller's transaction ends."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))


def create_ledger(conn: psycopg.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version integer PRIMARY KEY,
               name text NOT NULL,
               checksum text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def applied(conn: psycopg.Connection) -> dict[int, AppliedMigration]:
    """The migrations recorded as applied, by version (none when the ledger does not exist yet)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not (exists and exists[0]):
        return {}
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version").fetchall()
    return {int(v): AppliedMigration(int(v), n, c) for v, n, c in rows}


def applied_checksum(conn: psycopg.Connection, version: int) -> str | None:
    row = conn.execute("SELECT checksum FROM schema_migrations WHERE version = %s", (version,)).fetchone()
    return str(row[0]) if row is not None else None


def apply(conn: psycopg.Connection, version: int, name: str, checksum: str, sql: str) -> None:
    """Run one migration's SQL and record it in the ledger."""
    conn.execute(sql.encode())  # bytes: sent as a simple query, so a file may hold several statements
    conn.execute(
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)", (version, name, checksum)
    )
