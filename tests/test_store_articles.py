"""The article store writes only inside its caller's transaction, and never commits it."""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
import pytest

from worker.models import Article
from worker.store import articles as article_store
from worker.store import feeds as feed_store
from worker.stories.fingerprint import content_hash


def _article(n: int) -> Article:
    url, text = f"https://example.org/{n}", f"Body of item {n}."
    return Article(guid=url, link=url, url=url, title=f"Item {n}", summary=None, content_html=None,
                   content_text=text, author=None, publisher=None, syndicator=None, language="en",
                   published_at=datetime(2025, 9, 16, tzinfo=UTC), published_raw=None,
                   content_hash=content_hash(text, f"Item {n}", url))


def _count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM articles").fetchone()
    conn.rollback()
    return int(row[0]) if row else -1


def test_store_batch_refuses_to_run_outside_a_transaction(conn: psycopg.Connection) -> None:
    with conn.transaction():
        feed_id = feed_store.add_feed(conn, "https://example.org/feed").feed_id
    with pytest.raises(RuntimeError, match="inside the caller's transaction"):
        article_store.store_batch(conn, feed_id, [_article(1)], {})
    assert _count(conn) == 0


def test_store_batch_leaves_the_commit_to_its_caller(conn: psycopg.Connection) -> None:
    with conn.transaction():
        feed_id = feed_store.add_feed(conn, "https://example.org/feed").feed_id
    with conn.transaction(force_rollback=True):
        first = article_store.store_batch(conn, feed_id, [_article(1), _article(2)], {})
        assert len(first.new) == 2
        # the same item with a new entry hash: a changed item, written under a savepoint
        known = {"https://example.org/1": article_store.Known(first.new[0][0], "old")}
        again = article_store.store_batch(conn, feed_id, [_article(1)], known)
        assert again.updated == 1
    assert _count(conn) == 0  # the caller rolled back: nothing was committed on the way


def test_a_new_article_row_is_written_once_with_its_story_and_cursor_number(conn: psycopg.Connection,
                                                                            settings: object) -> None:
    """The pipeline decides a new row's story before inserting it and numbers it in the insert, so
    the row is never updated afterwards (each update would re-add its full-text and other index entries)."""
    from tests.conftest import CORPUS, FIXTURES
    from worker import pipeline

    files = [FIXTURES / "sis-gov-eg.rss", FIXTURES / "allafrica-egypt.rss", FIXTURES / "ahram-online.atom",
             CORPUS / "mediacloud-rss-fetcher/fetcher/test/fixtures/real-korean-times.rss"]
    with conn.transaction():  # the pipeline's own transactions become savepoints of this one
        reports = [pipeline.ingest_file(conn, settings, path, pages=False) for path in files]  # type: ignore[arg-type]
        ins, upd = conn.execute(
            "SELECT n_tup_ins, n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'articles'").fetchone()
    new = sum(r.new_articles for r in reports)
    assert new > 100 and sum(r.near_duplicates for r in reports) >= 1  # stories joined across feeds, too
    assert (ins, upd) == (new, 0)
    rows = conn.execute("SELECT id, story_id, ingest_seq, ingest_xid FROM articles ORDER BY id").fetchall()
    assert len(rows) == new
    assert all(sid is not None and seq is not None and xid is None for _, sid, seq, xid in rows)
    assert [r[2] for r in rows] == sorted(r[2] for r in rows)  # numbered in id order
    links = dict(conn.execute("SELECT article_id, story_id FROM article_links").fetchall())
    assert links == {aid: sid for aid, sid, _, _ in rows}  # the row's story is the decision's
    assert any(aid != sid for aid, sid, _, _ in rows)


def test_a_row_that_loses_a_race_hands_its_story_to_the_winner(conn: psycopg.Connection, db_url: str) -> None:
    """Stories are decided before the insert, on reserved ids. When a concurrent writer stores an article's URL
    first, the row is never inserted: a copy in the same batch that was linked to it joins the winner's story."""
    import threading

    from tests.test_dedupe import CAIRO, CAIRO_TITLE
    from tests.test_stories import make_article
    from worker.pipeline_stories import decide_stories, write_stories

    text = "\n\n".join(CAIRO)
    winner = make_article(CAIRO_TITLE, text, "https://outlet.example/cairo")
    # the same URL with an edited text (another content hash), and a copy of that text elsewhere
    loser = make_article(CAIRO_TITLE, text + "\n\nEdited by the night desk.", "https://outlet.example/cairo")
    copy = make_article(CAIRO_TITLE, text + "\n\nEdited by the night desk. Wire copy.", "https://wire.example/1")
    with conn.transaction():
        feed_id = feed_store.add_feed(conn, "https://example.org/feed").feed_id
        other_feed = feed_store.add_feed(conn, "https://example.org/other").feed_id
    first = psycopg.connect(db_url)
    first.execute("SELECT 1")  # opens its transaction
    # another batch stores the URL first and holds the commit-order lock until it commits
    winner_id = article_store.store_batch(first, feed_id, [winner], {}).new[0][0]
    out: dict[str, object] = {}

    def batch() -> None:
        with psycopg.connect(db_url) as c, c.transaction():
            steps = []

            def stories(rows: list[tuple[int, Article]], changed: list[tuple[int, Article]]) -> dict[int, int]:
                steps.append(decide_stories(c, rows, changed))
                return {aid: link.story_id for aid, link in steps[0].links.items()}

            result = article_store.store_batch(c, other_feed, [loser, copy], {}, stories=stories)
            out["reserved"] = dict(steps[0].links)
            out["result"] = result
            out["links"] = write_stories(c, steps[0], {aid for aid, _ in result.new}, replaced=result.replaced)

    t = threading.Thread(target=batch)
    t.start()
    t.join(1.0)
    assert t.is_alive()  # it has looked up (the URL is not committed), decided, and waits to insert
    first.commit()
    first.close()
    t.join(30)
    result = out["result"]
    assert isinstance(result, article_store.BatchResult)
    reserved = out["reserved"]
    assert isinstance(reserved, dict)
    loser_id = min(reserved)
    assert reserved[max(reserved)].linked_to == loser_id  # decided before the insert: the copy joined the loser
    assert result.replaced == {loser_id: winner_id}
    (copy_id,) = [aid for aid, _ in result.new]
    rows = dict(conn.execute("SELECT id, story_id FROM articles").fetchall())
    assert loser_id not in rows
    assert rows[copy_id] == winner_id  # the winner's story (its row has no story of its own yet: its id)
    assert conn.execute("SELECT linked_to, story_id FROM article_links WHERE article_id = %s",
                        (copy_id,)).fetchone() == (winner_id, winner_id)
    sightings = dict(conn.execute("SELECT guid, article_id FROM article_sightings").fetchall())
    assert sightings == {loser.guid: winner_id, copy.guid: copy_id}


def test_array_literals_carry_any_text_unchanged(conn: psycopg.Connection) -> None:
    """The batch insert sends its columns as array literals: quotes, backslashes, braces, commas, the word
    NULL, empty strings, blanks and non-ASCII text come back exactly, and None as NULL."""
    values = ['say "hi"', "C:\\path\\", None, "NULL", "", "{a,b}", "x, y", " padded ", "tab\tline\nnew", "日本 ü"]
    got = conn.execute("SELECT %s::text[]", (article_store.array_literal(values),)).fetchone()
    assert got is not None and got[0] == values
    when = [datetime(2025, 9, 16, 12, 30, 5, 123456, tzinfo=UTC), None]
    got = conn.execute("SELECT %s::timestamptz[]", (article_store.array_literal(when),)).fetchone()
    assert got is not None and got[0] == when
