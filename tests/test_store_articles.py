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
