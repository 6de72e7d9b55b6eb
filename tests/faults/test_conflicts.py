"""Three workers storing the same articles at the same moment, in different orders.

Syndicated copies arrive through several feeds at once. Each batch looks its items up before it writes, so
all three take the shared stories for new; the first to write stores them, and the others lose the race on
every row. A batch writes its articles under the commit-order lock (``worker.store.articles``), so the
batches no longer deadlock on each other's uncommitted unique-index entries; each later batch finds the
winner's committed rows and links its items to them (sightings, stories). Any failure on the way must be a
conflict the task boundary retries (worker.retry: "conflict"), never a drop, a feed error or poison.
Whatever the interleaving, every article is stored once and every sighting is kept.

"At the same moment" is arranged, not hoped for: the test holds a lock on ``articles`` that lets the three
batches read but not write, waits until all three are blocked (on that lock, or behind the first on the
commit-order lock), and lets them go together.
"""

from __future__ import annotations

import psycopg

from tests.faults.conftest import enqueue_all, fault_env, item_text, log_events, scalar, wait_until

ITEMS = 300


def overlapping_feed(tag: str, order: list[int]) -> bytes:
    parts = [f'<?xml version="1.0"?><rss version="2.0"><channel><title>Overlap {tag}</title>'
             f"<link>https://{tag}.example.org/</link><description>x</description>"]
    for n in order:
        parts.append(f"<item><title>Shared story {n} {item_text(7, n, 5)}</title>"
                     f"<link>https://wire.example.org/story/{n}</link><guid>{tag}-{n}</guid>"
                     f"<description>{item_text(7, n, 60)}</description></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode()


def test_same_articles_from_two_feeds_at_once_are_stored_once(env, db_url, conn, tmp_path, procs) -> None:
    from worker.store import feeds as feed_store

    forward = list(range(ITEMS))
    with psycopg.connect(db_url) as c:
        for tag, order in (("alpha", forward), ("beta", forward[::-1]), ("gamma", forward[::2] + forward[1::2])):
            path = tmp_path / f"{tag}.xml"
            path.write_bytes(overlapping_feed(tag, order))
            feed_store.add_feed(c, "file://" + str(path))
    env = fault_env(env)
    worker = procs["worker"](env, concurrency=3)
    with psycopg.connect(db_url) as gate:
        gate.execute("LOCK TABLE articles IN EXCLUSIVE MODE")  # reads go on, the first INSERT waits
        enqueue_all(env)
        wait_until(lambda: scalar(db_url, "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted") == 3,
                   timeout=25, interval=0.05)
        # the first batch is queued on the gate itself, the other two behind it
        assert scalar(db_url, "SELECT count(*) FROM pg_locks WHERE relation = 'articles'::regclass "
                              "AND NOT granted") >= 1
    # (leaving the block committed the gate's transaction: the three batches write at once)
    wait_until(lambda: scalar(db_url, "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL") == 3,
               timeout=180, interval=0.3)
    assert scalar(db_url, "SELECT count(*) FROM articles") == ITEMS  # one row per shared story
    assert scalar(db_url, "SELECT count(*) FROM article_sightings") == 3 * ITEMS  # every feed's sighting kept
    assert scalar(db_url, "SELECT count(DISTINCT article_id) FROM article_sightings") == ITEMS
    assert scalar(db_url, "SELECT count(*) FROM feeds WHERE error_count > 0 OR claimed_until IS NOT NULL") == 0
    failures = [e for e in log_events(worker.text()) if e.get("event") == "task_failed"]
    # any failure was a conflict that was retried: none was dropped, recorded on a feed, or taken for poison
    assert [(e["kind"], e["action"]) for e in failures] == [("conflict", "retry")] * len(failures), failures
    print(f"\nconflicts: 3 feeds × {ITEMS} shared items stored as {ITEMS} articles; "
          f"{len(failures)} deadlock/serialization failures, each retried")
