"""SIGKILL mid-run: every item is stored exactly once, at default settings, on the production topology (a fetch
worker on threads, a process worker on prefork, beat).

Two ways a worker dies, two recovery paths:
- a pool child is killed (OOM killer, segfault): ``task_reject_on_worker_lost`` hands its message back
  to the queue at once and another child runs it;
- a whole worker is killed (machine lost: the main process and its children): its unacked messages sit in Redis
  until kombu's restore sweep (visibility timeout 900 s), so the feeds come back through PostgreSQL instead: its
  heartbeats stop, and beat's next schedule tick gives back the claims it held (``WIREFEED_WORKER_DEAD_SECONDS``
  20 s + a tick every ``WIREFEED_SCHEDULE_EVERY_SECONDS`` 30 s) and sends them again to the surviving workers.
  The claim timeout (600 s) and the visibility timeout (900 s) stay at their defaults: the give-back alone
  brings every item back. A late redelivery of the dead worker's messages then does nothing: each carries
  its claim number, which the feed has moved past.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import psycopg
import redis

from tests.faults.conftest import (
    FeedSet,
    assert_exactly_once,
    enqueue_all,
    fault_env,
    log_events,
    make_feeds,
    rss,
    scalar,
    wait_until,
)
from tests.httpserver import FeedServer, Route

IN_TX = ("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
         "AND application_name = 'wirefeed-worker' AND state IN ('active', 'idle in transaction') "
         "AND xact_start IS NOT NULL AND pid <> pg_backend_pid()")
DONE = "SELECT count(*) FROM feeds WHERE last_success_at IS NOT NULL"
HELD_BY = ("SELECT count(*) FROM feeds f JOIN workers w ON w.id = f.claimed_by "
           "WHERE f.claimed_until IS NOT NULL AND w.name LIKE %s")


def _mid_batch(db_url: str, total: int) -> bool:
    """Some articles stored, not all, and a worker connection inside a transaction right now."""
    n = scalar(db_url, "SELECT count(*) FROM article_sightings")
    return 0 < n < total and scalar(db_url, IN_TX) > 0


def test_killed_pool_children_are_requeued_and_items_land_once(env, db_url, conn, tmp_path, procs) -> None:
    feeds = make_feeds(db_url, tmp_path / "feeds", count=10, items=300)
    env = fault_env(env)
    workers = procs["worker"](env)
    enqueue_all(env)
    wait_until(lambda: _mid_batch(db_url, feeds.expected), timeout=60, interval=0.02)
    before = scalar(db_url, "SELECT count(*) FROM article_sightings")
    children = workers.children()  # the process worker's prefork children
    assert children, "no pool children to kill"
    for pid in children:
        os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    wait_until(lambda: scalar(db_url, DONE) == 10, timeout=120, interval=0.2)
    recovered = time.monotonic() - killed_at
    c = assert_exactly_once(db_url, feeds)
    log = workers.process.text()
    assert "WorkerLostError" in log or "exited prematurely" in log, log[-2000:]  # it really died mid-task
    print(f"\nchild kill: {len(children)} children killed at {before}/{feeds.expected} items; "
          f"all {c['articles']} stored once, {recovered:.1f}s after the kill")


def _redeliver_unacked(redis_url: str) -> int:
    """What kombu's sweep does once the visibility timeout has passed: every delivered, unacknowledged message
    goes back to its queue. Run when the survivors are idle, these are the dead worker's."""
    from kombu import Connection

    tags = [t.decode() for t in redis.Redis.from_url(redis_url).hkeys("unacked")]
    with Connection(redis_url) as c:
        for tag in tags:
            c.default_channel.qos.restore_by_tag(tag)
    return len(tags)


def _kill_whole_worker(kind: str, feeds: FeedSet, env, db_url, redis_url, procs) -> None:
    """Two workers of ``kind`` (the victim and a survivor) beside one of the other kind, beat at its default
    tick; SIGKILL the victim's process group as soon as it holds claims: tasks running under them, nothing of
    theirs committed yet."""
    env = fault_env(env)
    start = procs[kind]
    victim, survivor = start(env, name="victim"), start(env, name="survivor")
    other = procs["process" if kind == "fetch" else "fetch"](env, name="other")
    for p in (victim, survivor, other):
        p.wait_ready()
    procs["beat"](env)
    enqueue_all(env)
    pattern = f"fault-victim-{kind}-%"
    wait_until(lambda: scalar(db_url, HELD_BY, (pattern,)) > 0, timeout=60, interval=0.01)
    victim.kill_group()  # the main process and its children, SIGKILL: nothing acked, nothing handed back
    killed_at = time.monotonic()
    held = scalar(db_url, HELD_BY, (pattern,))
    before = scalar(db_url, "SELECT count(*) FROM article_sightings")
    assert held > 0  # still held after the kill: only the give-back (or the claim's expiry) frees them
    wait_until(lambda: scalar(db_url, DONE) == len(feeds.ids), timeout=120, interval=0.2)
    recovered = time.monotonic() - killed_at
    c = assert_exactly_once(db_url, feeds)

    def logs() -> str:
        return survivor.text() + other.text()

    given = [e for e in log_events(logs()) if e.get("event") == "dead_workers_claims_given_back"]
    assert given and given[0]["workers"][0].startswith(f"fault-victim-{kind}-"), given
    assert scalar(db_url, "SELECT count(*) FROM workers WHERE name LIKE %s", (pattern,)) == 0  # forgotten
    print(f"\n{kind} worker kill: SIGKILL at {before}/{feeds.expected} items stored, the victim holding {held} "
          f"claims; all {c['articles']} stored once {recovered:.1f}s after the kill (defaults: heartbeat 5 s, "
          "dead after 20 s, schedule tick 30 s, claim timeout 600 s, visibility timeout 900 s)")

    # Later (900 s in production) Redis hands the dead worker's messages out again: nothing changes.
    stale_before = logs().count('"task_stale_claim"')
    redelivered = _redeliver_unacked(redis_url)
    assert redelivered > 0  # it held claims, so it was running tasks: their messages were unacknowledged
    broker = redis.Redis.from_url(redis_url)
    wait_until(lambda: broker.hlen("unacked") + broker.llen("fetch") + broker.llen("process") == 0
               and logs().count('"task_stale_claim"') >= stale_before + redelivered, timeout=60, interval=0.2)
    time.sleep(1)  # a stale message that slipped through would be storing now
    assert assert_exactly_once(db_url, feeds) == c
    print(f"late redelivery of the dead worker's {redelivered} unacknowledged message(s): each skipped as stale")


def test_whole_process_worker_killed_claims_given_back(env, db_url, redis_url, conn, tmp_path, procs) -> None:
    feeds = make_feeds(db_url, tmp_path / "feeds", count=10, items=300)
    _kill_whole_worker("process", feeds, env, db_url, redis_url, procs)


def test_whole_fetch_worker_killed_claims_given_back(env, db_url, redis_url, conn, procs) -> None:
    """The fetch worker (threads) dies mid-fetch: each feed on a slow loopback server of its own address (the
    dead worker's politeness slot on a host stays leased until it expires; the host's second slot is free)."""
    from worker.store import feeds as feed_store

    with contextlib.ExitStack() as stack:
        add = stack.enter_context(psycopg.connect(db_url, autocommit=True))
        ids = []
        for f in range(6):
            srv = stack.enter_context(FeedServer(host=f"127.0.0.{20 + f}"))
            srv.route("/feed.xml", Route(body=rss(f, 200), first_byte_delay=3.0,
                                         headers={"Content-Type": "application/rss+xml"}))
            ids.append(feed_store.add_feed(add, srv.url("/feed.xml")).feed_id)
        feeds = FeedSet(Path("."), ids, 200)
        _kill_whole_worker("fetch", feeds, env, db_url, redis_url, procs)


def test_a_message_received_but_not_started_is_given_back_when_its_worker_dies(
        env, db_url, redis_url, conn, tmp_path, procs) -> None:
    """A claim follows its message: the worker that receives a message names itself in the claim before the task
    starts. Here the message waits out a countdown on the worker (as a busy host's wait does; a prefetched
    message waiting for a free pool child is the same), the worker is SIGKILLed, and the claim comes back with
    the dead worker's, instead of naming the live sender until the claim timeout (600 s)."""
    from celery import Celery

    from worker.store import feeds as feed_store
    from worker.store import workers

    feeds = make_feeds(db_url, tmp_path / "feeds", count=1, items=5)
    (fid,) = feeds.ids
    victim = procs["fetch"](fault_env(env), name="victim")
    victim.wait_ready()
    with psycopg.connect(db_url, autocommit=True) as c:
        sender = "00000000-0000-4000-8000-00000000beef"  # the scheduler's worker, alive throughout
        workers.heartbeat(c, sender, name="sender@h", hostname="h", pid=1, queues=["fetch"])
        ((_, claim),) = feed_store.claim_ids(c, [fid], claim_seconds=600)
        assert workers.take_feed_claim(c, fid, claim, sender)
        producer = Celery("receipt-producer", broker=redis_url)
        producer.send_task("wirefeed.fetch_feed", args=(fid,), kwargs={"claim": claim}, queue="fetch",
                           countdown=600)
        wait_until(lambda: scalar(db_url, HELD_BY, ("fault-victim-fetch-%",)) == 1, timeout=30, interval=0.05)
        assert scalar(db_url, "SELECT count(*) FROM task_attempts") == 0  # received, not started
        victim.kill_group()

        def given_back() -> list[int]:
            workers.heartbeat(c, sender, name="sender@h", hostname="h", pid=1, queues=["fetch"])
            return workers.give_back_dead(c, dead_after=20).feeds

        back = wait_until(given_back, timeout=60, interval=1.0)
        assert back == [fid]
        held = c.execute("SELECT claimed_until, claimed_by FROM feeds WHERE id = %s", (fid,)).fetchone()
        assert held == (None, None)  # due again at once: the scheduler's next tick claims and sends it
        assert workers.alive(c, dead_after=20) == ["sender@h"]


def test_a_message_taken_from_the_queue_but_never_received_comes_back(env, db_url, redis_url, conn, tmp_path,
                                                                      procs) -> None:
    """A worker killed in the instant between taking a message from Redis and naming itself in its claim: the
    claim names nobody (it was sent to the broker), so no dead worker gives it back. Once the queues are empty,
    beat's tick gives back a claim sent longer ago than the dead time that still names nobody. Here the message
    is taken off the queue by hand before any worker starts; the claim timeout stays at 600 s."""
    feeds = make_feeds(db_url, tmp_path / "feeds", count=3, items=20)
    env = fault_env(env, WIREFEED_SCHEDULE_EVERY_SECONDS="1", WIREFEED_WORKER_HEARTBEAT_SECONDS="1",
                    WIREFEED_WORKER_DEAD_SECONDS="3")
    enqueue_all(env)  # claimed (naming nobody, stamped as sent) and sent: three fetch messages in Redis
    broker = redis.Redis.from_url(redis_url)
    assert broker.llen("fetch") == 3
    assert broker.rpop("fetch") is not None  # taken by a consumer that died before it could say so
    workers_ = procs["worker"](env)
    procs["beat"](env)
    wait_until(lambda: scalar(db_url, DONE) == 3, timeout=90, interval=0.2)
    assert_exactly_once(db_url, feeds)
    given = [e for e in log_events(workers_.text()) if e.get("event") == "dead_workers_claims_given_back"]
    unreceived = [i for e in given for i in e.get("unreceived", [])]
    assert len(unreceived) == 1 and unreceived[0] in feeds.ids, given
