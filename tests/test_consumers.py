"""The consumers' interface (migration 0004): NOTIFY, the commit-ordered cursor, full-text search, roles."""

from __future__ import annotations

import json

import psycopg
import pytest
from psycopg import sql

from tests.conftest import FIXTURES

SIS, ALLAFRICA, AHRAM = (FIXTURES / n for n in ("sis-gov-eg.rss", "allafrica-egypt.rss", "ahram-online.atom"))

_INSERT = """INSERT INTO articles (url, title, content_text, published_at, content_hash, language)
             VALUES (%s, %s, %s, now(), %s, %s) RETURNING id"""


def _insert(c: psycopg.Connection, key: str, *, title: str = "t", text: str = "x", lang: str | None = "en") -> int:
    row = c.execute(_INSERT, (f"https://example.org/{key}", title, text, f"hash-{key}", lang)).fetchone()
    assert row is not None
    return int(row[0])


def _ingest(cli, *paths) -> None:
    r = cli("ingest", *map(str, paths))
    assert r.returncode == 0, r.stderr


@pytest.fixture()
def ingest(db_url, settings):
    """The pipeline in this process (what `wirefeed ingest` runs, without a process start per call)."""
    from worker import pipeline
    from worker.store.db import connect

    def run(*paths) -> None:
        with connect(db_url) as c:
            for p in paths:
                rep = pipeline.ingest_file(c, settings, p)
                assert rep.status == "ok", rep.error

    return run


# --- NOTIFY --------------------------------------------------------------------------------------

def test_notify_received_by_a_listener_after_ingest(cli, conn, db_url) -> None:
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN wirefeed_articles")
        _ingest(cli, SIS)
        got = [json.loads(n.payload) for n in listener.notifies(timeout=10, stop_after=1)]
    assert len(got) == 1
    rows = conn.execute("SELECT id, story_id, feed_id FROM articles ORDER BY id").fetchall()
    assert len(rows) == 2  # the Cairo report and the Egypt–Sudan meeting
    assert got[0]["feed_id"] == rows[0][2]
    assert got[0]["articles"] == [{"id": aid, "story_id": sid} for aid, sid, _ in rows]


def test_no_notify_when_nothing_new(cli, ingest, conn, db_url) -> None:
    ingest(SIS)
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN wirefeed_articles")
        _ingest(cli, "--force", SIS)  # re-processed, every item known: no new rows, no message
        assert list(listener.notifies(timeout=1, stop_after=1)) == []


# --- the cursor ----------------------------------------------------------------------------------

def test_cursor_catch_up_returns_exactly_the_new_rows(ingest, conn) -> None:
    ingest(SIS)
    cursor = conn.execute("SELECT max(ingest_seq) FROM articles").fetchone()[0]
    before = {r[0] for r in conn.execute("SELECT id FROM articles")}
    conn.commit()
    ingest(ALLAFRICA, AHRAM)
    caught = [r[0] for r in conn.execute("SELECT id FROM articles WHERE ingest_seq > %s ORDER BY ingest_seq",
                                         (cursor,))]
    after = {r[0] for r in conn.execute("SELECT id FROM articles")}
    assert caught, "the second ingest stored nothing new"
    assert set(caught) == after - before
    assert len(caught) == len(set(caught))
    # nothing is waiting for a number once committed
    assert conn.execute("SELECT count(*) FROM articles WHERE ingest_seq IS NULL").fetchone()[0] == 0


def test_cursor_follows_commit_order_not_insert_order(conn, db_url) -> None:
    """The case an id cursor gets wrong: the older insert commits last. A consumer reading in between
    must still find it afterwards."""
    early = psycopg.connect(db_url)
    late = psycopg.connect(db_url)
    try:
        id_early = _insert(early, "early")
        id_late = _insert(late, "late")
        assert id_early < id_late
        late.commit()
        seen = conn.execute("SELECT id, ingest_seq FROM articles").fetchall()
        conn.commit()
        assert [r[0] for r in seen] == [id_late]
        cursor = seen[0][1]
        early.commit()
        caught = [r[0] for r in conn.execute("SELECT id FROM articles WHERE ingest_seq > %s", (cursor,))]
        assert caught == [id_early]  # an id cursor (id > id_late) would have lost it
    finally:
        early.close()
        late.close()


def test_cursor_moves_when_content_changes_not_otherwise(conn) -> None:
    aid = _insert(conn, "a")
    conn.commit()
    first = conn.execute("SELECT ingest_seq FROM articles WHERE id = %s", (aid,)).fetchone()[0]
    conn.execute("UPDATE articles SET updated_at = now() WHERE id = %s", (aid,))  # no content change
    conn.commit()
    assert conn.execute("SELECT ingest_seq FROM articles WHERE id = %s", (aid,)).fetchone()[0] == first
    conn.execute("UPDATE articles SET title = 'corrected' WHERE id = %s", (aid,))
    conn.commit()
    assert conn.execute("SELECT ingest_seq FROM articles WHERE id = %s", (aid,)).fetchone()[0] > first


def test_rows_of_one_transaction_are_numbered_in_id_order(conn) -> None:
    ids = [_insert(conn, f"k{i}") for i in range(5)]
    conn.commit()
    rows = conn.execute("SELECT id FROM articles ORDER BY ingest_seq").fetchall()
    assert [r[0] for r in rows] == ids


# --- full-text search ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("lang", "config"),
    [
        ("en", "english"),  # plain ISO 639-1
        ("EN-gb", "english"),  # a region tag, upper case
        ("pt_BR", "portuguese"),  # underscore form
        ("ar", "arabic"),  # the corpus's other big language
        ("nb", "norwegian"),  # Bokmål maps to norwegian
        ("xx", "simple"),  # unknown code
        ("", "simple"),  # empty
        (None, "simple"),  # language not known
    ],
)
def test_ts_config_mapping(conn, lang: str | None, config: str) -> None:
    assert conn.execute("SELECT wirefeed_ts_config(%s)::text", (lang,)).fetchone()[0] == config


def test_full_text_query_finds_the_cairo_report_by_haftar(ingest, conn) -> None:
    ingest(SIS, ALLAFRICA, AHRAM)
    rows = conn.execute(
        """SELECT a.title, a.story_id, ts_rank(a.search, q) AS rank
           FROM articles a, websearch_to_tsquery('english', 'Haftar') q
           WHERE a.search @@ q ORDER BY rank DESC"""
    ).fetchall()
    assert rows, "no article matched 'Haftar'"
    assert all("Libya" in title for title, _, _ in rows)  # the Cairo report, not the Egypt–Sudan meeting
    assert len({story for _, story, _ in rows}) == 1
    sudan = conn.execute("SELECT count(*) FROM articles WHERE title LIKE '%%Sudan%%'").fetchone()[0]
    assert sudan == 1  # it exists, and the query rightly left it out


def test_search_is_language_aware_and_uses_the_index(conn) -> None:
    en = _insert(conn, "en", title="Ministers were meeting", lang="en")
    unknown = _insert(conn, "xx", title="Ministers were meeting", lang=None)
    conn.commit()
    # English stemming: "meetings" finds "meeting" in the English article only
    hits = [r[0] for r in conn.execute(
        "SELECT id FROM articles WHERE search @@ to_tsquery('english', 'meetings') ORDER BY id")]
    assert hits == [en]
    # the unknown-language article is indexed word for word ('simple'): the literal word finds it
    hits = [r[0] for r in conn.execute(
        "SELECT id FROM articles WHERE search @@ to_tsquery('simple', 'meeting') ORDER BY id")]
    assert hits == [unknown]
    # the documented any-language query: both configurations OR-ed, still one index scan
    query = ("SELECT id FROM articles WHERE search @@ (websearch_to_tsquery('english', 'meeting') "
             "|| websearch_to_tsquery('simple', 'meeting')) ORDER BY id")
    assert [r[0] for r in conn.execute(query)] == [en, unknown]
    conn.execute("SET enable_seqscan = off")
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + query))
    assert "articles_search_idx" in plan


def test_search_follows_a_title_change_and_survives_a_huge_text(conn) -> None:
    aid = _insert(conn, "t", title="Old headline")
    conn.execute("UPDATE articles SET title = 'Fresh headline' WHERE id = %s", (aid,))
    huge = _insert(conn, "huge", text=" ".join(f"w{i}" for i in range(300_000)))  # 2 MB of distinct words
    conn.commit()
    assert conn.execute("SELECT search @@ to_tsquery('simple', 'fresh') FROM articles WHERE id = %s",
                        (aid,)).fetchone()[0]
    assert conn.execute("SELECT search @@ to_tsquery('simple', 'w10') FROM articles WHERE id = %s",
                        (huge,)).fetchone()[0]


# --- roles ---------------------------------------------------------------------------------------

def test_reader_role_can_select_and_cannot_write(ingest, conn) -> None:
    ingest(SIS)
    conn.execute("SET ROLE wirefeed_reader")
    for table in ("feeds", "articles", "article_sightings", "stories"):
        assert conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0] > 0
    statements = [
        "INSERT INTO feeds (url) VALUES ('https://example.org/x')",
        "UPDATE articles SET title = 'x'",
        "DELETE FROM article_sightings",
        "SELECT count(*) FROM article_fingerprints",  # internal tables are not public
        "SELECT count(*) FROM feed_fetches",  # fetch history (error messages) stays with operators
        "CREATE TABLE mine (x int)",
    ]
    for stmt in statements:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(stmt)
    conn.rollback()


def test_ingest_role_can_write_rows_but_not_change_the_schema(conn) -> None:
    conn.execute("SET ROLE wirefeed_ingest")
    fid = conn.execute("INSERT INTO feeds (url) VALUES ('https://example.org/f') RETURNING id").fetchone()[0]
    aid = _insert(conn, "by-ingest")
    conn.execute("INSERT INTO article_sightings (feed_id, guid, article_id, entry_hash) VALUES (%s, 'g', %s, 'h')",
                 (fid, aid))
    conn.commit()  # the commit-time cursor trigger runs with the ingest role's rights
    assert conn.execute("SELECT ingest_seq FROM articles WHERE id = %s", (aid,)).fetchone()[0] is not None
    for stmt in ("DROP TABLE article_sightings", "INSERT INTO schema_migrations VALUES (99, 'x', 'x')"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute(stmt)
    conn.rollback()


def test_migration_is_idempotent_when_the_roles_already_exist(db_url: str, empty_db_url: str) -> None:
    """Roles are cluster-wide: a second database's migration must find them and go on."""
    from worker.migrations import migrate

    with psycopg.connect(empty_db_url) as c:  # the session's database, migrated already, made the roles
        applied = [m.version for m in migrate(c)]
        assert 4 in applied
        granted = c.execute(
            "SELECT has_column_privilege('wirefeed_reader', 'articles', 'title', 'SELECT'), "
            "has_any_column_privilege('wirefeed_reader', 'articles', 'INSERT')").fetchone()
        assert granted == (True, False)


# --- the documentation's examples run, as the reader --------------------------------------------

def _doc_sql_blocks() -> list[str]:
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "consumers.md").read_text()
    blocks = [b.split("```", 1)[0].strip() for b in text.split("```sql")[1:]]
    return [b for b in blocks if b.lstrip().upper().startswith(("SELECT", "--"))]


def test_every_sql_example_in_consumers_md_runs_as_the_reader(ingest, conn) -> None:
    ingest(SIS, ALLAFRICA, AHRAM)
    blocks = _doc_sql_blocks()
    assert len(blocks) >= 3
    conn.execute("SET ROLE wirefeed_reader")
    results = [conn.execute(b).fetchall() for b in blocks]
    conn.rollback()
    haftar = results[0]
    assert haftar and all("Libya" in row[1] for row in haftar)  # the first example: the Haftar query


PUBLIC_RELATIONS = {"feeds", "articles", "article_sightings", "stories", "article_links",  # docs/schema.md's
                    "article_pages", "article_urls", "sighting_links"}


def test_reader_reads_exactly_the_public_relations_and_ingest_writes_every_table(conn) -> None:
    rels = conn.execute(
        """SELECT c.relname, c.relkind,
                  has_any_column_privilege('wirefeed_reader', c.oid, 'SELECT'),  -- per column (0012)
                  has_table_privilege('wirefeed_ingest', c.oid, 'INSERT')
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'v', 'm', 'p')"""
    ).fetchall()
    assert {name for name, _, readable, _ in rels if readable} == PUBLIC_RELATIONS
    # tables created by later migrations (0005...) are covered by the default privileges of 0004
    writable = {name for name, kind, _, insert in rels if kind == "r" and insert}
    tables = {name for name, kind, _, _ in rels if kind == "r"}
    assert writable == tables - {"schema_migrations"}


def test_the_catch_up_example_in_consumers_md_returns_every_row_once(ingest, conn, db_url) -> None:
    from tests.conftest import ROOT

    text = (ROOT / "docs" / "consumers.md").read_text()
    (block,) = [b.split("```", 1)[0] for b in text.split("```python")[1:] if "def catch_up" in b]
    definition = block.split("\nwith psycopg.connect")[0]  # the function, without the example's connection
    namespace: dict = {}
    exec(compile(definition, "consumers.md", "exec"), namespace)  # runs our own documentation
    catch_up = namespace["catch_up"]

    ingest(SIS)
    seen: list[int] = []
    with psycopg.connect(db_url, autocommit=True) as reader:
        reader.execute("SET ROLE wirefeed_reader")
        cursor = catch_up(reader, 0, lambda row: seen.append(row[1]))
        ingest(ALLAFRICA, AHRAM)
        cursor = catch_up(reader, cursor, lambda row: seen.append(row[1]))
        assert catch_up(reader, cursor, lambda row: seen.append(row[1])) == cursor  # nothing new: no move
    assert sorted(seen) == [r[0] for r in conn.execute("SELECT id FROM articles ORDER BY id")]
