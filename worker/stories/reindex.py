"""Re-index the near-duplicate index of stored articles (``wirefeed reindex-stories``).

Needed after a change of the fingerprint parameters (``worker.stories.assign.SCHEME`` bumped: shingles, permutations,
bands or hashing), which changes every article's candidate keys: without it, new articles would no longer
find the older ones. Articles are taken in id order, in batches of one transaction each; an article keeps
its story, only its fingerprint and index rows are replaced. An article with no fingerprint at all (stored
before story detection existed) gets a story decision, as new ones do.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

from worker.models import Article
from worker.stories.assign import SCHEME, refresh_stories


@dataclass(slots=True)
class Progress:
    last_id: int
    reindexed: int  # fingerprints replaced
    assigned: int  # articles that had none and got a story decision


def _article(aid: int, url: str | None, title: str, text: str, summary: str | None) -> Article:
    """The fields story assignment reads (title, text, summary); the rest is not used by it."""
    return Article(guid=str(aid), link=None, url=url, title=title, summary=summary, content_html=None,
                   content_text=text, author=None, publisher=None, syndicator=None, language=None,
                   published_at=datetime.now(UTC), published_raw=None)


def pending(conn: psycopg.Connection, *, everything: bool = False) -> int:
    """How many articles a run would re-index (all of them with ``everything``)."""
    row = conn.execute(
        """SELECT count(*) FROM articles a LEFT JOIN article_fingerprints f ON f.article_id = a.id
           WHERE %s OR f.article_id IS NULL OR f.scheme < %s""", (everything, SCHEME)).fetchone()
    return int(row[0]) if row else 0


def run(conn: psycopg.Connection, *, everything: bool = False, batch: int = 500) -> Iterator[Progress]:
    """Re-index batch by batch (each batch commits); yields the running totals after each batch."""
    last, reindexed, assigned = 0, 0, 0
    while True:
        with conn.transaction():
            rows = conn.execute(
                """SELECT a.id, a.url, a.title, a.content_text, a.summary
                   FROM articles a LEFT JOIN article_fingerprints f ON f.article_id = a.id
                   WHERE a.id > %s AND (%s OR f.article_id IS NULL OR f.scheme < %s)
                   ORDER BY a.id LIMIT %s""", (last, everything, SCHEME, batch)).fetchall()
            if not rows:
                return
            links = refresh_stories(conn, [(int(r[0]), _article(int(r[0]), r[1], r[2], r[3], r[4])) for r in rows])
        last = int(rows[-1][0])
        assigned += sum(1 for link in links.values() if link is not None)
        reindexed += sum(1 for link in links.values() if link is None)
        yield Progress(last, reindexed, assigned)
