"""Per-host politeness shared by every worker, kept in Redis with expiring keys.

For each host name:
- ``{prefix}{host}:inflight`` a sorted set of slot tokens scored by lease expiry: at most
  ``max_in_flight`` fetches at once. A crashed worker's slot drops out when its lease ends
  (``fetch_deadline`` plus a margin), and the key itself expires, so a host is never wedged.
- ``{prefix}{host}:gap``  set for ``min_gap`` seconds when a request starts: no second request to
  the host before it expires.
- ``{prefix}{host}:block`` set for the Retry-After a 429/503 asked for: every feed on the host waits.

All decisions happen in one Lua script on Redis's own clock, so workers on different machines agree.
When the host is busy the caller gets :class:`HostBusy` with ``retry_after`` (Celery retries the task
with that countdown instead of sleeping); a blocking wait is only for the in-process CLI path.
When Redis cannot be reached, fetching goes on without politeness (logged), never stops.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from worker.errors import HostBusy
from worker.settings import Settings

__all__ = ["HostBusy", "HostPoliteness"]

log = logging.getLogger(__name__)

BLOCK_CAP = 86400.0  # one host-wide Retry-After block lasts at most a day
BUSY_RETRY_MIN = 1.0  # seconds to wait when every slot of a host is taken
REDIS_DOWN_PAUSE = 60.0  # after a Redis error, skip politeness this long instead of paying its timeout

_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit, gap, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local blocked = redis.call('PTTL', KEYS[3])
if blocked > 0 then return {0, blocked, 'blocked'} end
local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then return {0, wait, 'gap'} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= limit then return {0, -1, 'busy'} end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease)
if gap > 0 then redis.call('SET', KEYS[2], '1', 'PX', gap) end
return {1, 0, 'ok'}
"""

_BLOCK = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then redis.call('SET', KEYS[1], '1', 'PX', ms) end
return redis.call('PTTL', KEYS[1])
"""


@dataclass
class HostPoliteness:
    client: redis.Redis
    max_in_flight: int = 2
    min_gap: float = 1.0  # seconds between request starts to one host
    lease: float = 90.0  # seconds a slot lives if never released (worker crash)
    max_wait: float = 0.0  # > 0: ``slot`` sleeps up to this long instead of raising HostBusy
    prefix: str = "wirefeed:host:"
    _acquire: object = field(init=False, repr=False)
    _block: object = field(init=False, repr=False)
    _down_until: float = field(init=False, repr=False, default=0.0)

    def __post_init__(self) -> None:
        self._acquire = self.client.register_script(_ACQUIRE)
        self._block = self.client.register_script(_BLOCK)

    @classmethod
    def from_settings(cls, settings: Settings, *, max_wait: float = 0.0) -> HostPoliteness:
        return cls(
            client=redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=2),
            max_in_flight=settings.host_max_in_flight,
            min_gap=settings.host_min_gap,
            lease=settings.fetch_deadline + 30,
            max_wait=max_wait,
        )

    def _keys(self, host: str) -> list[str]:
        base = self.prefix + host.lower()
        return [base + ":inflight", base + ":gap", base + ":block"]

    def try_acquire(self, host: str) -> tuple[str | None, float, str]:
        """``(token, 0, "ok")`` with a slot, else ``(None, seconds_to_wait, why)``; why is gap|busy|blocked."""
        token = uuid.uuid4().hex
        ok, wait_ms, why = self._acquire(  # type: ignore[operator]
            keys=self._keys(host),
            args=[token, self.max_in_flight, int(self.min_gap * 1000), int(self.lease * 1000)],
        )
        why = why.decode() if isinstance(why, bytes) else str(why)
        if ok:
            return token, 0.0, why
        wait = max(BUSY_RETRY_MIN, self.min_gap) if wait_ms < 0 else wait_ms / 1000
        return None, wait, why

    def release(self, host: str, token: str) -> None:
        self.client.zrem(self._keys(host)[0], token)

    def note_retry_after(self, host: str, seconds: float) -> None:
        """A 429/503 asked us to wait: every feed on ``host`` waits that long (up to a day)."""
        ms = int(min(max(seconds, 0.0), BLOCK_CAP) * 1000)
        if ms <= 0:
            return
        try:
            self._block(keys=[self._keys(host)[2]], args=[ms])  # type: ignore[operator]
        except redis.RedisError as exc:
            log.warning("politeness: cannot record Retry-After for %s: %s", host, exc)

    def blocked_for(self, host: str) -> float:
        ms = self.client.pttl(self._keys(host)[2])
        return max(0.0, int(ms) / 1000) if ms and int(ms) > 0 else 0.0

    def _wait_for_slot(self, host: str) -> str | None:
        """A slot token, None when Redis is unreachable (fail open), or HostBusy."""
        give_up = time.monotonic() + self.max_wait
        while True:
            if time.monotonic() < self._down_until:
                return None
            try:
                token, wait, why = self.try_acquire(host)
            except redis.RedisError as exc:
                log.warning("politeness: Redis unavailable (%s); fetching without host limits for %.0f s",
                            exc, REDIS_DOWN_PAUSE)
                self._down_until = time.monotonic() + REDIS_DOWN_PAUSE
                return None
            if token is not None:
                return token
            if time.monotonic() + wait > give_up:
                jittered = wait * (1 + 0.2 * random.random())
                doing = "asking clients to wait (Retry-After)" if why == "blocked" else f"busy ({why})"
                raise HostBusy(f"{host} is {doing}; retry in {jittered:.1f} s", retry_after=jittered)
            time.sleep(wait)

    @contextmanager
    def slot(self, host: str) -> Iterator[None]:
        """Hold one of the host's slots for the duration of a fetch, or raise :class:`HostBusy`."""
        token = self._wait_for_slot(host)
        try:
            yield
        finally:
            if token is not None:
                try:
                    self.release(host, token)
                except redis.RedisError as exc:  # the lease expires on its own
                    log.warning("politeness: cannot release slot on %s: %s", host, exc)
