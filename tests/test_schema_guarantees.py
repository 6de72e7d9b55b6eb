"""What docs/schema.md promises about rows, held by PostgreSQL itself (migrations 0001 and 0009), and kept by
the real pipeline when an item comes back changed."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>Guarantees</title><link>https://g.example/</link>
<item><title>{title}</title><link>https://g.example/story?utm_source=rss</link><guid>tag:g.example,2026:1</guid>
<description>{body}</description></item>
<item><title>No link</title><guid>tag:g.example,2026:2</guid><description>No link: no URL.</description></item>
</channel></rss>"""
G1, G2 = "tag:g.example,2026:1", "tag:g.example,2026:2"


def _ingest(cli, path: Path, title: str, body: str) -> dict:
    path.write_text(FEED.format(title=title, body=body))
    r = cli("ingest", "--json", str(path))
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)["inputs"][0]


def _rows(conn: psycopg.Connection) -> dict[str, tuple]:
    return {guid: row for guid, *row in conn.execute(
        "SELECT s.guid, a.id, a.url, a.first_seen_at, s.seen_at, a.content_text FROM article_sightings s "
        "JOIN articles a ON a.id = s.article_id")}


@pytest.fixture()
def stored(cli, conn, tmp_path: Path) -> dict[str, tuple]:
    _ingest(cli, tmp_path / "g.xml", "First title", "The first version of the story, as it was published.")
    return _rows(conn)


def test_a_changed_item_keeps_its_url_first_seen_at_and_seen_at(cli, conn, tmp_path: Path, stored) -> None:
    doc = _ingest(cli, tmp_path / "g.xml", "Corrected title", "The corrected version of the story, edited later.")
    assert doc["updated"] == 1
    after = _rows(conn)
    aid, url, first_seen, seen, text = after[G1]
    assert text.startswith("The corrected version")  # the article did change ...
    assert [aid, url, first_seen, seen] == stored[G1][:4]  # ... and these did not


def test_deleting_a_feed_deletes_its_sightings_and_keeps_its_articles(conn, stored) -> None:
    assert conn.execute("SELECT count(*) FROM article_sightings").fetchone()[0] == 2
    conn.execute("DELETE FROM feeds")
    assert conn.execute("SELECT count(*) FROM article_sightings").fetchone()[0] == 0  # ON DELETE CASCADE
    # articles stay (another feed may carry them); their first feed is forgotten
    assert conn.execute("SELECT count(*), count(feed_id) FROM articles").fetchone() == (2, 0)


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE articles SET first_seen_at = first_seen_at - interval '1 day' WHERE url IS NOT NULL",
         "articles.first_seen_at never changes"),  # back-dated
        ("UPDATE articles SET first_seen_at = now() + interval '1 hour' WHERE url IS NULL",
         "articles.first_seen_at never changes"),  # moved forward
        ("UPDATE articles SET url = 'https://g.example/other' WHERE url IS NOT NULL",
         "articles.url never changes once set"),  # replaced
        ("UPDATE articles SET url = NULL WHERE url IS NOT NULL",
         "articles.url never changes once set"),  # cleared
        ("UPDATE article_sightings SET seen_at = seen_at - interval '1 day'",
         "article_sightings.seen_at never changes"),  # back-dated
    ],
)
def test_the_database_refuses_to_change_what_never_changes(conn, stored, statement: str, message: str) -> None:
    with pytest.raises(psycopg.errors.CheckViolation) as info:
        conn.execute(statement)
    assert message in str(info.value)
    conn.rollback()
    assert _rows(conn) == stored


def test_a_missing_url_can_be_filled_in_once(conn, stored) -> None:
    aid = stored[G2][0]
    assert stored[G2][1] is None
    conn.execute("UPDATE articles SET url = 'https://g.example/found' WHERE id = %s", (aid,))  # NULL -> set: fine
    conn.execute("UPDATE articles SET url = url, first_seen_at = first_seen_at WHERE id = %s", (aid,))  # same
    conn.commit()
    with pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE articles SET url = 'https://g.example/again' WHERE id = %s", (aid,))
    conn.rollback()
