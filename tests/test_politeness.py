"""Per-host politeness against a real Redis: this test session's own database, emptied before each test."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from tests.httpserver import FeedServer, Route
from worker.errors import TransientFetchError, WirefeedError
from worker.fetch.http import fetch_feed_body
from worker.fetch.politeness import HostBusy, HostPoliteness
from worker.settings import Settings


@pytest.fixture
def client(clean_redis: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(clean_redis)
    yield c
    c.close()


def pol(client: redis.Redis, **kw: float) -> HostPoliteness:
    args: dict[str, float] = {"max_in_flight": 2, "min_gap": 0.0, "lease": 10.0}
    args.update(kw)
    return HostPoliteness(client=client, **args)  # type: ignore[arg-type]


def test_in_flight_limit(client: redis.Redis) -> None:
    p = pol(client)
    t1, _, _ = p.try_acquire("a.example")
    t2, _, _ = p.try_acquire("a.example")
    t3, wait, why = p.try_acquire("a.example")
    assert t1 and t2 and t3 is None and why == "busy" and wait >= 1.0
    assert p.try_acquire("b.example")[0] is not None  # other hosts are unaffected
    assert t1 is not None
    p.release("a.example", t1)
    assert p.try_acquire("a.example")[0] is not None


def test_min_gap_between_requests(client: redis.Redis) -> None:
    p = pol(client, min_gap=0.3, max_in_flight=10)
    assert p.try_acquire("a.example")[0] is not None
    token, wait, why = p.try_acquire("a.example")
    assert token is None and why == "gap" and 0 < wait <= 0.3  # what is left of the gap, read on Redis's clock
    time.sleep(wait + 0.02)
    assert p.try_acquire("a.example")[0] is not None


def test_crashed_worker_never_wedges_a_host(client: redis.Redis) -> None:
    # a lease long enough that the second call always comes within it, however loaded the machine
    p = pol(client, max_in_flight=1, lease=1.0)
    assert p.try_acquire("a.example")[0] is not None  # never released: the worker "died"
    assert p.try_acquire("a.example")[0] is None
    time.sleep(1.05)
    assert p.try_acquire("a.example")[0] is not None  # the lease ran out
    time.sleep(1.05)
    assert client.keys("wirefeed:host:a.example*") == []  # and every key expires by itself


def test_retry_after_blocks_every_feed_on_the_host(client: redis.Redis, clean_redis: str) -> None:
    # a block long enough that seconds of a stalled machine between the calls below change nothing
    p = pol(client)
    p.note_retry_after("a.example", 60.0)
    p.note_retry_after("a.example", 30.0)  # a shorter later answer does not shorten the block
    with pytest.raises(HostBusy) as info, p.slot("a.example"):
        pass
    assert info.value.retry_after is not None and 50 < info.value.retry_after <= 60.0 * 1.2
    assert not isinstance(info.value, WirefeedError)  # a wait, never taken for a failure of the feed
    assert 50 < p.blocked_for("a.example") <= 60.0
    other_worker = pol(redis.Redis.from_url(clean_redis))  # a second worker sees the same block
    token, wait, why = other_worker.try_acquire("a.example")
    assert token is None and why == "blocked" and wait > 50
    with p.slot("b.example"):
        pass


def test_slot_waits_when_allowed(client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inside the gap, ``slot`` sleeps for what is left of it and then enters, instead of raising HostBusy.
    The sleep is replaced by one that records the wait and ends the gap, as the passing time would."""
    p = pol(client, min_gap=30.0, max_wait=60.0)
    slept: list[float] = []
    caller = threading.current_thread()
    real_sleep = time.sleep

    def sleep(seconds: float) -> None:
        if threading.current_thread() is not caller:
            return real_sleep(seconds)
        slept.append(seconds)
        client.delete("wirefeed:host:a.example:gap")

    monkeypatch.setattr(time, "sleep", sleep)
    with p.slot("a.example"):
        pass
    assert slept == []  # the first request goes at once
    with p.slot("a.example"):
        pass
    assert len(slept) == 1 and 20 < slept[0] <= 30.0  # one wait: the rest of the 30 s gap


def test_many_workers_never_exceed_the_limit(client: redis.Redis, clean_redis: str) -> None:
    active = 0
    peak = 0
    lock = threading.Lock()
    done = 0

    def worker() -> None:
        nonlocal active, peak, done
        p = pol(redis.Redis.from_url(clean_redis), max_in_flight=3, max_wait=10.0)
        for _ in range(5):
            with p.slot("busy.example"):
                with lock:
                    active += 1
                    peak = max(peak, active)
                time.sleep(0.01)
                with lock:
                    active -= 1
            with lock:
                done += 1

    threads = [threading.Thread(target=worker) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert done == 60 and peak == 3


def test_redis_down_fails_open() -> None:
    p = HostPoliteness(client=redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    entered = False
    with p.slot("a.example"):
        entered = True
    assert entered


def test_fetch_429_blocks_host_for_every_feed(client: redis.Redis) -> None:
    settings = Settings(allow_private_addresses=True, fetch_deadline=5.0)  # type: ignore[call-arg]
    p = pol(client)
    with FeedServer() as srv:
        srv.route("/a", Route(status=429, headers={"Retry-After": "60"}))
        srv.route("/b", Route(body=b"<rss/>"))
        with pytest.raises(TransientFetchError) as info:
            fetch_feed_body(srv.url("/a"), etag=None, last_modified=None, previous_body_hash=None,
                            settings=settings, politeness=p)
        assert info.value.kind == "http_429"
        with pytest.raises(HostBusy) as busy:  # another feed on the same host: not even asked
            fetch_feed_body(srv.url("/b"), etag=None, last_modified=None, previous_body_hash=None,
                            settings=settings, politeness=p)
        assert busy.value.retry_after is not None and busy.value.retry_after > 55
        assert srv.hits_on("/b") == []
    assert client.zcard("wirefeed:host:127.0.0.1:inflight") == 0  # the slot was released after the 429
