"""Fetch policy end to end with the real database: the loopback server, the pipeline's refresh, the CLI."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from tests.conftest import wait_for
from tests.httpserver import FeedServer, Route
from worker import pipeline
from worker.feed_state.model import Feed
from worker.settings import Settings
from worker.store import feeds as feed_store
from worker.store import fetches as fetch_store


def rss(*items: str) -> bytes:
    body = "".join(
        f"<item><title>Story {i}</title><link>https://news.example/{i}</link><guid>g-{i}</guid>"
        f"<pubDate>Mon, 0{n + 1} Jun 2026 10:00:00 GMT</pubDate>"
        f"<description>Body of story {i} with enough words to be an article.</description></item>"
        for n, i in enumerate(items)
    )
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Loopback news</title>'
            f"<link>https://news.example/</link>{body}</channel></rss>").encode()


@pytest.fixture
def srv() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def add(conn: psycopg.Connection, url: str) -> int:
    with conn.transaction():
        return feed_store.add_feed(conn, url).feed_id


def feed(conn: psycopg.Connection, feed_id: int) -> Feed:
    row = feed_store.get_feed(conn, feed_id)
    conn.commit()
    assert row is not None
    return row


def history(conn: psycopg.Connection, feed_id: int) -> list[dict]:  # type: ignore[type-arg]
    rows = fetch_store.recent_fetches(conn, feed_id)
    conn.commit()
    return list(reversed(rows))  # oldest first


def test_second_fetch_gets_304_and_is_recorded_not_modified(conn, settings: Settings, srv: FeedServer) -> None:
    url = srv.route("/feed", Route(body=rss("a", "b"), etag='"v1"', headers={"Content-Type": "application/rss+xml"}))
    fid = add(conn, url)
    first = pipeline.refresh_feed(conn, settings, fid)
    assert first.status == "ok" and first.new_articles == 2
    assert feed(conn, fid).etag == '"v1"'
    second = pipeline.refresh_feed(conn, settings, fid)
    assert second.status == "ok" and second.not_modified
    assert srv.hits_on("/feed")[1].headers["if-none-match"] == '"v1"'
    h = history(conn, fid)
    assert [(r["status"], r["outcome"], r["not_modified"]) for r in h] == [
        (200, "modified", False), (304, "not_modified", True)]
    assert (h[0]["entries_seen"], h[0]["entries_new"]) == (2, 2)
    assert h[0]["bytes"] == len(rss("a", "b")) and h[1]["not_modified_by"] == "304"
    state = feed(conn, fid)
    assert state.error_count == 0 and state.next_fetch_at > datetime.now(UTC) + timedelta(minutes=4)


def test_unchanged_body_without_validators_is_not_modified_by_hash(conn, settings: Settings, srv: FeedServer) -> None:
    url = srv.route("/plain", Route(body=rss("a")))
    fid = add(conn, url)
    pipeline.refresh_feed(conn, settings, fid)
    rep = pipeline.refresh_feed(conn, settings, fid)
    assert rep.not_modified
    h = history(conn, fid)
    assert [(r["status"], r["outcome"], r["not_modified_by"]) for r in h] == [
        (200, "modified", None), (200, "not_modified", "hash")]


def test_new_entries_are_counted_in_history(conn, settings: Settings, srv: FeedServer) -> None:
    url = srv.route("/grow", Route(body=rss("a")))
    fid = add(conn, url)
    pipeline.refresh_feed(conn, settings, fid)
    srv.route("/grow", Route(body=rss("a", "b", "c")))
    pipeline.refresh_feed(conn, settings, fid)
    assert [(r["entries_seen"], r["entries_new"]) for r in history(conn, fid)] == [(1, 1), (3, 2)]


def test_301_moves_the_feed_and_old_url_stays_findable(conn, settings: Settings, srv: FeedServer, cli) -> None:
    old = srv.route("/old", Route(status=301, headers={"Location": "/new"}))
    new = srv.route("/new", Route(body=rss("a")))
    fid = add(conn, old)
    rep = pipeline.refresh_feed(conn, settings, fid)
    assert rep.status == "ok" and rep.new_articles == 1
    assert feed(conn, fid).url == new
    r = cli("feeds", "add", old)
    assert r.returncode == 0, r.stderr
    assert f"already subscribed: feed {fid}" in r.stdout
    assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == 1
    assert feed_store.find_feed_id(conn, old) == fid


def test_302_does_not_move_the_feed(conn, settings: Settings, srv: FeedServer) -> None:
    tmp = srv.route("/tmp", Route(status=302, headers={"Location": "/elsewhere"}))
    srv.route("/elsewhere", Route(body=rss("a")))
    fid = add(conn, tmp)
    assert pipeline.refresh_feed(conn, settings, fid).status == "ok"
    assert feed(conn, fid).url == tmp


def test_410_disables_with_reason_shown_by_feeds_list(conn, settings: Settings, srv: FeedServer, cli) -> None:
    url = srv.route("/gone", Route(status=410))
    fid = add(conn, url)
    rep = pipeline.refresh_feed(conn, settings, fid)
    assert rep.status == "error" and rep.error_kind == "http_410"
    state = feed(conn, fid)
    assert state.disabled_at is not None and "410" in state.disabled_reason
    listed = json.loads(cli("feeds", "list", "--json").stdout)
    assert listed[0]["id"] == fid and "HTTP 410 Gone" in listed[0]["disabled_reason"]
    plain = cli("feeds", "list")
    assert "disabled" in plain.stdout and "410" in plain.stdout
    h = history(conn, fid)
    assert h[0]["outcome"] == "error" and h[0]["status"] == 410 and h[0]["error_kind"] == "http_410"

    r = cli("feeds", "enable", str(fid))
    assert r.returncode == 0 and "enabled" in r.stdout
    state = feed(conn, fid)
    assert state.disabled_at is None and state.disabled_reason is None and state.error_count == 0


def test_404_is_soft_with_growing_backoff_and_never_disables(conn, settings: Settings, srv: FeedServer) -> None:
    url = srv.route("/missing", Route(status=404))
    fid = add(conn, url)
    waits = []
    for _ in range(25):
        before = datetime.now(UTC)
        rep = pipeline.refresh_feed(conn, settings, fid)
        assert rep.error_kind == "http_404"
        waits.append((feed(conn, fid).next_fetch_at - before).total_seconds())
    state = feed(conn, fid)
    assert state.disabled_at is None and state.error_count == 25
    assert "HTTP 404" in state.last_error and state.last_error_kind == "http_404"
    assert 55 <= waits[0] <= 125 and waits[-1] >= 43000 and waits[-1] <= 86400 + 5
    assert len(history(conn, fid)) == 20  # recent_fetches' default page


def test_429_retry_after_is_honoured(conn, settings: Settings, srv: FeedServer) -> None:
    url = srv.route("/rl", Route(status=429, headers={"Retry-After": "7200"}))
    fid = add(conn, url)
    pipeline.refresh_feed(conn, settings, fid)
    wait = (feed(conn, fid).next_fetch_at - datetime.now(UTC)).total_seconds()
    assert 7100 < wait <= 7200


def test_long_run_of_hard_failures_disables(conn, settings: Settings, srv: FeedServer) -> None:
    url = srv.route("/forbidden", Route(status=403))
    fid = add(conn, url)
    conn.execute("UPDATE feeds SET created_at = now() - interval '10 days' WHERE id = %s", (fid,))
    conn.commit()
    for i in range(settings.disable_after_errors):
        assert feed(conn, fid).disabled_at is None, f"disabled too early, after {i} failures"
        pipeline.refresh_feed(conn, settings, fid)
    state = feed(conn, fid)
    assert state.disabled_at is not None
    assert f"{settings.disable_after_errors} hard failures" in state.disabled_reason
    assert "HTTP 403 Forbidden" in state.disabled_reason


def test_hard_failures_for_hours_only_do_not_disable(conn, settings: Settings, srv: FeedServer) -> None:
    url = srv.route("/forbidden", Route(status=403))
    fid = add(conn, url)  # created just now: failing for seconds, not days
    for _ in range(settings.disable_after_errors + 5):
        pipeline.refresh_feed(conn, settings, fid)
    assert feed(conn, fid).disabled_at is None


def test_ssrf_refusal_recorded_when_private_addresses_blocked(conn, srv: FeedServer) -> None:
    strict = Settings(allow_private_addresses=False)  # type: ignore[call-arg]
    fid = add(conn, srv.route("/feed", Route(body=rss("a"))))
    rep = pipeline.refresh_feed(conn, strict, fid)
    assert rep.status == "error" and rep.error_kind == "ssrf"
    assert srv.hits == [] and history(conn, fid)[0]["error_kind"] == "ssrf"


def test_feeds_add_discovers_the_feed_of_an_html_page(conn, srv: FeedServer, cli) -> None:
    srv.route("/", Route(body=b'<!DOCTYPE html><html><head><link rel="alternate" type="application/rss+xml" '
                              b'href="/feed.xml"></head><body>site</body></html>',
                         headers={"Content-Type": "text/html"}))
    feed_url = srv.route("/feed.xml", Route(body=rss("a")))
    r = cli("feeds", "add", srv.url("/"))
    assert r.returncode == 0, r.stderr
    assert f"found feed {feed_url}" in r.stdout
    assert [row.url for row in feed_store.list_feeds(conn)] == [feed_url]


def test_feeds_history_cli(conn, settings: Settings, srv: FeedServer, cli) -> None:
    url = srv.route("/feed", Route(body=rss("a"), etag='"x"'))
    fid = add(conn, url)
    pipeline.refresh_feed(conn, settings, fid)
    pipeline.refresh_feed(conn, settings, fid)
    out = cli("feeds", "history", str(fid))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and "not_modified (304)" in lines[0] and "entries 1 (1 new)" in lines[1]
    doc = json.loads(cli("feeds", "history", str(fid), "--json").stdout)
    assert [d["outcome"] for d in doc] == ["not_modified", "modified"]
    assert cli("feeds", "history", "999999").returncode == 1


def test_prune_keeps_recent_history(conn, settings: Settings, srv: FeedServer) -> None:
    fid = add(conn, srv.route("/feed", Route(body=rss("a"))))
    for _ in range(5):
        pipeline.refresh_feed(conn, settings, fid)
    conn.execute("UPDATE feed_fetches SET fetched_at = now() - interval '60 days'")
    conn.commit()
    with conn.transaction():
        deleted = fetch_store.prune_fetches(conn, older_than=datetime.now(UTC) - timedelta(days=30), keep_per_feed=2)
    assert deleted == 3 and len(history(conn, fid)) == 2


def test_celery_task_postpones_a_rate_limited_host(conn, settings: Settings, srv: FeedServer, cli, redis_url,
                                                   celery_worker) -> None:
    """A host under a shared Retry-After block: the worker never asks it and pushes the feed back."""
    import redis

    from worker.fetch.politeness import HostPoliteness

    fid = add(conn, srv.route("/feed", Route(body=rss("a"))))
    HostPoliteness(client=redis.Redis.from_url(redis_url)).note_retry_after("127.0.0.1", 3600)
    try:
        r = cli("fetch", str(fid))
        assert r.returncode == 0, r.stderr

        def postponed() -> bool:
            state = feed(conn, fid)
            return state.claimed_until is None and state.next_fetch_at > datetime.now(UTC) + timedelta(minutes=50)

        wait_for(postponed, timeout=60)
        state = feed(conn, fid)
        assert state.error_count == 0 and srv.hits == []
    finally:
        redis.Redis.from_url(redis_url).delete("wirefeed:host:127.0.0.1:block")


def test_celery_task_waits_out_a_busy_host_without_failing(conn, settings: Settings, srv: FeedServer, cli,
                                                           redis_url, celery_worker, tmp_path) -> None:
    """A short host-wide block: the task comes back after it and fetches; no error, no attempt, no failure."""
    import redis

    from worker.fetch.politeness import HostPoliteness

    fid = add(conn, srv.route("/feed", Route(body=rss("a"))))
    HostPoliteness(client=redis.Redis.from_url(redis_url)).note_retry_after("127.0.0.1", 15)
    try:
        r = cli("fetch", str(fid))
        assert r.returncode == 0, r.stderr
        wait_for(lambda: feed(conn, fid).last_success_at is not None, timeout=60)
    finally:
        redis.Redis.from_url(redis_url).delete("wirefeed:host:127.0.0.1:block")
    state = feed(conn, fid)
    assert state.error_count == 0 and state.claimed_until is None and len(srv.hits_on("/feed")) == 1
    assert conn.execute("SELECT count(*) FROM task_attempts").fetchone()[0] == 0
    conn.commit()
    log = (tmp_path / "fetch-worker.log").read_text(errors="replace")  # the fetch worker's (celery_worker)
    assert "Retry in" in log and "task_failed" not in log  # it waited once, and nothing counted as a failure


def _date_in(seconds: int) -> str:
    from email.utils import format_datetime

    return format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)


@pytest.mark.parametrize(
    ("route", "kind", "status", "min_wait"),
    [
        (Route(status=429, headers={"Retry-After": "5000"}), "http_429", 429, 4900),  # Retry-After seconds
        ("date", "http_429", 429, 8800),  # Retry-After as an HTTP-date (built when the test runs)
        (Route(status=503, headers={"Retry-After": "3000"}), "http_503", 503, 2900),  # 503 with Retry-After
        (Route(status=503), "http_503", 503, 55),  # 503 without: plain backoff
        (Route(status=500), "http_500", 500, 55),  # server error
        (Route(status=401), "http_401", 401, 55),  # hard, but not disabled after one
        (Route(body=rss("a"), first_byte_delay=2.0), "timeout", None, 55),  # slow first byte
        (Route(body=rss("a"), dribble=0.1), "timeout", None, 55),  # dribbling body: total deadline
        (Route(body=b"x" * 300_000), "too_large", None, 55),  # oversized (cap 200 KB below)
        (Route(status=302, headers={"Location": "/case"}), "redirect_loop", None, 55),  # redirect loop
    ],
)
def test_failures_are_recorded_on_feed_and_history(conn, settings: Settings, srv: FeedServer,
                                                   route: Route | str, kind: str, status: int | None,
                                                   min_wait: float) -> None:
    if route == "date":
        route = Route(status=429, headers={"Retry-After": _date_in(9000)})
    assert isinstance(route, Route)
    tight = settings.model_copy(update={"read_timeout": 0.5, "fetch_deadline": 1.5, "max_feed_bytes": 200_000})
    fid = add(conn, srv.route("/case", route))
    before = datetime.now(UTC)
    rep = pipeline.refresh_feed(conn, tight, fid)
    assert rep.status == "error" and rep.error_kind == kind
    state = feed(conn, fid)
    assert state.error_count == 1 and state.last_error_kind == kind and state.disabled_at is None
    assert state.claimed_until is None and "\n" not in state.last_error
    assert (state.next_fetch_at - before).total_seconds() >= min_wait
    (row,) = history(conn, fid)
    assert (row["outcome"], row["status"], row["error_kind"]) == ("error", status, kind)
    assert row["error_message"] == state.last_error and row["duration_ms"] >= 0


def test_gzip_bomb_recorded_as_too_large(conn, settings: Settings, srv: FeedServer) -> None:
    from tests.httpserver import gzip_bomb

    fid = add(conn, srv.route("/bomb", Route(body=gzip_bomb(100 * 1024 * 1024), headers={"Content-Encoding": "gzip"})))
    rep = pipeline.refresh_feed(conn, settings.model_copy(update={"max_feed_bytes": 1_000_000}), fid)
    assert rep.error_kind == "too_large"
    (row,) = history(conn, fid)
    assert row["error_kind"] == "too_large" and "WIREFEED_MAX_FEED_BYTES" in row["error_message"]


def test_last_modified_304_recorded(conn, settings: Settings, srv: FeedServer) -> None:
    lm = "Tue, 02 Jun 2026 10:00:00 GMT"
    fid = add(conn, srv.route("/lm", Route(body=rss("a"), last_modified=lm)))
    pipeline.refresh_feed(conn, settings, fid)
    assert feed(conn, fid).last_modified == lm
    assert pipeline.refresh_feed(conn, settings, fid).not_modified
    assert [(r["status"], r["not_modified_by"]) for r in history(conn, fid)] == [(200, None), (304, "304")]


def test_daily_prune_task_drops_old_history(conn, settings: Settings, srv: FeedServer) -> None:
    from worker.tasks import prune_fetch_history

    fid = add(conn, srv.route("/feed", Route(body=rss("a"))))
    for _ in range(25):
        pipeline.refresh_feed(conn, settings, fid)
    conn.execute("UPDATE feed_fetches SET fetched_at = now() - interval '90 days' WHERE id IN "
                 "(SELECT id FROM feed_fetches ORDER BY id LIMIT 22)")
    conn.commit()
    assert prune_fetch_history() == 5  # 22 old rows, but the feed keeps its newest 20 of 25
    assert len(fetch_store.recent_fetches(conn, fid, limit=100)) == 20


def test_301_onto_an_already_subscribed_url_disables_the_duplicate(conn, settings: Settings, srv: FeedServer) -> None:
    old = srv.route("/old", Route(status=301, headers={"Location": "/new"}))
    new = srv.route("/new", Route(body=rss("a")))
    moved, existing = add(conn, old), add(conn, new)
    pipeline.refresh_feed(conn, settings, moved)
    state = feed(conn, moved)
    assert state.url == old and state.disabled_at is not None
    assert f"already subscribed as feed {existing}" in state.disabled_reason
    assert feed(conn, existing).disabled_at is None


def test_sync_fetch_spaces_requests_to_one_host(conn, srv: FeedServer, cli) -> None:
    ids = [add(conn, srv.route(f"/f{i}", Route(body=rss(f"s{i}")))) for i in range(3)]
    r = cli("fetch", "--sync", *map(str, ids))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("1 new") == 3
    times = sorted(h.at for h in srv.hits)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # the host's minimum gap (1 s) is kept between slot grants; the server sees it minus connect jitter
    assert len(times) == 3 and min(gaps) >= 0.75


def test_fetch_of_an_unknown_feed_id_names_it_and_claims_nothing(conn, srv: FeedServer, cli) -> None:
    fid = add(conn, srv.route("/feed", Route(body=rss("a"))))
    r = cli("fetch", "--sync", str(fid), "999999")
    assert r.returncode == 1 and "no feed with id 999999" in r.stderr
    assert feed(conn, fid).claimed_until is None and feed(conn, fid).last_fetched_at is None
    assert srv.hits == []
