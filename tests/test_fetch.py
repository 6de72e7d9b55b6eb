"""Fetch policy against a real loopback HTTP server (tests/httpserver.py); nothing leaves the machine."""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import brotli
import pytest

from tests.conftest import free_port
from tests.httpserver import FeedServer, Route, gzip_bomb
from worker.errors import PermanentFetchError, TransientFetchError
from worker.fetch.http import (
    BodyLimit,
    BoundedDecoder,
    Truncated,
    body_hash,
    fetch_feed_body,
    parse_max_age,
    parse_retry_after,
    wirefeed_version,
)
from worker.settings import Settings

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def make_settings(**over: object) -> Settings:
    base: dict[str, object] = {
        "allow_private_addresses": True,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "fetch_deadline": 5.0,
        "contact_url": "https://example.org/wirefeed",
    }
    base.update(over)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def srv() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def get(url: str, settings: Settings | None = None, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {"etag": None, "last_modified": None, "previous_body_hash": None}
    args.update(kw)
    return fetch_feed_body(url, settings=settings or make_settings(), **args)  # type: ignore[arg-type]


def test_200_returns_body_hash_and_sends_identity(srv: FeedServer) -> None:
    url = srv.route("/feed", Route(body=FEED, headers={"Content-Type": "application/rss+xml",
                                                       "Cache-Control": "public, max-age=3600"}))
    out = get(url)
    assert out.outcome == "modified" and out.status == 200
    assert out.body == FEED and out.body_hash == body_hash(FEED)
    assert out.content_type == "application/rss+xml" and out.cache_max_age == 3600
    assert out.final_url == url and out.permanent_redirect_to is None
    assert out.bytes_read == len(FEED)
    sent = srv.hits_on("/feed")[0].headers
    assert sent["user-agent"] == f"wirefeed/{wirefeed_version()} (+https://example.org/wirefeed)"
    assert "gzip" in sent["accept-encoding"] and "br" in sent["accept-encoding"]
    assert "if-none-match" not in sent


def test_etag_gives_304_on_second_fetch(srv: FeedServer) -> None:
    url = srv.route("/e", Route(body=FEED, etag='"v1"'))
    first = get(url)
    assert first.etag == '"v1"'
    second = get(url, etag=first.etag, previous_body_hash=first.body_hash)
    assert second.outcome == "not_modified" and second.status == 304 and second.not_modified_by == "304"
    assert second.body is None and second.etag == '"v1"' and second.body_hash == first.body_hash
    assert srv.hits_on("/e")[1].headers["if-none-match"] == '"v1"'


def test_last_modified_gives_304(srv: FeedServer) -> None:
    lm = "Tue, 03 Jun 2025 10:00:00 GMT"
    url = srv.route("/lm", Route(body=FEED, last_modified=lm))
    first = get(url)
    assert first.last_modified == lm
    second = get(url, last_modified=lm)
    assert second.status == 304 and second.outcome == "not_modified" and second.last_modified == lm
    assert srv.hits_on("/lm")[1].headers["if-modified-since"] == lm


def test_same_body_without_validators_is_not_modified_by_hash(srv: FeedServer) -> None:
    url = srv.route("/plain", Route(body=FEED))
    first = get(url)
    second = get(url, previous_body_hash=first.body_hash)
    assert second.status == 200 and second.outcome == "not_modified" and second.not_modified_by == "hash"
    assert second.body is None
    srv.route("/plain", Route(body=FEED + b" "))
    third = get(url, previous_body_hash=first.body_hash)
    assert third.outcome == "modified" and third.body_hash != first.body_hash


@pytest.mark.parametrize(
    ("chain", "expect_permanent"),
    [
        ([301], "/hop1"),  # one permanent redirect: the feed moves
        ([308], "/hop1"),  # 308 is permanent too
        ([302], None),  # temporary: the feed keeps its URL
        ([307], None),  # temporary
        ([303], None),  # see other: temporary
        ([301, 301], "/hop2"),  # unbroken permanent chain: move to the end
        ([301, 302], "/hop1"),  # chain broken by a temporary hop: move only as far as the last permanent
        ([302, 301], None),  # temporary first: nothing permanent about the feed's own URL
    ],
)
def test_redirects(srv: FeedServer, chain: list[int], expect_permanent: str | None) -> None:
    for i, status in enumerate(chain):
        src = "/start" if i == 0 else f"/hop{i}"
        srv.route(src, Route(status=status, headers={"Location": f"/hop{i + 1}"}))
    final = srv.route(f"/hop{len(chain)}", Route(body=FEED))
    out = get(srv.url("/start"))
    assert out.body == FEED and out.final_url == final
    assert out.permanent_redirect_to == (srv.url(expect_permanent) if expect_permanent else None)


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        (410, PermanentFetchError, "http_410"),  # gone: disable
        (404, TransientFetchError, "http_404"),  # soft, back off
        (401, PermanentFetchError, "http_401"),  # hard
        (403, PermanentFetchError, "http_403"),  # hard
        (500, TransientFetchError, "http_500"),  # soft
        (502, TransientFetchError, "http_502"),  # soft
        (400, PermanentFetchError, "http_400"),  # other 4xx: hard
    ],
)
def test_error_statuses(srv: FeedServer, status: int, error: type[Exception], kind: str) -> None:
    url = srv.route("/x", Route(status=status, body=b"nope"))
    with pytest.raises(error) as info:
        get(url)
    assert info.value.kind == kind  # type: ignore[attr-defined]
    assert info.value.status == status  # type: ignore[attr-defined]  # carried, never parsed back from kind
    assert f"HTTP {status}" in str(info.value) and "\n" not in str(info.value)


def test_429_retry_after_seconds(srv: FeedServer) -> None:
    url = srv.route("/rl", Route(status=429, headers={"Retry-After": "120"}))
    with pytest.raises(TransientFetchError) as info:
        get(url)
    assert info.value.kind == "http_429" and info.value.retry_after == 120.0
    assert "120 s" in str(info.value)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_http_date(srv: FeedServer, status: int) -> None:
    when = datetime.now(UTC) + timedelta(hours=1)
    url = srv.route("/rl", Route(status=status, headers={"Retry-After": format_datetime(when, usegmt=True)}))
    with pytest.raises(TransientFetchError) as info:
        get(url)
    assert info.value.kind == f"http_{status}"
    assert info.value.retry_after is not None and 3590 <= info.value.retry_after <= 3600


def test_slow_first_byte_hits_read_timeout(srv: FeedServer) -> None:
    release = threading.Event()

    def held(_: object) -> Route:  # the server answers only once the test lets it: the client gives up first
        release.wait(60)
        return Route(body=FEED)

    url = srv.route("/slow", held)
    try:
        with pytest.raises(TransientFetchError) as info:
            get(url, make_settings(read_timeout=0.5, fetch_deadline=30.0))
    finally:
        release.set()
    # the read timeout, not the total deadline (30 s) nor the server (held until now), ended it
    assert info.value.kind == "timeout" and "read timeout" in str(info.value)


def test_dribbling_body_is_cut_at_total_deadline(srv: FeedServer) -> None:
    # one byte every 0.2 s never trips the 5 s read timeout, only the 1.5 s total deadline; the whole body
    # would take 160 s
    url = srv.route("/drip", Route(body=FEED * 10, dribble=0.2))
    t0 = time.monotonic()
    with pytest.raises(TransientFetchError) as info:
        get(url, make_settings(read_timeout=5.0, fetch_deadline=1.5))
    took = time.monotonic() - t0
    assert info.value.kind == "timeout" and "deadline" in str(info.value)
    assert took >= 1.5  # never before the deadline (a loaded machine only makes it later)


@pytest.mark.parametrize(
    "encoding",
    [
        "gzip",  # classic gzip bomb: ~200 KB on the wire, 200 MB inflated
        "br",  # brotli bomb: ~40 KB on the wire, 200 MB inflated
    ],
)
def test_compression_bomb_stopped_early_with_flat_memory(srv: FeedServer, encoding: str) -> None:
    if encoding == "gzip":
        bomb = gzip_bomb(200 * 1024 * 1024)
    else:
        bomb = brotli.compress(b"\0" * (200 * 1024 * 1024), quality=1)
    url = srv.route("/bomb", Route(body=bomb, headers={"Content-Encoding": encoding}))
    tracemalloc.start()
    try:
        with pytest.raises(PermanentFetchError) as info:
            get(url, make_settings(max_feed_bytes=1024 * 1024))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.kind == "too_large" and "WIREFEED_MAX_FEED_BYTES" in str(info.value)
    assert peak < 8 * 1024 * 1024, peak  # 200 MB inflated never sits in memory


def test_brotli_bomb_at_the_default_cap_holds_no_more_than_the_cap(srv: FeedServer) -> None:
    """brotli 1.2 rounds ``output_buffer_limit`` up to whole blocks: asked for the 10 MB left, one call returned
    16.7 MB. Decoded in blocks, the fetch holds the cap's worth of body and one block, never more."""
    cap = 10 * 1024 * 1024
    bomb = brotli.compress(b"\0" * (64 * 1024 * 1024), quality=1)
    url = srv.route("/bomb", Route(body=bomb, headers={"Content-Encoding": "br"}))
    tracemalloc.start()
    try:
        with pytest.raises(PermanentFetchError) as info:
            get(url, make_settings(max_feed_bytes=cap))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.value.kind == "too_large"
    assert peak < cap + 1024 * 1024, peak  # was 16.7 MB in one piece, then copied


class _Pieces(BoundedDecoder):
    """The decoder, recording the size of every piece the brotli decoder hands it."""

    pieces: list[int]

    def _emit(self, data: bytes) -> None:
        self.pieces = [*getattr(self, "pieces", []), len(data)]
        super()._emit(data)


@pytest.mark.parametrize("truncate", [False, True])
def test_brotli_decodes_in_blocks_and_keeps_exactly_the_cap(truncate: bool) -> None:
    cap = 3 * 1024 * 1024 + 7
    bomb = brotli.compress(b"\0" * (32 * 1024 * 1024), quality=1)
    dec = _Pieces("br", cap, "http://x/", BodyLimit(cap, truncate=truncate))
    with pytest.raises(Truncated if truncate else PermanentFetchError):
        for i in range(0, len(bomb), 16 * 1024):
            dec.feed(bomb[i:i + 16 * 1024])
    assert max(dec.pieces) <= 32 * 1024  # one output block per call, whatever was left of the cap
    assert sum(dec.pieces) <= cap + 32 * 1024
    assert len(dec.body()) == (cap if truncate else sum(dec.pieces[:-1]))
    assert len(dec.body()) <= cap


def test_oversized_declared_body_refused_before_reading(srv: FeedServer) -> None:
    url = srv.route("/big", Route(body=b"x" * 50_000))
    with pytest.raises(PermanentFetchError) as info:
        get(url, make_settings(max_feed_bytes=10_000))
    assert info.value.kind == "too_large" and "declares 50000" in str(info.value)


def test_endless_body_without_length_stopped_at_cap(srv: FeedServer) -> None:
    def forever() -> Iterator[bytes]:
        while True:
            yield b"<item>" * 1000

    url = srv.route("/endless", Route(chunks=forever))
    with pytest.raises(PermanentFetchError) as info:
        get(url, make_settings(max_feed_bytes=200_000))
    assert info.value.kind == "too_large"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),  # the common case
        ("deflate", zlib.compress),  # RFC deflate: zlib-wrapped
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # what many servers send: raw deflate
        ("br", brotli.compress),  # brotli
    ],
)
def test_content_encodings_decoded(srv: FeedServer, encoding: str, encode) -> None:  # type: ignore[no-untyped-def]
    url = srv.route("/enc", Route(body=encode(FEED * 50), headers={"Content-Encoding": encoding}))
    out = get(url)
    assert out.body == FEED * 50 and out.bytes_read < len(FEED * 50)


def test_unknown_content_encoding_is_refused(srv: FeedServer) -> None:
    url = srv.route("/enc", Route(body=FEED, headers={"Content-Encoding": "lzma"}))
    with pytest.raises(PermanentFetchError) as info:
        get(url)
    assert info.value.kind == "bad_encoding"


def test_redirect_loop_and_too_many_redirects(srv: FeedServer) -> None:
    srv.route("/a", Route(status=302, headers={"Location": "/b"}))
    srv.route("/b", Route(status=302, headers={"Location": "/a"}))
    with pytest.raises(TransientFetchError) as info:
        get(srv.url("/a"))
    assert info.value.kind == "redirect_loop"
    for i in range(10):
        srv.route(f"/r{i}", Route(status=301, headers={"Location": f"/r{i + 1}"}))
    with pytest.raises(TransientFetchError) as info:
        get(srv.url("/r0"))
    assert info.value.kind == "redirect_loop" and "more than 5 redirects" in str(info.value)


def test_redirect_to_non_http_scheme_refused(srv: FeedServer) -> None:
    url = srv.route("/to-file", Route(status=302, headers={"Location": "file:///etc/passwd"}))
    with pytest.raises(PermanentFetchError) as info:
        get(url)
    assert info.value.kind == "bad_scheme"


def test_connection_refused_is_transient_connect() -> None:
    with pytest.raises(TransientFetchError) as info:
        get(f"http://127.0.0.1:{free_port()}/feed")
    assert info.value.kind == "connect" and "127.0.0.1" in str(info.value)


def test_unresolvable_host_is_dns_error() -> None:
    with pytest.raises(TransientFetchError) as info:
        get("http://no-such-host.invalid/feed")
    assert info.value.kind == "dns" and "no-such-host.invalid" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),  # delta-seconds
        ("0", 0.0),  # zero
        (" 30 ", 30.0),  # whitespace around
        ("Wed, 21 Oct 2015 07:28:00 GMT", 3600.0),  # HTTP-date an hour after "now"
        ("Wed, 21 Oct 2015 05:28:00 GMT", 0.0),  # a date in the past means "now"
        ("soon", None),  # garbage
        ("", None),  # empty
        (None, None),  # absent
        ("-5", None),  # negative is not valid delta-seconds
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 6, 28, tzinfo=UTC)
    assert parse_retry_after(value, now) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=600", 600),  # plain
        ("public, max-age=3600, must-revalidate", 3600),  # among other directives
        ("s-maxage=7200, max-age=60", 7200),  # shared-cache age asks for the longer wait
        ('max-age="90"', 90),  # quoted
        ("no-cache", None),  # no age
        ("max-age=abc", None),  # garbage
        (None, None),  # absent
    ],
)
def test_parse_max_age(value: str | None, expected: int | None) -> None:
    assert parse_max_age(value) == expected


@pytest.mark.parametrize(
    ("encoding", "payload", "most"),
    [
        ("gzip", gzip.compress(b"a" * 50_000), 4097),  # gzip: inflates exactly one byte past the limit
        ("deflate", zlib.compress(b"a" * 50_000), 4097),  # deflate: same
        ("br", brotli.compress(b"a" * 50_000), 64 * 1024),  # brotli overshoots by one output block (32 KB min)
        (None, b"a" * 5000, 5000),  # identity: the chunk as received, then stop
    ],
)
def test_bounded_decoder_stops_near_limit(encoding: str | None, payload: bytes, most: int) -> None:
    dec = BoundedDecoder(encoding, 4096, "http://x/")
    with pytest.raises(PermanentFetchError):
        dec.feed(payload)
    assert 4096 < dec.size <= most
