"""The reader role sees exactly what docs/schema.md promises (migration 0012): the public columns, no internal
one, no feed whose URL carries credentials, and sighting links that are safe to follow."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from tests.conftest import ADMIN_URL, ROOT, _with_db
from worker.redaction import is_secret_name


def documented_columns() -> dict[str, set[str]]:
    """Each public relation of docs/schema.md (a section titled with its name) and the columns its table
    lists (the first cell of each row; a cell may name several)."""
    text = (ROOT / "docs" / "schema.md").read_text()
    found: dict[str, set[str]] = {}
    for section in text.split("\n## ")[1:]:
        title, _, body = section.partition("\n")
        name = re.match(r"`(\w+)`", title)
        if not name:
            continue
        cols = {c for line in body.splitlines() if line.startswith("| `")
                for c in re.findall(r"`(\w+)`", line.split("|")[1])}
        found[name.group(1)] = cols
    return found


def reader_columns(conn: psycopg.Connection) -> dict[str, set[str]]:
    """From the catalog: every column of the public schema the reader role may SELECT."""
    rows = conn.execute(
        """SELECT c.relname, a.attname
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')
             AND has_column_privilege('wirefeed_reader', c.oid, a.attnum, 'SELECT')""").fetchall()
    out: dict[str, set[str]] = {}
    for rel, col in rows:
        out.setdefault(rel, set()).add(col)
    return out


def test_the_reader_sees_exactly_the_documented_columns(conn) -> None:
    docs = documented_columns()
    assert {"feeds", "articles", "article_sightings", "article_pages", "sighting_links"} <= docs.keys()
    assert "etag" not in docs["feeds"] and "ingest_xid" not in docs["articles"]  # internal: not in the tables
    assert reader_columns(conn) == docs


@pytest.fixture()
def reader_login(db_url: str) -> Iterator[str]:
    """A LOGIN role in wirefeed_reader, as an operator makes one; its conninfo for the session database."""
    login = f"wirefeed_test_reader_{uuid.uuid4().hex[:8]}"
    admin = _with_db(ADMIN_URL, "postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("CREATE ROLE {} LOGIN IN ROLE wirefeed_reader").format(sql.Identifier(login)))
    try:
        yield psycopg.conninfo.make_conninfo(db_url, user=login)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(login)))


def _seed(conn: psycopg.Connection) -> None:
    for url in ("https://reader.example/plain.xml", "https://user:pw@reader.example/private.xml",
                "https://reader.example/feed?API-Key=abc", "https://token@reader.example/t.xml"):
        conn.execute("INSERT INTO feeds (url, etag, last_error) VALUES (%s, 'W/\"1\"', 'x')", (url,))
    fid = conn.execute("SELECT id FROM feeds WHERE url LIKE '%%plain.xml'").fetchone()[0]
    aid = conn.execute("""INSERT INTO articles (title, content_text, published_at, content_hash)
                          VALUES ('t', 'text', now(), 'reader-1') RETURNING id""").fetchone()[0]
    for guid, link in (("a", "https://reader.example/a"), ("b", "javascript:alert(1)"), ("c", "HTTP://x.example/c"),
                       ("d", "data:text/html,<b>x</b>"), ("e", "/relative"), ("f", "https://x.example/a b")):
        conn.execute("""INSERT INTO article_sightings (feed_id, guid, article_id, link, entry_hash)
                        VALUES (%s, %s, %s, %s, 'h')""", (fid, guid, aid, link))
    conn.commit()


def test_a_reader_login_reads_public_columns_only(conn, reader_login: str) -> None:
    _seed(conn)
    with psycopg.connect(reader_login, autocommit=True) as reader:
        urls = [r[0] for r in reader.execute("SELECT url FROM feeds ORDER BY id")]
        assert urls == ["https://reader.example/plain.xml"]  # feeds with credentials: not there at all
        assert reader.execute("SELECT count(*) FROM articles").fetchone()[0] == 1
        for stmt in ("SELECT etag FROM feeds", "SELECT boilerplate_keys FROM feeds", "SELECT * FROM feeds",
                     "SELECT ingest_xid FROM articles", "SELECT entry_hash FROM article_sightings",
                     "SELECT claimed_until FROM article_pages", "SELECT error_message FROM feed_fetches"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(stmt)
        links = dict(reader.execute("SELECT guid, link FROM sighting_links").fetchall())
        assert links == {"a": "https://reader.example/a", "b": None, "c": "HTTP://x.example/c", "d": None,
                         "e": None, "f": None}
        raw = dict(reader.execute("SELECT guid, link FROM article_sightings").fetchall())
        assert raw["b"] == "javascript:alert(1)"  # the table keeps what the feed wrote (documented)
    # the owner (and the workers' role, by its policy: tests/faults/test_security.py) still sees every feed
    assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == 4


def test_the_ingest_role_sees_and_writes_every_feed(conn) -> None:
    _seed(conn)
    conn.execute("SET ROLE wirefeed_ingest")
    assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == 4
    assert conn.execute("UPDATE feeds SET error_count = 1").rowcount == 4
    conn.execute("INSERT INTO feeds (url) VALUES ('https://u:p@reader.example/new.xml')")
    conn.rollback()


NAMES = ["password", "PassWord", "sslpassword", "client_secret", "x-api-key", "API.Key", "access_token", "key",
         "sig", "pwd", "auth", "sessionid", "page", "lang", "author", "monkey", "utm_source", "id", "keyword"]


def test_the_credentials_test_in_sql_agrees_with_the_redaction(conn) -> None:
    for name in NAMES:
        url = f"https://reader.example/feed?x=1&{name}=v#top"
        found = conn.execute("SELECT wirefeed_url_has_credentials(%s)", (url,)).fetchone()[0]
        assert found == is_secret_name(name), name
    fragment = "https://reader.example/#?token=x"  # a fragment is not a query
    assert conn.execute("SELECT wirefeed_url_has_credentials(%s)", (fragment,)).fetchone()[0] is False


def test_migration_0012_cleans_titles_and_sites_stored_before(empty_db_url: str) -> None:
    from worker.migrations import available, ledger, migrate

    with psycopg.connect(empty_db_url) as c:
        with c.transaction():
            ledger.create_ledger(c)
            for mig in available():
                if mig.version < 12:
                    ledger.apply(c, mig.version, mig.name, mig.checksum, mig.sql)
        with c.transaction():
            for url, title, site in (("https://m.example/1", "Nice\x1b]0;x\x07 title", "javascript:alert(1)"),
                                     ("https://m.example/2", "t" * 5000, "https://u:p@m.example/"),
                                     ("https://m.example/3", "Plain", "https://m.example/")):
                c.execute("INSERT INTO feeds (url, title, site_url) VALUES (%s, %s, %s)", (url, title, site))
        assert 12 in [m.version for m in migrate(c)]
        rows = c.execute("SELECT title, site_url FROM feeds ORDER BY url").fetchall()
    assert rows == [("Nice ]0;x title", None), ("t" * 1000, None), ("Plain", "https://m.example/")]
