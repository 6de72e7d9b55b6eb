"""Claims and heartbeats in PostgreSQL (worker.store.workers): the scheduler gives back a dead worker's claims,
never a live worker's, and a message of an older claim finds the feed moved on."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from worker.store import feeds as feed_store
from worker.store import workers


def _worker(conn: psycopg.Connection, name: str, *, silent_for: int = 0) -> str:
    wid = str(uuid.uuid4())
    workers.heartbeat(conn, wid, name=name, hostname="h", pid=1, queues=["fetch"])
    conn.execute("UPDATE workers SET last_heartbeat = now() - make_interval(secs => %s) WHERE id = %s",
                 (silent_for, wid))
    return wid


def _claim(conn: psycopg.Connection, feed_id: int, by: str | None) -> int:
    ((fid, claim),) = feed_store.claim_ids(conn, [feed_id], claim_seconds=600)
    assert fid == feed_id
    assert workers.take_feed_claim(conn, feed_id, claim, by) is True
    return claim


def test_only_the_dead_workers_claims_are_given_back_and_old_messages_are_stale(conn) -> None:
    ids = [feed_store.add_feed(conn, f"https://claims.example.org/{n}.xml").feed_id for n in range(5)]
    alive = _worker(conn, "alive@h", silent_for=15)  # late, but within the 20 s
    dead = _worker(conn, "dead@h", silent_for=21)
    running, orphaned, queued, unknown, due = ids
    _claim(conn, running, alive)  # a task running on a live worker
    old = _claim(conn, orphaned, dead)  # a task that died with its worker
    _claim(conn, queued, None)  # a message waiting in the queue (no worker has it yet)
    _claim(conn, unknown, None)
    # held by a worker whose row is gone (it stopped cleanly while its claim was still stamped)
    conn.execute("UPDATE feeds SET claimed_by = %s WHERE id = %s", (str(uuid.uuid4()), unknown))
    # a worker with no row yet cannot stamp: its claim stays nobody's (the claim's expiry frees it, or the
    # unreceived give-back, once the queues are empty)
    ((_, late),) = feed_store.claim_ids(conn, [due], claim_seconds=600)
    assert workers.take_feed_claim(conn, due, late, str(uuid.uuid4())) is True
    assert conn.execute("SELECT claimed_by FROM feeds WHERE id = %s", (due,)).fetchone()[0] is None
    conn.execute("UPDATE feeds SET claimed_until = NULL WHERE id = %s", (due,))

    back = workers.give_back_dead(conn, dead_after=20)
    assert back.workers == ["dead@h"] and back.feeds == sorted([orphaned, unknown])
    assert workers.alive(conn, dead_after=20) == ["alive@h"]
    # the scheduler's claim right after: the given-back feed and the due one, under new numbers; never the
    # live worker's feed nor the queued one
    claimed = dict(feed_store.claim_due(conn, limit=10, claim_seconds=600))
    assert sorted(claimed) == sorted([orphaned, unknown, due])
    assert claimed[orphaned] == old + 1
    # the new claims name nobody until a worker receives their message
    fresh = conn.execute("SELECT count(*) FROM feeds WHERE id = ANY(%s) AND claimed_by IS NULL "
                         "AND claim_sent_at > now() - interval '5 seconds'", (list(claimed),)).fetchone()
    assert fresh == (3,)
    # the dead worker's message, delivered late, finds its claim moved on; the new one takes it
    assert workers.take_feed_claim(conn, orphaned, old, alive) is False
    for feed_id, claim in claimed.items():
        assert workers.take_feed_claim(conn, feed_id, claim, alive) is True
    # a second give-back finds nothing more: the live worker keeps its claims however long they run
    assert workers.give_back_dead(conn, dead_after=20).feeds == []
    held = conn.execute("SELECT id FROM feeds WHERE claimed_by = %s ORDER BY id", (alive,)).fetchall()
    assert [r[0] for r in held] == sorted([running, orphaned, unknown, due])


def test_a_claim_whose_message_no_worker_received_is_given_back_once_the_queues_are_empty(conn) -> None:
    """A claim names no worker from its send to its receipt. Sent long ago and still nobody's: its message was
    taken from the queue by a worker killed before it named itself (the caller checks that the queues are
    empty), so it is given back; a fresh one, or one a worker received, is not."""
    ids = [feed_store.add_feed(conn, f"https://claims.example.org/u{n}.xml").feed_id for n in range(4)]
    lost, fresh, received, handed = ids
    alive = _worker(conn, "alive@h")
    claims = dict(feed_store.claim_ids(conn, ids, claim_seconds=600))
    conn.execute("UPDATE feeds SET claim_sent_at = now() - interval '30 seconds' WHERE id = ANY(%s)",
                 ([lost, received, handed],))
    assert workers.take_feed_claim(conn, received, claims[received], alive) is True
    # a task that held its claim sends the next message (the fetched body to the process queue): a hand-off
    assert workers.take_feed_claim(conn, handed, claims[handed], alive) is True
    workers.hand_off_feed(conn, handed, claims[handed])
    assert conn.execute("SELECT claimed_by FROM feeds WHERE id = %s", (handed,)).fetchone() == (None,)

    assert workers.give_back_unreceived(conn, sent_before=20) == [lost]
    rows = dict(conn.execute("SELECT id, claimed_until IS NOT NULL FROM feeds WHERE id = ANY(%s)", (ids,)).fetchall())
    assert rows == {lost: False, fresh: True, received: True, handed: True}
    # the lost claim is due again under a new number; its old message, should it turn up, is stale
    assert workers.take_feed_claim(conn, lost, claims[lost], alive) is False


def test_a_dead_workers_page_claims_are_given_back(conn) -> None:
    from worker.store import pages as page_store

    fid = feed_store.add_feed(conn, "https://claims.example.org/pages.xml").feed_id
    aids = [conn.execute(
        "INSERT INTO articles (url, title, content_text, content_hash, published_at, first_seen_at) "
        "VALUES (%s, 't', 'x', %s, now(), now()) RETURNING id",
        (f"https://claims.example.org/a{n}", f"h{n}")).fetchone()[0] for n in range(3)]
    for aid in aids:
        conn.execute("INSERT INTO article_pages (article_id, feed_id, url, item_key) "
                     "VALUES (%s, %s, 'https://claims.example.org/p', 'k')", (aid, fid))
    alive, dead = _worker(conn, "alive@h"), _worker(conn, "dead@h", silent_for=60)
    running, orphaned, unsent = aids
    (_, c1), (_, c2) = (page_store.claim(conn, claim_seconds=600, article_ids=[a], worker_id=alive)[0]
                        for a in (running, orphaned))
    page_store.claim(conn, claim_seconds=600, article_ids=[unsent], worker_id=dead)  # its batch died unsent
    workers.take_page_claim(conn, running, c1, alive)
    workers.take_page_claim(conn, orphaned, c2, dead)  # the task started on the worker that died
    assert workers.give_back_dead(conn, dead_after=20).pages == sorted([orphaned, unsent])
    rows = dict(conn.execute("SELECT article_id, claimed_until IS NULL FROM article_pages").fetchall())
    assert rows == {running: False, orphaned: True, unsent: True}
    # claimed again (the pages tick), under new numbers
    again = dict(page_store.claim(conn, claim_seconds=600, worker_id=alive))
    assert again == {orphaned: c2 + 1, unsent: 2}


def test_the_dead_time_must_cover_three_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.errors import ConfigError
    from worker.settings import load_settings

    monkeypatch.setenv("WIREFEED_WORKER_HEARTBEAT_SECONDS", "10")
    monkeypatch.setenv("WIREFEED_WORKER_DEAD_SECONDS", "20")
    with pytest.raises(ConfigError, match="WIREFEED_WORKER_DEAD_SECONDS"):
        load_settings()
    monkeypatch.setenv("WIREFEED_WORKER_DEAD_SECONDS", "30")
    assert load_settings().worker_dead_after == 30
