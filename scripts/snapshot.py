"""Snapshot every stored row after ingesting a set of feed files, to diff behaviour across a refactor.

    .venv/bin/python scripts/snapshot.py OUT.jsonl [FEED_FILE_OR_DIR ...]

Creates a scratch database next to ``DATABASE_URL`` (or ``WIREFEED_TEST_ADMIN_URL``), runs the installed
``wirefeed migrate`` and one ``wirefeed ingest`` (``WIREFEED_FETCH_PAGES=never``) over every file
(directories are walked, files sorted), then writes each public table's rows as canonical JSON lines,
sorted, and drops the database.
Without paths it ingests the repository's test data (``tests/data``).

Only what varies from run to run is masked: wall-clock columns (``timestamptz`` other than
``published_at``, which reads ``~first_seen`` when it is within
10 minutes of the first-seen time: an undated or future-dated item), transaction ids, and the
absolute path of each input (``file://<ROOT>/…``). Two snapshots of the same inputs on the same code are
byte-identical, so ``diff`` shows exactly what a change did to stored data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
FEED_SUFFIXES = {".xml", ".rss", ".atom", ".rdf", ".json", ".feed"}
VOLATILE_TYPES = {"timestamp with time zone", "timestamp without time zone", "xid8", "xid"}


def feed_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in FEED_SUFFIXES
                              and not f.name.endswith((".expected.json", ".truth.json"))))
        else:
            out.append(p)
    return out


def _admin_url() -> str:
    return os.environ.get("WIREFEED_TEST_ADMIN_URL") or os.environ.get(
        "DATABASE_URL", "postgresql://127.0.0.1:5432/postgres")


def dump(url: str, roots: list[str]) -> list[str]:
    lines: list[str] = []
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
            "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY 1")]
        for table in tables:
            cols = conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
            keep = [c for c, t in cols if t not in VOLATILE_TYPES or c == "published_at"]
            has_first_seen = any(c == "first_seen_at" for c, _ in cols)
            exprs = []
            for c in keep:
                if c == "published_at" and has_first_seen:
                    exprs.append(sql.SQL(
                        "CASE WHEN abs(extract(epoch FROM published_at - first_seen_at)) < 600 "
                        "THEN '~first_seen' ELSE published_at::text END"))
                else:
                    exprs.append(sql.SQL("{}::text").format(sql.Identifier(c)))
            rows = conn.execute(sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(exprs), sql.Identifier(table))).fetchall()
            body = []
            for row in rows:
                text = json.dumps(dict(zip(keep, row, strict=True)), ensure_ascii=False, sort_keys=True)
                for i, r in enumerate(roots):
                    text = text.replace(r, f"<ROOT{i}>")
                body.append(f"{table}\t{text}")
            lines.extend(sorted(body))
    return lines


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    inputs = [Path(a).resolve() for a in argv[1:]] or [ROOT / "tests" / "data"]
    files = feed_files(inputs)
    admin = _admin_url()
    name = f"wirefeed_snapshot_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = psycopg.conninfo.make_conninfo(admin, dbname=name)
    try:
        env = {**os.environ, "DATABASE_URL": url, "WIREFEED_FETCH_PAGES": "never", "WIREFEED_LOG_FORMAT": "json"}
        exe = Path(sys.executable).with_name("wirefeed")
        subprocess.run([str(exe), "migrate"], env=env, check=True, capture_output=True)
        done = subprocess.run([str(exe), "ingest", "--json", *map(str, files)], env=env,
                              capture_output=True, text=True)
        if done.returncode not in (0, 1):
            sys.stderr.write(done.stderr[-3000:])
            return done.returncode
        report = json.loads(done.stdout)
        lines = dump(url, [str(p) for p in inputs])
        out.write_text("\n".join(lines) + "\n")
        print(f"{len(files)} inputs, totals {json.dumps(report.get('totals'), sort_keys=True)}, "
              f"{len(lines)} rows -> {out}")
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
