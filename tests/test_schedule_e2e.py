"""The schedule through the real fetch (``wirefeed fetch --sync`` against a loopback server): a 304 or an
unchanged body stretches the stored interval; ``ttl``, ``sy:updatePeriod`` and ``Cache-Control: max-age``
push the next fetch out as far as the publisher asked (tests/test_schedule.py has the rules as a table)."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.httpserver import FeedServer, Route


def feed(channel_extra: str = "", *, namespaces: str = "") -> bytes:
    # items without dates: the interval follows "new entries or not", not a publishing rhythm
    return (f'<?xml version="1.0"?><rss version="2.0"{namespaces}><channel><title>Schedule</title>'
            f"<link>https://s.example/</link>{channel_extra}"
            "<item><title>One story</title><link>https://s.example/1</link><guid>s-1</guid>"
            "<description>The only story of this feed, unchanged from fetch to fetch.</description></item>"
            "</channel></rss>").encode()


SY = ' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"'


@pytest.fixture()
def srv() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture()
def fetch(cli, env, clean_redis):  # type: ignore[no-untyped-def]
    """``wirefeed fetch --sync ID``; Redis emptied first: a host block another test left on 127.0.0.1 (a 429's
    Retry-After) would postpone the fetch instead."""

    def run(feed_id: int) -> None:
        r = cli("fetch", "--sync", str(feed_id), env={**env, "WIREFEED_HOST_MIN_GAP_SECONDS": "0"})
        assert r.returncode == 0, r.stdout + r.stderr
    return run


def subscribe(cli, conn: psycopg.Connection, url: str) -> int:  # type: ignore[no-untyped-def]
    r = cli("feeds", "add", "--no-discover", url)
    assert r.returncode == 0, r.stderr
    return int(conn.execute("SELECT id FROM feeds WHERE url = %s", (url,)).fetchone()[0])


def state(conn: psycopg.Connection, feed_id: int) -> tuple[int, float]:
    """(stored poll interval, seconds until the next fetch)."""
    row = conn.execute("SELECT poll_interval, extract(epoch FROM next_fetch_at - now())::float FROM feeds "
                       "WHERE id = %s", (feed_id,)).fetchone()
    conn.commit()
    return int(row[0]), float(row[1])


def due_now(conn: psycopg.Connection, feed_id: int) -> None:
    conn.execute("UPDATE feeds SET next_fetch_at = now() WHERE id = %s", (feed_id,))
    conn.commit()


def last_fetch(conn: psycopg.Connection, feed_id: int) -> tuple[str, str | None]:
    row = conn.execute("SELECT outcome, not_modified_by FROM feed_fetches WHERE feed_id = %s ORDER BY id DESC "
                       "LIMIT 1", (feed_id,)).fetchone()
    conn.commit()
    return row[0], row[1]


def assert_next_in(wait: float, expected: float) -> None:
    # up to 10% jitter is added (never subtracted); the slack covers the time since the fetch
    assert expected - 60 <= wait <= expected * 1.1 + 60, (wait, expected)


@pytest.mark.parametrize(
    "route",
    [
        Route(body=feed(), etag='"v1"'),  # the server answers the second request with 304 Not Modified
        Route(body=feed()),  # no validators: the same body again, caught by its hash
    ],
    ids=["304", "same-body"],
)
def test_nothing_new_stretches_the_stored_interval(cli, conn, srv, fetch, route: Route) -> None:
    feed_id = subscribe(cli, conn, srv.route("/feed.xml", route))
    fetch(feed_id)
    first, wait = state(conn, feed_id)
    assert_next_in(wait, first)
    for _ in range(2):
        due_now(conn, feed_id)
        fetch(feed_id)
        stretched, wait = state(conn, feed_id)
        assert stretched > first  # nothing new: the feed is polled less often
        assert_next_in(wait, stretched)
        first = stretched
    assert last_fetch(conn, feed_id) == ("not_modified", "304" if route.etag else "hash")
    assert len(srv.hits_on("/feed.xml")) == 3


@pytest.mark.parametrize(
    ("body", "headers", "interval", "wait"),
    [
        # RSS <ttl> in minutes: 12 h, kept as the stored interval
        (feed("<ttl>720</ttl>"), {}, 43200, 43200),
        # sy:updatePeriod daily, twice a day: 12 h, kept too
        (feed("<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>",
              namespaces=SY), {}, 43200, 43200),
        # Cache-Control max-age: this wait only, the stored interval stays adaptive
        (feed(), {"Cache-Control": "public, max-age=21600"}, None, 21600),
    ],
    ids=["ttl", "sy-updatePeriod", "cache-control"],
)
def test_publisher_hints_are_honoured_through_the_real_fetch(cli, conn, srv, fetch, body: bytes,
                                                             headers: dict[str, str], interval: int | None,
                                                             wait: int) -> None:
    feed_id = subscribe(cli, conn, srv.route("/feed.xml", Route(body=body, headers=headers)))
    fetch(feed_id)
    stored, next_in = state(conn, feed_id)
    if interval is None:
        assert stored < wait  # the hint did not become the interval ...
    else:
        assert stored == interval
    assert_next_in(next_in, wait)  # ... but the next fetch waits as long as asked
