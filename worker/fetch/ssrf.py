"""SSRF guard: only public http(s) addresses are fetched, and the socket goes to the address that was checked.

The check lives in the network backend under httpx, so it runs for every connection, including each
redirect hop, and there is no gap between "resolve and check" and "connect" for DNS rebinding to use:
:class:`VettedBackend` resolves the name once, refuses forbidden addresses, then dials the vetted IP itself.
TLS still uses the URL's host name for SNI and certificate checks (httpcore passes it to ``start_tls``),
and the Host header is untouched. The same backend enforces the fetch's total deadline on every read.

:class:`VettedTransport` puts the backend under httpx through public APIs only: an ``httpcore.ConnectionPool``
built with ``network_backend=`` inside an ``httpx.BaseTransport`` (httpx's own ``HTTPTransport`` takes no
network backend).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import ipaddress
import socket
import ssl
import time
import typing
from collections.abc import Iterable, Iterator

import httpcore
import httpx

from worker.errors import PermanentFetchError, TransientFetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOWED_SCHEMES = ("http", "https")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` must not be fetched from (e.g. ``"loopback"``), or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            return f"{inner} (embedded in IPv6)" if inner else None
        if ip.teredo is not None:
            return "reserved (Teredo tunnel)"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
        ("private", ip.is_private),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("not globally routable", not ip.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def check_scheme(url: str, scheme: str) -> None:
    if scheme.lower() not in ALLOWED_SCHEMES:
        raise PermanentFetchError(
            f"refusing {scheme or 'relative'}:// URL {url!r}: only http and https feeds are fetched",
            kind="bad_scheme",
        )


def resolve(host: str, port: int, timeout: float | None = None) -> list[IPAddress]:
    """Every address ``host`` resolves to, in resolver order, without duplicates.

    ``getaddrinfo`` has no timeout of its own: with ``timeout`` the lookup runs on a small shared thread
    pool and the caller stops waiting after ``timeout`` seconds (the lookup itself finishes in the background).
    """
    try:
        if timeout is None:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        else:
            future = _resolver().submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
            infos = future.result(timeout=max(timeout, 0.001))
    except concurrent.futures.TimeoutError:
        raise TransientFetchError(f"resolving host {host!r} took longer than {timeout:g} s", kind="dns") from None
    except (socket.gaierror, UnicodeError) as exc:
        raise TransientFetchError(f"cannot resolve host {host!r}: {exc}", kind="dns") from None
    seen: dict[IPAddress, None] = {}
    for _family, _type, _proto, _canon, sockaddr in infos:
        seen.setdefault(ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]), None)
    return list(seen)


@functools.lru_cache(maxsize=1)
def _resolver() -> concurrent.futures.ThreadPoolExecutor:
    return concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="wirefeed-dns")


def vetted_addresses(
    host: str, port: int, *, allow_private: bool, timeout: float | None = None
) -> list[IPAddress]:
    """The addresses of ``host`` that may be dialled; raises ``PermanentFetchError(kind="ssrf")`` if none."""
    addresses = resolve(host, port, timeout) if timeout is not None else resolve(host, port)
    if allow_private:
        return addresses
    allowed = [ip for ip in addresses if address_problem(ip) is None]
    if not allowed:
        ip = addresses[0]
        raise PermanentFetchError(
            f"refusing to fetch from {host} ({ip} is a {address_problem(ip)} address); "
            "set WIREFEED_ALLOW_PRIVATE_ADDRESSES=true only if internal feeds are intended",
            kind="ssrf",
        )
    return allowed


class DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every read and write is cut short at a fixed monotonic deadline."""

    def __init__(self, inner: httpcore.NetworkStream, deadline: float | None) -> None:
        self._inner = inner
        self._deadline = deadline

    def _budget(self, timeout: float | None) -> float | None:
        if self._deadline is None:
            return timeout
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            raise httpcore.ReadTimeout("total fetch deadline exceeded")
        return remaining if timeout is None else min(timeout, remaining)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._budget(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._budget(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: typing.Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        tls = self._inner.start_tls(ssl_context, server_hostname, self._budget(timeout))
        return DeadlineStream(tls, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class VettedBackend(httpcore.NetworkBackend):
    """Resolves, vets and dials the vetted IP; wraps the socket in a :class:`DeadlineStream`."""

    def __init__(self, *, allow_private: bool, deadline: float | None = None) -> None:
        self._allow_private = allow_private
        self._deadline = deadline
        self._sync = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[typing.Any] | None = None,
    ) -> httpcore.NetworkStream:
        lookup_budget = timeout
        if self._deadline is not None:
            remaining = self._deadline - time.monotonic()
            lookup_budget = remaining if timeout is None else min(timeout, remaining)
        addresses = vetted_addresses(host.strip("[]"), port, allow_private=self._allow_private,
                                     timeout=lookup_budget)
        last_error: Exception | None = None
        for ip in addresses:
            budget = timeout
            if self._deadline is not None:
                remaining = self._deadline - time.monotonic()
                if remaining <= 0:
                    raise httpcore.ConnectTimeout("total fetch deadline exceeded while connecting")
                budget = remaining if timeout is None else min(timeout, remaining)
            try:
                stream = self._sync.connect_tcp(str(ip), port, budget, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last_error = exc
                continue
            return DeadlineStream(stream, self._deadline)
        assert last_error is not None
        raise last_error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[typing.Any] | None = None
    ) -> httpcore.NetworkStream:
        raise PermanentFetchError("unix sockets are never fetched", kind="ssrf")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# httpcore's errors as the httpx errors callers classify (worker.fetch.http.classify_transport_error); the most
# specific class comes first. Anything else (the guard's own FetchErrors) passes through unchanged.
_HTTPX_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    """Re-raise an httpcore error as its httpx counterpart (the original as its cause)."""
    try:
        yield
    except Exception as exc:
        for core, mapped in _HTTPX_ERRORS:
            if isinstance(exc, core):
                raise mapped(str(exc)) from exc
        raise


class _ResponseStream(httpx.SyncByteStream):
    def __init__(self, inner: Iterable[bytes]) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        with _httpx_errors():
            yield from self._inner

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class VettedTransport(httpx.BaseTransport):
    """An httpx transport whose every connection is opened by :class:`VettedBackend` (no proxies, no unix sockets)."""

    def __init__(self, *, ssl_context: ssl.SSLContext, allow_private: bool, deadline: float | None = None,
                 max_connections: int = 4) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=max_connections,
            network_backend=VettedBackend(allow_private=allow_private, deadline=deadline),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=request.url.raw_scheme, host=request.url.raw_host, port=request.url.port,
                             target=request.url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = self._pool.handle_request(core_request)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_ResponseStream(response.stream), extensions=response.extensions)

    def close(self) -> None:
        self._pool.close()
