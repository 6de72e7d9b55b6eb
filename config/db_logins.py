"""Compose's migrate step: the login roles the services and consumers connect with.

``wirefeed migrate`` creates the group roles ``wirefeed_ingest`` (rows, no DDL) and ``wirefeed_reader``
(SELECT on the public schema), NOLOGIN, and grants them their rights. This script gives each a login:

    ingest   in role wirefeed_ingest, password POSTGRES_INGEST_PASSWORD   (workers, beat)
    reader   in role wirefeed_reader, password POSTGRES_READER_PASSWORD   (downstream consumers)

It runs as the owner (DATABASE_URL, with the password in PGPASSWORD) on every ``docker compose up``, so a
changed password in the environment or ``.env`` takes effect with the next ``up``. Passwords are sent as SQL
literals over the connection and are never printed. Exit 1 with one line when a password is missing.
"""

from __future__ import annotations

import os
import sys

import psycopg
from psycopg import sql

LOGINS = (  # (login, group role, environment variable holding its password)
    ("ingest", "wirefeed_ingest", "POSTGRES_INGEST_PASSWORD"),
    ("reader", "wirefeed_reader", "POSTGRES_READER_PASSWORD"),
)


def ensure_login(conn: psycopg.Connection, login: str, group: str, password: str) -> str:
    """Create ``login`` (or reset its password) as a member of ``group``; returns what was done."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (login,)).fetchone() is not None
    verb = "ALTER" if exists else "CREATE"
    conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}").format(
        sql.Identifier(login), sql.Literal(password)))
    conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(login)))
    return "password updated" if exists else "created"


def main() -> int:
    missing = [var for _, _, var in LOGINS if not os.environ.get(var)]
    if missing:
        print(f"db_logins: {', '.join(missing)} not set: cannot create the database logins", file=sys.stderr)
        return 1
    with psycopg.connect(os.environ["DATABASE_URL"], autocommit=True) as conn:
        for login, group, var in LOGINS:
            done = ensure_login(conn, login, group, os.environ[var])
            print(f"login {login} (in role {group}): {done}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
