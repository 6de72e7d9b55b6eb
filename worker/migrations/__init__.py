"""The numbered schema migrations (this package's ``NNNN_name.sql`` files) and the runner that applies each
exactly once.

Safe when several processes run it at once: every step takes one transaction-level advisory lock, so the
others wait and then find nothing left to do. An applied migration never changes: its checksum is recorded
when it is applied, and a file that no longer matches it stops ``wirefeed migrate`` before anything runs.
The full current schema these files build is ``worker/store/schema.sql`` (``scripts/schema.py`` writes it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from worker.errors import ConfigError
from worker.store import migrate as ledger

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationChanged(ConfigError):
    """An applied migration's file differs from what was applied."""

    kind = "migration_changed"


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    found = []
    for entry in resources.files(__name__).iterdir():
        m = _NAME.match(entry.name)
        if m:
            found.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda mig: mig.version)
    versions = [mig.version for mig in found]
    if len(versions) != len(set(versions)):
        raise ConfigError(f"two migrations share a version number: {versions}")
    return found


def _changed(mig: Migration, applied_checksum: str) -> MigrationChanged:
    return MigrationChanged(
        f"migration {mig.label} was applied with checksum {applied_checksum[:12]}, but "
        f"worker/migrations/{mig.label}.sql now has {mig.checksum[:12]}: an applied migration must not change; "
        "restore the file as it was applied and put the change in a new migration")


def check_unchanged(migrations: list[Migration], applied: dict[int, ledger.AppliedMigration]) -> None:
    """Raise :class:`MigrationChanged` for the first applied migration whose file no longer matches."""
    for mig in migrations:
        done = applied.get(mig.version)
        if done is not None and done.checksum != mig.checksum:
            raise _changed(mig, done.checksum)


def migrate(conn: psycopg.Connection) -> list[Migration]:
    """Apply what is missing, each migration in its own transaction. Returns what was applied.

    Raises :class:`MigrationChanged` (nothing applied) when an applied migration's file has changed."""
    migrations = available()
    conn.autocommit = False
    with conn.transaction():
        ledger.lock(conn)
        ledger.create_ledger(conn)
        check_unchanged(migrations, ledger.applied(conn))
    done: list[Migration] = []
    for mig in migrations:
        with conn.transaction():
            ledger.lock(conn)
            checksum = ledger.applied_checksum(conn, mig.version)
            if checksum is not None:
                if checksum != mig.checksum:  # applied meanwhile by a process with another file
                    raise _changed(mig, checksum)
                continue
            ledger.apply(conn, mig.version, mig.name, mig.checksum, mig.sql)
            done.append(mig)
    return done


def pending(conn: psycopg.Connection) -> list[Migration]:
    """Migrations not yet applied (an empty list when the schema is current)."""
    done = ledger.applied(conn)
    return [m for m in available() if m.version not in done]
