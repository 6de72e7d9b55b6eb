"""SSRF guard: address classification table, loopback refused by default, every redirect hop vetted."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from tests.httpserver import FeedServer, Route
from worker.errors import PermanentFetchError, TransientFetchError
from worker.fetch.http import fetch_feed_body
from worker.fetch.ssrf import address_problem, vetted_addresses
from worker.settings import Settings

FEED = b"<rss version='2.0'><channel><title>t</title></channel></rss>"


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("93.184.216.34", None),  # public IPv4
        ("8.8.8.8", None),  # public IPv4
        ("2606:4700:4700::1111", None),  # public IPv6
        ("127.0.0.1", "loopback"),  # IPv4 loopback
        ("127.255.255.254", "loopback"),  # anywhere in 127/8
        ("::1", "loopback"),  # IPv6 loopback
        ("0.0.0.0", "unspecified"),  # "this host" reaches local services on Linux
        ("::", "unspecified"),  # IPv6 unspecified
        ("10.1.2.3", "private"),  # RFC 1918
        ("172.16.0.1", "private"),  # RFC 1918
        ("192.168.1.1", "private"),  # RFC 1918
        ("fd00::1", "private"),  # IPv6 unique local
        ("169.254.169.254", "link-local"),  # cloud metadata endpoint
        ("fe80::1", "link-local"),  # IPv6 link-local
        ("224.0.0.1", "multicast"),  # IPv4 multicast
        ("ff02::1", "multicast"),  # IPv6 multicast
        ("240.0.0.1", "reserved"),  # class E
        ("100.64.0.1", "not globally routable"),  # carrier-grade NAT shared space
        ("::ffff:127.0.0.1", "loopback (embedded in IPv6)"),  # IPv4-mapped loopback
        ("::ffff:169.254.169.254", "link-local (embedded in IPv6)"),  # IPv4-mapped metadata endpoint
        ("::ffff:8.8.8.8", None),  # IPv4-mapped public address is fine
        ("2002:7f00:1::", "loopback (embedded in IPv6)"),  # 6to4 wrapping 127.0.0.1
        ("64:ff9b::a00:1", "private (embedded in IPv6)"),  # NAT64 wrapping 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "reserved (Teredo tunnel)"),  # Teredo
        ("fec0::1", "site-local"),  # deprecated IPv6 site-local
    ],
)
def test_address_problem(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem


@pytest.fixture
def srv() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def fetch(url: str, allow: bool):  # type: ignore[no-untyped-def]
    settings = Settings(allow_private_addresses=allow, fetch_deadline=5.0)  # type: ignore[call-arg]
    return fetch_feed_body(url, etag=None, last_modified=None, previous_body_hash=None, settings=settings)


def test_loopback_refused_by_default(srv: FeedServer) -> None:
    url = srv.route("/feed", Route(body=FEED))
    with pytest.raises(PermanentFetchError) as info:
        fetch(url, allow=False)
    assert info.value.kind == "ssrf" and "loopback" in str(info.value)
    assert "WIREFEED_ALLOW_PRIVATE_ADDRESSES" in str(info.value)
    assert srv.hits == []  # refused before any byte was sent


def test_loopback_allowed_with_flag(srv: FeedServer) -> None:
    url = srv.route("/feed", Route(body=FEED))
    assert fetch(url, allow=True).body == FEED


def test_localhost_name_refused(srv: FeedServer) -> None:
    url = srv.route("/feed", Route(body=FEED)).replace("127.0.0.1", "localhost")
    with pytest.raises(PermanentFetchError) as info:
        fetch(url, allow=False)
    assert info.value.kind == "ssrf" and "localhost" in str(info.value)


def test_redirect_to_private_host_refused(srv: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first hop is "public" (we let 127.0.0.1 pass for this one name by resolving a public-looking
    # name to it), the redirect points at a private address: the second hop must be refused.
    import worker.fetch.ssrf as ssrf

    real_resolve = ssrf.resolve

    def fake_resolve(host: str, port: int, timeout: float | None = None) -> list[ssrf.IPAddress]:
        if host == "public.example":
            return [ipaddress.ip_address("127.0.0.1")]
        return real_resolve(host, port, timeout)

    monkeypatch.setattr(ssrf, "resolve", fake_resolve)
    monkeypatch.setattr(ssrf, "address_problem",
                        lambda ip, real=ssrf.address_problem: None if str(ip) == "127.0.0.1" else real(ip))
    port = srv.base.rsplit(":", 1)[1]
    srv.route("/start", Route(status=302, headers={"Location": f"http://10.0.0.1:{port}/internal"}))
    with pytest.raises(PermanentFetchError) as info:
        fetch(f"http://public.example:{port}/start", allow=False)
    assert info.value.kind == "ssrf" and "10.0.0.1" in str(info.value)
    assert [h.path for h in srv.hits] == ["/start"]  # the first hop was fetched, the private one never


def test_connects_to_the_vetted_address_not_a_second_lookup(srv: FeedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # DNS rebinding: the name resolves once; a second lookup would give a different answer.
    import worker.fetch.ssrf as ssrf

    answers = iter([[ipaddress.ip_address("127.0.0.1")], [ipaddress.ip_address("10.9.9.9")]])
    monkeypatch.setattr(ssrf, "resolve", lambda host, port, timeout=None: next(answers))
    url = srv.route("/feed", Route(body=FEED)).replace("127.0.0.1", "rebind.example")
    out = fetch(url, allow=True)
    assert out.body == FEED
    assert srv.hits[0].headers["host"].startswith("rebind.example")  # Host header kept


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",  # local file
        "ftp://example.com/feed",  # other protocols
        "gopher://127.0.0.1:6379/_FLUSHALL",  # classic SSRF into Redis
        "javascript:alert(1)",  # not a network URL at all
    ],
)
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(PermanentFetchError) as info:
        fetch(url, allow=True)
    assert info.value.kind == "bad_scheme"


def test_vetted_addresses_keeps_only_public_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.fetch.ssrf as ssrf

    mixed = [ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("93.184.216.34")]
    monkeypatch.setattr(ssrf, "resolve", lambda host, port, timeout=None: mixed)
    assert vetted_addresses("mixed.example", 443, allow_private=False) == [mixed[1]]
    assert vetted_addresses("mixed.example", 443, allow_private=True) == mixed


def test_slow_dns_is_cut_at_the_connect_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import threading

    real = socket.getaddrinfo
    release = threading.Event()

    def slow(host: str, *args: object, **kw: object) -> object:
        if host == "slow-dns.example":
            release.wait(60)  # a lookup that answers only once the test lets it (and then with loopback)
            host = "127.0.0.1"
        return real(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    settings = Settings(allow_private_addresses=True, connect_timeout=0.3)  # type: ignore[call-arg]
    try:
        with pytest.raises(TransientFetchError) as info:
            fetch_feed_body("http://slow-dns.example/feed", etag=None, last_modified=None, previous_body_hash=None,
                            settings=settings)
    finally:
        release.set()
    assert info.value.kind == "dns" and "took longer than 0.3 s" in str(info.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1]:9/feed",  # IPv6 loopback literal
        "http://[::ffff:127.0.0.1]:9/feed",  # IPv4-mapped loopback literal
        "http://0.0.0.0:9/feed",  # unspecified: reaches local services on Linux
        "http://2130706433:9/feed",  # 127.0.0.1 written as one decimal number
        "http://0x7f.1:9/feed",  # 127.0.0.1 in inet_aton shorthand
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    ],
)
def test_loopback_spellings_refused(url: str) -> None:
    with pytest.raises(PermanentFetchError) as info:
        fetch(url, allow=False)
    assert info.value.kind == "ssrf"
