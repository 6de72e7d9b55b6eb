"""Running workers in PostgreSQL (``workers``): their heartbeats, the claims they hold, and the give-back of a
dead worker's claims. Times are PostgreSQL's clock, so workers on other hosts never disagree about them.

Every function runs inside the caller's transaction (or an autocommit connection) and never commits."""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg


def heartbeat(conn: psycopg.Connection, worker_id: str, *, name: str, hostname: str, pid: int,
              queues: list[str]) -> None:
    """The worker is alive: its row, created on the first beat (or again, if it was taken for dead)."""
    conn.execute(
        """INSERT INTO workers (id, name, hostname, pid, queues) VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (id) DO UPDATE SET last_heartbeat = now()""",
        (worker_id, name, hostname, pid, queues))


def forget(conn: psycopg.Connection, worker_id: str) -> None:
    """A worker that stops cleanly: its row goes (a claim still naming it is given back on the next tick)."""
    conn.execute("DELETE FROM workers WHERE id = %s", (worker_id,))


def take_feed_claim(conn: psycopg.Connection, feed_id: int, claim: int, worker_id: str | None) -> bool:
    """A task of claim number ``claim`` starts on ``worker_id``: the claim now names that worker (NULL if it has
    no row yet: then only the claim's expiry gives it back). False when the claim is no longer this message's:
    given back, claimed again, or finished."""
    row = conn.execute(
        """UPDATE feeds SET claimed_by = (SELECT id FROM workers WHERE id = %s)
           WHERE id = %s AND claim = %s AND claimed_until IS NOT NULL RETURNING 1""",
        (worker_id, feed_id, claim)).fetchone()
    return row is not None


def take_page_claim(conn: psycopg.Connection, article_id: int, claim: int, worker_id: str | None) -> None:
    """A page task of ``claim`` starts on ``worker_id`` (a stale claim is left alone: the task skips it)."""
    conn.execute(
        """UPDATE article_pages SET claimed_by = (SELECT id FROM workers WHERE id = %s)
           WHERE article_id = %s AND claim = %s AND claimed_until IS NOT NULL""",
        (worker_id, article_id, claim))


def hand_off_feed(conn: psycopg.Connection, feed_id: int, claim: int) -> None:
    """The claim's next message is about to go to the broker: it names no worker until one receives the message
    (:func:`take_feed_claim`), and its send time is stamped for :func:`give_back_unreceived`."""
    conn.execute(
        """UPDATE feeds SET claimed_by = NULL, claim_sent_at = now()
           WHERE id = %s AND claim = %s AND claimed_until IS NOT NULL""",
        (feed_id, claim))


def give_back_unreceived(conn: psycopg.Connection, *, sent_before: float) -> list[int]:
    """Give back the feed claims that still name no worker although their message was sent more than
    ``sent_before`` seconds ago. Call it only when the queues the messages went to are empty: every such message
    was then taken from its queue, and a live worker names itself in the claim the moment it receives one, so
    it was taken by a worker killed before that (or lost on the way). Returns the feed ids."""
    rows = conn.execute(
        """UPDATE feeds SET claimed_until = NULL, claimed_by = NULL
           WHERE claimed_until IS NOT NULL AND claimed_by IS NULL
             AND claim_sent_at < now() - make_interval(secs => %s)
           RETURNING id""", (sent_before,)).fetchall()
    return sorted(int(r[0]) for r in rows)


@dataclass(frozen=True, slots=True)
class GivenBack:
    """What one give-back did: the dead workers' names, the claims of theirs given back, and the feed claims
    whose message no worker received (``unreceived``)."""

    workers: list[str]
    feeds: list[int]
    pages: list[int]
    unreceived: list[int] = field(default_factory=list)


def give_back_dead(conn: psycopg.Connection, *, dead_after: float) -> GivenBack:
    """Give back every live claim held by a worker with no heartbeat for ``dead_after`` seconds (or with no row
    at all), then forget those workers. The claims become due again at once; their next claim has a new number,
    so a late redelivery of the dead worker's message finds the claim moved on. A worker that is heartbeating
    keeps its claims: a task still running is never claimed twice."""
    dead = [(str(i), n) for i, n in conn.execute(
        """DELETE FROM workers WHERE last_heartbeat < now() - make_interval(secs => %s)
           RETURNING id, name""", (dead_after,)).fetchall()]
    feeds = conn.execute(
        """UPDATE feeds f SET claimed_until = NULL, claimed_by = NULL
           WHERE f.claimed_until IS NOT NULL AND f.claimed_by IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = f.claimed_by)
           RETURNING f.id""").fetchall()
    pages = conn.execute(
        """UPDATE article_pages p SET claimed_until = NULL, claimed_by = NULL
           WHERE p.claimed_until IS NOT NULL AND p.claimed_by IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM workers w WHERE w.id = p.claimed_by)
           RETURNING p.article_id""").fetchall()
    return GivenBack(sorted(n for _, n in dead), sorted(int(r[0]) for r in feeds), sorted(int(r[0]) for r in pages))


def alive(conn: psycopg.Connection, *, dead_after: float) -> list[str]:
    """Names of the workers heartbeating now."""
    rows = conn.execute(
        """SELECT name FROM workers WHERE last_heartbeat >= now() - make_interval(secs => %s) ORDER BY name""",
        (dead_after,)).fetchall()
    return [str(r[0]) for r in rows]
