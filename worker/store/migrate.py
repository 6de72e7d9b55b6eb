"""Apply the numbered SQL migrations in ``worker/migrations`` exactly once each.

Safe when several processes run it at once: every run takes one transaction-level advisory lock,
so the others wait and then find nothing left to do.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from worker.errors import ConfigError

MIGRATION_LOCK = 0x77697265  # "wire": a fixed advisory lock key for schema changes
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files("worker.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(versions) != len(set(versions)):
        raise ConfigError(f"two migrations share a version number: {versions}")
    return found


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply what is missing, each migration in its own transaction. Returns what was applied."""
    applied: list[Migration] = []
    conn.autocommit = False
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   checksum text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
    for mig in available():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            row = conn.execute(
                "SELECT checksum FROM schema_migrations WHERE version = %s", (mig.version,)
            ).fetchone()
            if row is not None:
                continue
            conn.execute(mig.sql.encode())
            conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (mig.version, mig.name, mig.checksum),
            )
            applied.append(mig)
    return applied


def pending(conn: psycopg.Connection) -> list[Migration]:
    """Migrations not yet applied (an empty list when the schema is current)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    done: set[int] = set()
    if exists and exists[0]:
        done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
    return [m for m in available() if m.version not in done]
