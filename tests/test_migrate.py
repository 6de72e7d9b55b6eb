"""Migrations: from empty, twice, and several processes at once."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from worker.migrations import Migration, MigrationChanged, available, check_unchanged
from worker.store.migrate import AppliedMigration

EXPECTED_PUBLIC = {"feeds", "articles", "article_sightings", "schema_migrations"}


@pytest.fixture()
def empty_db(empty_db_url: str) -> str:
    return empty_db_url


def _migrate_cli(url: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("wirefeed")
    return subprocess.run([str(exe), "migrate"], env={**os.environ, "DATABASE_URL": url},
                          capture_output=True, text=True, timeout=120)


def _schema(url: str) -> tuple[set[str], list[int]]:
    with psycopg.connect(url) as c:
        tables = {r[0] for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
        versions = [r[0] for r in c.execute("SELECT version FROM schema_migrations ORDER BY version")]
        views = {r[0] for r in c.execute("SELECT viewname FROM pg_views WHERE schemaname = 'public'")}
    return tables | views, versions


def test_migrate_from_empty_then_again_is_a_no_op(empty_db: str) -> None:
    first = _migrate_cli(empty_db)
    assert first.returncode == 0, first.stderr
    assert "applied 0001_core" in first.stdout
    objects, versions = _schema(empty_db)
    assert EXPECTED_PUBLIC | {"stories"} <= objects
    assert versions == [m.version for m in available()]

    second = _migrate_cli(empty_db)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "schema is up to date"
    assert _schema(empty_db)[1] == versions


def test_three_concurrent_migrations_apply_each_version_once(empty_db: str) -> None:
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(_migrate_cli, [empty_db] * 3))
    assert [r.returncode for r in results] == [0, 0, 0], [r.stderr for r in results]
    applied_lines = [line for r in results for line in r.stdout.splitlines() if line.startswith("applied")]
    # every migration was applied by exactly one of the three processes
    assert sorted(applied_lines) == sorted(f"applied {m.version:04d}_{m.name}" for m in available())
    assert _schema(empty_db)[1] == [m.version for m in available()]


def test_cli_refuses_to_work_on_an_unmigrated_database(empty_db: str) -> None:
    exe = Path(sys.executable).with_name("wirefeed")
    r = subprocess.run([str(exe), "feeds", "list"], env={**os.environ, "DATABASE_URL": empty_db},
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "run `wirefeed migrate`" in r.stderr
    assert "Traceback" not in r.stderr


def test_migrate_without_schema_rights_says_what_to_do(db_url: str) -> None:
    """A user that may not create tables gets one line naming the fix, not a traceback."""
    name = f"wirefeed_noddl_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(name)))
        c.execute("CREATE SCHEMA IF NOT EXISTS noddl")
    try:
        url = psycopg.conninfo.make_conninfo(db_url, user=name, options="-c search_path=noddl")
        r = _migrate_cli(url)
        assert r.returncode == 2
        assert "Traceback" not in r.stderr
        assert "may not change the schema" in r.stderr and "as the database owner" in r.stderr
    finally:
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("DROP SCHEMA IF EXISTS noddl CASCADE")
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def test_migrate_refuses_an_applied_migration_whose_file_changed(empty_db: str) -> None:
    """The checksum recorded when 0003 was applied no longer matches its file (as after an edit of the file):
    one line naming the migration and what to do, exit non-zero, nothing applied or rewritten."""
    assert _migrate_cli(empty_db).returncode == 0
    with psycopg.connect(empty_db, autocommit=True) as c:
        c.execute("UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 3")
        c.execute("DELETE FROM schema_migrations WHERE version = 8")  # a pending one: must not run
        before = c.execute("SELECT version, checksum FROM schema_migrations ORDER BY 1").fetchall()
    r = _migrate_cli(empty_db)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "migration 0003_stories" in lines[0] and "must not change" in lines[0] and "new migration" in lines[0]
    assert "applied" not in r.stdout
    with psycopg.connect(empty_db) as c:
        assert c.execute("SELECT version, checksum FROM schema_migrations ORDER BY 1").fetchall() == before


_A = Migration(1, "core", "CREATE TABLE a ();")


@pytest.mark.parametrize(
    ("applied", "changed"),
    [
        ({}, None),  # nothing applied yet
        ({1: AppliedMigration(1, "core", _A.checksum)}, None),  # applied as the file is now
        ({1: AppliedMigration(1, "core", "0" * 64)}, "0001_core"),  # the file changed since it was applied
        ({1: AppliedMigration(1, "core", _A.checksum), 2: AppliedMigration(2, "later", "x")}, None),  # newer DB
    ],
)
def test_check_unchanged(applied: dict[int, AppliedMigration], changed: str | None) -> None:
    if changed is None:
        check_unchanged([_A], applied)
    else:
        with pytest.raises(MigrationChanged, match=f"migration {changed} was applied with checksum 000000000000"):
            check_unchanged([_A], applied)
