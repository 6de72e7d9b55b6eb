"""``worker/store/schema.sql`` is the schema the migrations build: a database migrated from empty and one
loaded from schema.sql have the same catalog. After a new or changed migration, run ``scripts/schema.py``."""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.conftest import ADMIN_URL, ROOT, _with_db
from worker.migrations import migrate

SCHEMA_SQL = ROOT / "worker" / "store" / "schema.sql"

# One line per catalog fact of the public schema, names and definitions only (no OIDs, no attribute numbers:
# a column dropped by one migration leaves a gap in the migrated table that a fresh CREATE TABLE does not).
# Privileges are not compared: schema.sql leaves them out (see scripts/schema.py).
_CATALOG = [
    # relations: kind, persistence (unlogged), storage options, row security
    """SELECT format('relation %s kind=%s persistence=%s options=%s rls=%s', c.relname, c.relkind, c.relpersistence,
                     c.reloptions, c.relrowsecurity)
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
    # columns, in table order
    """SELECT format('column %s[%s] %s %s notnull=%s default=%s identity=%s generated=%s collation=%s',
                     c.relname, row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), a.attname,
                     format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid),
                     a.attidentity, a.attgenerated, nullif(a.attcollation, t.typcollation))
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped""",
    """SELECT format('constraint %s.%s %s', c.relname, k.conname, pg_get_constraintdef(k.oid))
       FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public'""",
    """SELECT format('index %s', pg_get_indexdef(i.indexrelid))
       FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public'""",
    """SELECT format('trigger %s enabled=%s', pg_get_triggerdef(t.oid), t.tgenabled)
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND NOT t.tgisinternal""",
    """SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid))
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('v', 'm')""",
    """SELECT format('rule %s.%s %s', tablename, rulename, definition) FROM pg_rules WHERE schemaname = 'public'""",
    """SELECT format('function %s', pg_get_functiondef(p.oid))
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'""",
    """SELECT format('sequence %s %s start=%s min=%s max=%s step=%s cycle=%s cache=%s', sequencename, data_type,
                     start_value, min_value, max_value, increment_by, cycle, cache_size)
       FROM pg_sequences WHERE schemaname = 'public'""",
    """SELECT format('type %s kind=%s labels=%s', t.typname, t.typtype,
                     (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid))
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd')""",
    """SELECT format('policy %s.%s %s %s', c.relname, p.polname, pg_get_expr(p.polqual, p.polrelid),
                     pg_get_expr(p.polwithcheck, p.polrelid))
       FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid""",
    """SELECT format('comment %s %s', c.relname, d.description)
       FROM pg_description d JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'""",
    """SELECT format('extension %s', extname) FROM pg_extension""",
]


def catalog(url: str) -> list[str]:
    """The catalog facts, sorted, without parentheses. PostgreSQL prints an expression as it stored it, and the
    same condition can be stored two ways: migration 0004's row comparison ``(OLD.a, OLD.b) IS DISTINCT FROM
    (NEW.a, NEW.b)`` is kept as nested ORs, which a dump prints with all their parentheses and a reload then
    stores as one flat OR. Names, types, operators and order still have to match."""
    with psycopg.connect(url) as conn:
        facts = [str(row[0]) for query in _CATALOG for row in conn.execute(query)]
    return sorted(f.replace("(", "").replace(")", "") for f in facts)


@pytest.fixture()
def two_dbs(admin_url: str) -> Iterator[tuple[str, str]]:
    admin = admin_url
    names = [f"wirefeed_schema_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("migrated", "loaded")]
    with psycopg.connect(admin, autocommit=True) as c:
        for name in names:
            c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield _with_db(ADMIN_URL, names[0]), _with_db(ADMIN_URL, names[1])
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            for name in names:
                c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _load(url: str, path: Path) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(path.read_bytes())  # bytes: one simple query, every statement of the file


def test_migrated_database_equals_schema_sql(two_dbs: tuple[str, str]) -> None:
    migrated, loaded = two_dbs
    with psycopg.connect(migrated) as conn:
        migrate(conn)
    _load(loaded, SCHEMA_SQL)
    want, got = catalog(migrated), catalog(loaded)
    diff = "\n".join(difflib.unified_diff(got, want, "schema.sql", "migrations", lineterm="", n=0))
    assert want == got, f"worker/store/schema.sql is not what the migrations build: run scripts/schema.py\n{diff}"


def test_the_comparison_sees_a_changed_schema(two_dbs: tuple[str, str], tmp_path: Path) -> None:
    """The control: a schema.sql one migration behind (here: one column and one index short) differs."""
    migrated, loaded = two_dbs
    with psycopg.connect(migrated) as conn:
        migrate(conn)
    text = SCHEMA_SQL.read_text(encoding="utf-8")
    assert "CREATE UNLOGGED TABLE public.story_claims" in text
    behind = tmp_path / "schema.sql"
    behind.write_text(text.replace("CREATE UNLOGGED TABLE public.story_claims", "CREATE TABLE public.story_claims"),
                      encoding="utf-8")
    _load(loaded, behind)
    diff = set(catalog(migrated)) ^ set(catalog(loaded))
    assert any(line.startswith("relation story_claims") for line in diff), diff
