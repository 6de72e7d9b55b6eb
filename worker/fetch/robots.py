"""robots.txt for article pages: fetched once per site and kept in Redis, read with protego.

Rules (RFC 9309, as the big crawlers apply it):
- one robots.txt per origin (scheme, host, port), fetched through :func:`worker.fetch.http.fetch_url`: the SSRF
  guard, the deadline, redirects, the politeness slot of the host and the User-Agent of every other request;
  at most :data:`MAX_ROBOTS_BYTES` are read, the rest ignored;
- 2xx: its rules decide, for the product token ``wirefeed`` (protego: ``Allow``/``Disallow`` with wildcards,
  the longest match wins, ``Crawl-delay``); kept ``WIREFEED_ROBOTS_TTL_SECONDS``;
- 4xx (no robots.txt, or refused): every page may be fetched; kept as long;
- 5xx, 429, a timeout, a connection failure or a redirect loop: the site's rules are unknown, so no page of it
  is fetched; :class:`RobotsUnavailable` tells the caller to wait, and the answer is kept
  ``WIREFEED_ROBOTS_RETRY_SECONDS`` so the other pages of the site wait too without asking again.

The cache is shared by every worker through Redis (``wirefeed:robots:<origin>``). Without Redis each process
keeps its own copy for as long: robots.txt is never skipped because Redis is down.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from protego import Protego

from worker.errors import FetchError, HostBusy, PermanentFetchError, TransientFetchError
from worker.fetch.http import BodyLimit, Politeness, fetch_url
from worker.settings import Settings

__all__ = ["AGENT", "MAX_ROBOTS_BYTES", "Robots", "RobotsUnavailable", "RobotsVerdict", "origin_of"]

log = logging.getLogger(__name__)

AGENT = "wirefeed"  # the product token robots.txt groups are matched against
MAX_ROBOTS_BYTES = 512 * 1024  # RFC 9309: at least 500 KiB must be parsed
ROBOTS_ACCEPT = "text/plain, */*;q=0.1"
KEY_PREFIX = "wirefeed:robots:"
LOCK_PREFIX = "wirefeed:robots-lock:"
_LOCAL_MAX = 2048  # origins kept in a process's own copy


class RobotsUnavailable(TransientFetchError):
    """The site's robots.txt could not be read (5xx, 429, network): none of its pages is fetched for now."""

    kind = "robots_unavailable"


@dataclass(frozen=True, slots=True)
class RobotsVerdict:
    allowed: bool
    why: str  # one line: which rule or answer decided
    crawl_delay: float | None = None


@dataclass(frozen=True, slots=True)
class _Entry:
    """What is kept per origin: ``state`` ok (``body`` holds the rules), allow_all (4xx) or unavailable."""

    state: str
    body: str = ""
    status: int | None = None
    detail: str = ""

    def dumps(self) -> str:
        return json.dumps({"state": self.state, "body": self.body, "status": self.status, "detail": self.detail})

    @classmethod
    def loads(cls, raw: bytes | str) -> _Entry:
        doc = json.loads(raw)
        return cls(str(doc["state"]), str(doc.get("body") or ""), doc.get("status"), str(doc.get("detail") or ""))


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url`` (lower-cased, default ports dropped): robots.txt's scope."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")


class Robots:
    """``check(url)``: may wirefeed fetch this page? Raises :class:`RobotsUnavailable` when the site's rules are
    unknown for now, :class:`~worker.errors.HostBusy` when fetching robots.txt must wait for the host."""

    def __init__(self, settings: Settings, *, client: Any = None, politeness: Politeness | None = None) -> None:
        self.settings = settings
        self.client = client  # a redis.Redis, or None: this process's own copy only
        self.politeness = politeness
        self._local: dict[str, tuple[float, _Entry]] = {}
        self._parsed: dict[str, tuple[str, Protego]] = {}
        self.fetched = 0  # robots.txt requests this object made (tests and benchmarks read it)

    # --- the cache ---------------------------------------------------------------------------------

    def _cached(self, origin: str) -> _Entry | None:
        if self.client is not None:
            try:
                raw = self.client.get(KEY_PREFIX + origin)
                return _Entry.loads(raw) if raw is not None else None
            except Exception as exc:  # Redis away or a foreign value: fall back to this process's copy
                log.warning("robots: cache unavailable (%s); using this process's copy", exc)
        found = self._local.get(origin)
        if found is not None and found[0] > time.monotonic():
            return found[1]
        return None

    def _keep(self, origin: str, entry: _Entry) -> None:
        ttl = self.settings.robots_retry if entry.state == "unavailable" else self.settings.robots_ttl
        if len(self._local) >= _LOCAL_MAX:
            self._local.clear()
        self._local[origin] = (time.monotonic() + ttl, entry)
        if self.client is not None:
            try:
                self.client.set(KEY_PREFIX + origin, entry.dumps(), ex=ttl)
            except Exception as exc:
                log.warning("robots: cannot cache robots.txt of %s: %s", origin, exc)

    # --- fetching ----------------------------------------------------------------------------------

    def _fetch(self, origin: str) -> _Entry:
        url = origin + "/robots.txt"
        self.fetched += 1
        try:
            out = fetch_url(url, settings=self.settings, politeness=self.politeness, accept=ROBOTS_ACCEPT,
                            limit=BodyLimit(MAX_ROBOTS_BYTES, "robots.txt", "WIREFEED_MAX_PAGE_BYTES", truncate=True))
        except PermanentFetchError as err:
            if err.kind in ("ssrf", "bad_scheme", "bad_url", "tls"):
                raise  # the page is unreachable for the same reason: say that, not "robots"
            if err.status is not None and 400 <= err.status < 500:
                return _Entry("allow_all", status=err.status, detail=f"robots.txt answered HTTP {err.status}")
            return _Entry("unavailable", status=err.status, detail=err.reason)
        except FetchError as err:  # 5xx, 429, 404 (transient for feeds), timeouts, network, redirect loops
            if err.status is not None and 400 <= err.status < 500 and err.status != 429:
                return _Entry("allow_all", status=err.status, detail=f"robots.txt answered HTTP {err.status}")
            return _Entry("unavailable", status=err.status, detail=err.reason)
        body = (out.body or b"").decode("utf-8", "replace")
        return _Entry("ok", body=body, status=out.status, detail=f"robots.txt ({len(body)} characters)")

    def _entry(self, origin: str) -> _Entry:
        entry = self._cached(origin)
        if entry is not None:
            return entry
        locked = self._lock(origin)
        try:
            entry = self._fetch(origin)
            self._keep(origin, entry)
        finally:
            if locked:
                self._unlock(origin)
        return entry

    def _lock(self, origin: str) -> bool:
        """One worker fetches a site's robots.txt at a time; the others wait for its answer in the cache."""
        if self.client is None:
            return False
        try:
            got = self.client.set(LOCK_PREFIX + origin, "1", nx=True, ex=int(self.settings.fetch_deadline) + 5)
        except Exception:  # Redis away: fetch it here (robots.txt is never skipped)
            return False
        if not got:
            raise HostBusy(f"robots.txt of {origin} is being fetched by another worker", retry_after=1.0)
        return True

    def _unlock(self, origin: str) -> None:
        try:
            self.client.delete(LOCK_PREFIX + origin)
        except Exception as exc:  # the lock expires on its own
            log.warning("robots: cannot release the fetch lock of %s: %s", origin, exc)

    def _rules(self, origin: str, body: str) -> Protego:
        kept = self._parsed.get(origin)
        if kept is not None and kept[0] == body:
            return kept[1]
        rules = Protego.parse(body)
        if len(self._parsed) >= _LOCAL_MAX:
            self._parsed.clear()
        self._parsed[origin] = (body, rules)
        return rules

    def check(self, url: str) -> RobotsVerdict:
        origin = origin_of(url)
        entry = self._entry(origin)
        if entry.state == "unavailable":
            raise RobotsUnavailable(
                f"robots.txt of {origin} could not be read ({entry.detail}); its pages wait",
                status=entry.status, retry_after=float(self.settings.robots_retry))
        if entry.state == "allow_all":
            return RobotsVerdict(True, f"no robots.txt rules ({entry.detail})")
        rules = self._rules(origin, entry.body)
        delay = rules.crawl_delay(AGENT)
        target = urlunsplit(urlsplit(url)._replace(fragment=""))
        if rules.can_fetch(target, AGENT):
            return RobotsVerdict(True, f"allowed by {origin}/robots.txt", float(delay) if delay else None)
        return RobotsVerdict(False, f"disallowed by {origin}/robots.txt for {AGENT}", float(delay) if delay else None)
