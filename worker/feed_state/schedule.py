"""When to fetch a feed next. Pure: no clock, no I/O; ``now`` and the random source are arguments.

- Success: the poll interval follows how often the feed really publishes (half the typical gap between
  its recent entries), bounded to ``[min_interval, max_interval]`` (5 min .. 24 h by default). Without
  dates it drifts: shorter when new entries came, longer when nothing changed.
- Publisher hints (RSS ``ttl``, ``sy:updatePeriod``/``sy:updateFrequency``, ``Cache-Control: max-age``,
  ``Retry-After``) only ever make the wait longer, never shorter.
- Failure: exponential backoff with "equal jitter" (between half and all of the step), capped; a server's
  Retry-After is honoured up to a week (:func:`backoff`, shared with the task retry policy).

What each outcome does to a feed, disabling included, is decided in :mod:`worker.feed_state.decide`.
"""

from __future__ import annotations

import itertools
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

RETRY_AFTER_CAP = 7 * 86400.0  # a server asking for more than a week is probably wrong
GROWTH_WHEN_UNCHANGED = 1.25
SHRINK_WHEN_NEW = 0.75
RECENT_ENTRIES = 10


@dataclass(frozen=True, slots=True)
class Hints:
    """What the publisher said about polling. Each only lengthens the wait."""

    ttl_minutes: int | None = None
    update_period_minutes: int | None = None
    cache_max_age: int | None = None
    retry_after: float | None = None

    def feed_floor(self) -> float:
        """What the feed document itself asks for (ttl, sy:updatePeriod): kept in the stored interval."""
        return max((self.ttl_minutes or 0) * 60.0, (self.update_period_minutes or 0) * 60.0)


@dataclass(frozen=True, slots=True)
class Schedule:
    at: datetime
    interval: int  # the poll interval to store: adapted, floored by the feed's own ttl / sy:updatePeriod


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def publishing_gap(published: Sequence[datetime], now: datetime) -> float | None:
    """Typical seconds between the feed's recent entries, or None with fewer than two usable dates.

    The median gap of the newest entries; a feed that has since gone quiet counts its silence too.
    """
    past = sorted({p for p in published if p <= now}, reverse=True)[:RECENT_ENTRIES]
    if len(past) < 2:
        return None
    gaps = [(a - b).total_seconds() for a, b in itertools.pairwise(past)]
    quiet = (now - past[0]).total_seconds()
    return max(statistics.median(gaps), quiet / 2)


def adapt_interval(
    current: int,
    *,
    published: Sequence[datetime],
    had_new_entries: bool | None,
    now: datetime,
    min_interval: int,
    max_interval: int,
) -> int:
    """The feed's next poll interval in seconds, from its publishing rhythm (else a gentle drift)."""
    gap = publishing_gap(published, now)
    if gap is not None:
        target = gap / 2
    elif had_new_entries is True:
        target = current * SHRINK_WHEN_NEW
    elif had_new_entries is False:
        target = current * GROWTH_WHEN_UNCHANGED
    else:
        target = current
    return round(clamp(target, min_interval, max_interval))


def next_fetch_at(
    now: datetime,
    *,
    poll_interval: int,
    published: Sequence[datetime] = (),
    had_new_entries: bool | None = None,
    hints: Hints = Hints(),
    min_interval: int = 300,
    max_interval: int = 86400,
    jitter: float = 0.1,
    rand: Callable[[], float] = random.random,
) -> Schedule:
    """Next fetch after a successful (200 or not-modified) fetch."""
    interval = adapt_interval(
        poll_interval, published=published, had_new_entries=had_new_entries, now=now,
        min_interval=min_interval, max_interval=max_interval,
    )
    interval = max(interval, round(min(hints.feed_floor(), float(max_interval))))
    wait = max(float(interval), min(float(hints.cache_max_age or 0), float(max_interval)))
    if hints.retry_after:
        wait = max(wait, min(hints.retry_after, RETRY_AFTER_CAP))
    wait *= 1 + jitter * rand()  # spread feeds added together; only later, never before a hint
    return Schedule(at=now + timedelta(seconds=wait), interval=interval)


def backoff(
    failures: int,
    *,
    base: float,
    cap: float,
    rand: float,
    retry_after: float | None = None,
) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1 = the first): the step doubles from
    ``base`` up to ``cap``, and the wait is its upper half jittered ("equal jitter": ``rand`` in [0, 1),
    drawn by the caller so this stays pure). A server's Retry-After wins when longer, up to a week.

    The one backoff: a feed's next fetch after a failure, and a task's next attempt (worker.retry).
    """
    step = min(cap, base * 2 ** max(0, min(failures, 64) - 1))
    delay = step / 2 + rand * step / 2
    if retry_after is not None:
        delay = max(delay, min(retry_after, RETRY_AFTER_CAP))
    return round(delay, 3)
