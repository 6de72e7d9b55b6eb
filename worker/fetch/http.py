"""Fetching one body politely and safely: the HTTP policy of wirefeed, for feeds, article pages and robots.txt.

:func:`fetch_url` does one (conditional) GET under a :class:`BodyLimit` and returns a :class:`FetchOutcome`
("modified" or "not_modified") or raises ``TransientFetchError`` / ``PermanentFetchError`` whose ``kind`` names
why. :func:`fetch_feed_body` and :func:`fetch_page_body` are it with each one's cap, ``Accept`` header and words.
Every status and transport error is classified here, in :func:`classify_status` and
:func:`classify_transport_error`, each with a one-line message a person can act on.

Limits: connect and read timeouts per socket operation, plus a total deadline enforced under httpx on
every read (a server dribbling one byte a second is cut off at the deadline); the body is decompressed
here, incrementally, and stopped one byte past the limit (a gzip bomb never inflates in memory): feeds
``WIREFEED_MAX_FEED_BYTES``, pages ``WIREFEED_MAX_PAGE_BYTES``; robots.txt is read up to its cap and the rest
ignored, as RFC 9309 allows.
Redirects are followed by hand so each hop's scheme is checked, and the SSRF guard in
:mod:`worker.fetch.ssrf` vets the address of every connection.
"""

from __future__ import annotations

import email.utils
import ssl
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from typing import Any, Literal, Protocol
from urllib.parse import urljoin, urlsplit

import brotli
import httpx
import xxhash

from worker.errors import NEVER_SWALLOW, FetchError, PermanentFetchError, TransientFetchError, over_size_limit
from worker.fetch.ssrf import VettedTransport, check_scheme
from worker.settings import Settings

MAX_REDIRECTS = 5
PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.9, application/json;q=0.8, text/html;q=0.5, */*;q=0.1"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.1"
ACCEPT_ENCODING = "gzip, deflate, br"
CHUNK = 64 * 1024


class Politeness(Protocol):
    """What the fetcher needs from :class:`worker.fetch.politeness.HostPoliteness`."""

    def slot(self, host: str) -> Any: ...  # context manager; raises HostBusy when the host is busy

    def note_retry_after(self, host: str, seconds: float) -> None: ...


@dataclass(frozen=True, slots=True)
class BodyLimit:
    """How much of a body is read, and what to say past it: ``what`` names the thing ("feed", "page"),
    ``setting`` the variable that raises the cap; ``truncate`` keeps the first ``size`` bytes instead of failing."""

    size: int
    what: str = "feed"
    setting: str = "WIREFEED_MAX_FEED_BYTES"
    truncate: bool = False

    @classmethod
    def feed(cls, settings: Settings) -> BodyLimit:
        return cls(settings.max_feed_bytes)

    @classmethod
    def page(cls, settings: Settings) -> BodyLimit:
        return cls(settings.max_page_bytes, "page", "WIREFEED_MAX_PAGE_BYTES")


@dataclass(slots=True)
class FetchOutcome:
    status: int | None
    outcome: Literal["modified", "not_modified"]
    body: bytes | None  # None when not modified (304 or same body hash): nothing to parse
    body_hash: str | None
    etag: str | None
    last_modified: str | None
    final_url: str
    permanent_redirect_to: str | None  # new URL for the feed after an unbroken chain of 301/308
    content_type: str | None
    headers: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    bytes_read: int = 0  # bytes on the wire (before decompression)
    cache_max_age: int | None = None
    retry_after: float | None = None
    not_modified_by: Literal["304", "hash"] | None = None


def wirefeed_version() -> str:
    try:
        return metadata.version("wirefeed")
    except metadata.PackageNotFoundError:
        return "0"


def user_agent(settings: Settings) -> str:
    return f"wirefeed/{wirefeed_version()} (+{settings.contact_url})"


def body_hash(body: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(body)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP-date; None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def parse_max_age(cache_control: str | None) -> int | None:
    """``max-age`` (or ``s-maxage``) seconds from a Cache-Control header."""
    if not cache_control:
        return None
    found: int | None = None
    for part in cache_control.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() in ("max-age", "s-maxage"):
            digits = value.strip().strip('"')
            if digits.isdigit():
                found = max(found or 0, int(digits))
    return found


def classify_status(status: int, url: str, headers: dict[str, str], what: str = "feed") -> None:
    """Return for 2xx/304; raise the right FetchError for everything else. The one place statuses are judged
    (``what`` names the thing fetched in the messages)."""
    if 200 <= status < 300 or status == 304:
        return
    host = urlsplit(url).hostname or url
    reason = httpx.codes.get_reason_phrase(status) or "error"
    head = f"HTTP {status} {reason} from {host}"
    kind = f"http_{status}"
    retry_after = parse_retry_after(headers.get("retry-after"))
    if status == 410:
        raise PermanentFetchError(f"{head}: the publisher removed this {what}; find its new URL", kind=kind,
                                  status=status)
    if status in (401, 407):
        raise PermanentFetchError(f"{head}: the {what} needs credentials, which wirefeed does not send", kind=kind,
                                  status=status)
    if status == 403:
        raise PermanentFetchError(f"{head}: the server refuses wirefeed (blocked agent or IP?)", kind=kind,
                                  status=status)
    if status in (429, 503):
        wait = f"retrying after {retry_after:.0f} s as asked" if retry_after is not None else "backing off"
        raise TransientFetchError(f"{head}: rate limited or overloaded, {wait}", kind=kind, status=status,
                                  retry_after=retry_after)
    if status == 404:
        raise TransientFetchError(f"{head}: the {what} URL may have moved; check it, retrying with backoff", kind=kind,
                                  status=status)
    if status == 408 or status >= 500:
        raise TransientFetchError(f"{head}: server-side error, retrying with backoff", kind=kind, status=status)
    if 300 <= status < 400:
        raise TransientFetchError(f"{head}: redirect without a usable Location header", kind="bad_redirect",
                                  status=status)
    raise PermanentFetchError(f"{head}: the server rejects the request; check the {what} URL", kind=kind,
                              status=status)


def classify_transport_error(exc: Exception, url: str, settings: Settings, deadline_hit: bool) -> FetchError:
    """Map an httpx/httpcore exception to a FetchError with a one-line reason."""
    if isinstance(exc, FetchError):
        return exc
    host = urlsplit(url).hostname or url
    if deadline_hit:
        return TransientFetchError(
            f"{host} too slow: gave up at the {settings.fetch_deadline:g} s total fetch deadline", kind="timeout"
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return TransientFetchError(
            f"connecting to {host} timed out after {settings.connect_timeout:g} s", kind="timeout"
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransientFetchError(
            f"{host} sent nothing for {settings.read_timeout:g} s (read timeout)", kind="timeout"
        )
    if isinstance(exc, httpx.ConnectError):
        if isinstance(exc.__cause__, ssl.SSLError) or "SSL" in str(exc) or "CERTIFICATE" in str(exc):
            return PermanentFetchError(f"TLS handshake with {host} failed: {_short(exc)}", kind="tls")
        return TransientFetchError(f"cannot connect to {host}: {_short(exc)}", kind="connect")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return PermanentFetchError(f"unsupported URL {url!r}: only http and https are fetched", kind="bad_scheme")
    if isinstance(exc, httpx.InvalidURL | httpx.LocalProtocolError | UnicodeError | ValueError):
        return PermanentFetchError(f"invalid feed URL {url!r}: {_short(exc)}", kind="bad_url")
    if isinstance(exc, httpx.TransportError):
        return TransientFetchError(f"network error talking to {host}: {_short(exc)}", kind="network")
    return TransientFetchError(f"unexpected error fetching {url}: {type(exc).__name__}: {_short(exc)}", kind="network")


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


class Truncated(Exception):
    """The decoder reached the limit of a body that is kept truncated (:attr:`BodyLimit.truncate`)."""


_BROTLI_STEP = 16 * 1024  # below one brotli output block: one block (< 32 KiB) per process() call


class BoundedDecoder:
    """Incremental Content-Encoding decoder that stops one byte past ``limit`` decoded bytes (or, with
    ``body_limit.truncate``, keeps exactly ``limit`` bytes and raises :class:`Truncated`)."""

    def __init__(self, encoding: str | None, limit: int, url: str, body_limit: BodyLimit | None = None) -> None:
        self.encoding = (encoding or "identity").strip().lower()
        self.limit = limit
        self.url = url
        self.body_limit = body_limit or BodyLimit(limit)
        self.parts: list[bytes] = []
        self.size = 0
        self._brotli: Any = None
        self._zlib: Any = None
        if self.encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif self.encoding == "deflate":
            self._zlib = None  # zlib-wrapped or raw: decided on the first bytes
        elif self.encoding == "br":
            self._brotli = brotli.Decompressor()
        elif self.encoding != "identity":
            raise PermanentFetchError(
                f"{url} uses unsupported Content-Encoding {self.encoding!r}", kind="bad_encoding"
            )

    def _room(self) -> int:
        return self.limit - self.size + 1

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        self.size += len(data)
        if self.size > self.limit:
            if self.body_limit.truncate:
                self.parts.append(data[: len(data) - (self.size - self.limit)])
                self.size = self.limit
                raise Truncated
            raise PermanentFetchError(over_size_limit(f"{self.body_limit.what} at {self.url}", self.limit,
                                                      setting=self.body_limit.setting), kind="too_large")
        self.parts.append(data)

    def feed(self, data: bytes) -> None:
        try:
            if self.encoding == "identity":
                self._emit(data)
            elif self._brotli is not None:
                self._feed_brotli(data)
            else:
                self._feed_zlib(data)
        except (zlib.error, brotli.error) as exc:
            raise PermanentFetchError(
                f"corrupt {self.encoding} body from {self.url}: {_short(exc)}", kind="bad_encoding"
            ) from None

    def _feed_zlib(self, data: bytes) -> None:
        if self._zlib is None:  # deflate: RFC says zlib-wrapped, many servers send raw
            raw = bool(data) and (data[0] & 0x0F) != 8
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS if raw else zlib.MAX_WBITS)
        buf = data
        while buf:
            self._emit(self._zlib.decompress(buf, self._room()))
            buf = self._zlib.unconsumed_tail
            if self._zlib.eof:
                rest = self._zlib.unused_data
                if rest and self.encoding != "deflate":  # concatenated gzip members
                    self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS)
                    buf = rest
                else:
                    return

    def _feed_brotli(self, data: bytes) -> None:
        # brotli >= 1.2: ``output_buffer_limit`` is rounded up to whole output blocks (the first is 32 KiB less a
        # few bytes, each next one larger), so asking for the room left (10 MB) returned 16.7 MB in one call.
        # Asking for less than one block gets exactly one block per call: the decoder never holds more than
        # one block past the cap, and ``_emit`` keeps or refuses the bytes at the cap exactly.
        self._emit(self._brotli.process(data, output_buffer_limit=_BROTLI_STEP))
        while not self._brotli.can_accept_more_data():
            self._emit(self._brotli.process(b"", output_buffer_limit=_BROTLI_STEP))

    def body(self) -> bytes:
        return b"".join(self.parts)


@lru_cache(maxsize=4)
def _ssl_context(extra_ca_file: str | None = None) -> ssl.SSLContext:
    ctx = httpx.create_ssl_context()
    if extra_ca_file:
        ctx.load_verify_locations(cafile=extra_ca_file)  # trusted beside the default bundle, not instead
    return ctx


def _client(settings: Settings, deadline: float, accept: str = ACCEPT) -> httpx.Client:
    timeout = httpx.Timeout(
        connect=settings.connect_timeout, read=settings.read_timeout,
        write=settings.read_timeout, pool=settings.connect_timeout,
    )
    return httpx.Client(
        transport=VettedTransport(ssl_context=_ssl_context(settings.extra_ca_file),
                                  allow_private=settings.allow_private_addresses, deadline=deadline),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,  # an environment proxy would bypass the SSRF guard
        headers={"User-Agent": user_agent(settings), "Accept": accept, "Accept-Encoding": ACCEPT_ENCODING},
    )


def fetch_feed_body(
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    previous_body_hash: str | None,
    settings: Settings,
    politeness: Politeness | None = None,
) -> FetchOutcome:
    """One conditional GET of a feed under wirefeed's limits. See the module docstring."""
    return fetch_url(url, settings=settings, limit=BodyLimit.feed(settings), politeness=politeness, etag=etag,
                     last_modified=last_modified, previous_body_hash=previous_body_hash)


def fetch_page_body(url: str, *, settings: Settings, politeness: Politeness | None = None) -> FetchOutcome:
    """One GET of an article page: the page cap (``WIREFEED_MAX_PAGE_BYTES``), an HTML ``Accept`` header, and
    the same SSRF guard, deadline, redirects, politeness and User-Agent as a feed."""
    return fetch_url(url, settings=settings, limit=BodyLimit.page(settings), politeness=politeness,
                     accept=PAGE_ACCEPT)


def fetch_url(
    url: str,
    *,
    settings: Settings,
    limit: BodyLimit,
    politeness: Politeness | None = None,
    accept: str = ACCEPT,
    etag: str | None = None,
    last_modified: str | None = None,
    previous_body_hash: str | None = None,
) -> FetchOutcome:
    """One GET of ``url`` (conditional when ``etag`` / ``last_modified`` are given), its body read under
    ``limit``, holding one of the host's politeness slots when ``politeness`` is given."""
    started = time.monotonic()
    deadline = started + settings.fetch_deadline
    parts = urlsplit(url)
    check_scheme(url, parts.scheme)
    host = parts.hostname or ""
    req = _Request(url, etag, last_modified, previous_body_hash, limit, accept)
    if politeness is None:
        return _fetch(req, settings, started, deadline, None, host)
    with politeness.slot(host):
        return _fetch(req, settings, started, deadline, politeness, host)


@dataclass(frozen=True, slots=True)
class _Request:
    url: str
    etag: str | None
    last_modified: str | None
    previous_body_hash: str | None
    limit: BodyLimit
    accept: str


def _fetch(
    req: _Request,
    settings: Settings,
    started: float,
    deadline: float,
    politeness: Politeness | None,
    host: str,
) -> FetchOutcome:
    url, etag, last_modified, previous_body_hash = req.url, req.etag, req.last_modified, req.previous_body_hash
    conditional: dict[str, str] = {}
    if etag:
        conditional["If-None-Match"] = etag
    if last_modified:
        conditional["If-Modified-Since"] = last_modified
    current = url
    permanent_to: str | None = None
    permanent_chain = True
    visited = {url}
    wire = 0
    with _client(settings, deadline, req.accept) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            check_scheme(current, urlsplit(current).scheme)
            try:
                response = client.send(client.build_request("GET", current, headers=conditional), stream=True)
            except NEVER_SWALLOW:
                raise
            except Exception as exc:
                raise classify_transport_error(exc, current, settings, time.monotonic() >= deadline) from None
            try:
                headers = {k.lower(): v for k, v in response.headers.items()}
                status = response.status_code
                location = headers.get("location")
                if status in REDIRECTS and location:
                    target = urljoin(current, location.strip())
                    if permanent_chain and status in PERMANENT_REDIRECTS:
                        permanent_to = target
                    else:
                        permanent_chain = False
                    if target in visited:
                        raise TransientFetchError(
                            f"redirect loop at {current} (back to {target}); the site is misconfigured",
                            kind="redirect_loop",
                        )
                    visited.add(target)
                    current = target
                    continue
                try:
                    classify_status(status, current, headers, req.limit.what)
                except FetchError as exc:
                    if politeness is not None and exc.retry_after is not None:
                        politeness.note_retry_after(urlsplit(current).hostname or host, exc.retry_after)
                    raise
                body: bytes | None = None
                if status != 304:
                    body, wire = _read_body(response, headers, current, settings, deadline, req.limit)
            except FetchError:
                raise
            except NEVER_SWALLOW:
                raise
            except Exception as exc:
                raise classify_transport_error(exc, current, settings, time.monotonic() >= deadline) from None
            finally:
                response.close()
            return _outcome(
                status, headers, body, wire, etag, last_modified, previous_body_hash,
                current, permanent_to, time.monotonic() - started,
            )
    raise TransientFetchError(
        f"more than {MAX_REDIRECTS} redirects starting at {url}; the site is misconfigured", kind="redirect_loop"
    )


def _read_body(
    response: httpx.Response, headers: dict[str, str], url: str, settings: Settings, deadline: float,
    body_limit: BodyLimit,
) -> tuple[bytes, int]:
    limit = body_limit.size
    encoding = headers.get("content-encoding")
    declared = headers.get("content-length", "")
    if (encoding in (None, "", "identity")) and declared.isdigit() and int(declared) > limit \
            and not body_limit.truncate:
        raise PermanentFetchError(over_size_limit(f"{body_limit.what} at {url}", limit, size=int(declared),
                                                  declared=True, setting=body_limit.setting), kind="too_large")
    decoder = BoundedDecoder(encoding, limit, url, body_limit)
    wire = 0
    for chunk in response.iter_raw(CHUNK):
        wire += len(chunk)
        try:
            decoder.feed(chunk)
        except Truncated:
            break
        if time.monotonic() >= deadline:
            raise TransientFetchError(
                f"{urlsplit(url).hostname} too slow: gave up at the {settings.fetch_deadline:g} s total deadline",
                kind="timeout",
            )
    return decoder.body(), wire


def _outcome(
    status: int,
    headers: dict[str, str],
    body: bytes | None,
    wire: int,
    etag: str | None,
    last_modified: str | None,
    previous_body_hash: str | None,
    final_url: str,
    permanent_to: str | None,
    elapsed: float,
) -> FetchOutcome:
    new_etag = headers.get("etag") or (etag if status == 304 else None)
    new_lm = headers.get("last-modified") or (last_modified if status == 304 else None)
    common: dict[str, Any] = {
        "status": status,
        "etag": new_etag,
        "last_modified": new_lm,
        "final_url": final_url,
        "permanent_redirect_to": permanent_to,
        "content_type": headers.get("content-type"),
        "headers": headers,
        "elapsed": elapsed,
        "bytes_read": wire,
        "cache_max_age": parse_max_age(headers.get("cache-control")),
        "retry_after": parse_retry_after(headers.get("retry-after")),
    }
    if status == 304 or body is None:
        return FetchOutcome(outcome="not_modified", body=None, body_hash=previous_body_hash,
                            not_modified_by="304", **common)
    digest = body_hash(body)
    if previous_body_hash is not None and digest == previous_body_hash:
        return FetchOutcome(outcome="not_modified", body=None, body_hash=digest, not_modified_by="hash", **common)
    return FetchOutcome(outcome="modified", body=body, body_hash=digest, **common)
