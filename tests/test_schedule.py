"""Schedule: adaptive interval, hints and backoff, as tables (disabling: tests/test_decide.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from worker.feed_state.schedule import (
    RETRY_AFTER_CAP,
    Hints,
    adapt_interval,
    backoff,
    next_fetch_at,
    publishing_gap,
)

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
H = 3600


def ago(*hours: float) -> list[datetime]:
    return [NOW - timedelta(hours=h) for h in hours]


@pytest.mark.parametrize(
    ("published", "expected"),
    [
        ([], None),  # no dates
        (ago(1), None),  # one date: no gap
        (ago(1, 1), None),  # the same date twice is one date
        (ago(0, 1, 2, 3), 1 * H),  # hourly feed
        (ago(0, 1, 2, 30), 1 * H),  # median ignores one old outlier
        (ago(48, 49, 50), 24 * H),  # hourly once, quiet for two days since: silence counts (48 h / 2)
        (ago(-5, 0, 2, 4), 2 * H),  # a date in the future is ignored
    ],
)
def test_publishing_gap(published: list[datetime], expected: float | None) -> None:
    assert publishing_gap(published, NOW) == expected


@pytest.mark.parametrize(
    ("current", "published", "had_new", "expected"),
    [
        (1800, ago(0, 1, 2, 3), None, 1800),  # hourly feed: poll every 30 min
        (1800, ago(0, 0.05, 0.1, 0.15), True, 300),  # every 3 minutes: floor at 5 min
        (1800, ago(0, 72, 144), None, 86400),  # every three days: ceiling at 24 h
        (1800, [], True, 1350),  # no dates, new entries: 25% shorter
        (1800, [], False, 2250),  # no dates, nothing new: 25% longer
        (1800, [], None, 1800),  # unknown (e.g. not modified by 304): unchanged
        (86400, [], False, 86400),  # already at the ceiling
        (300, [], True, 300),  # already at the floor
    ],
)
def test_adapt_interval(current: int, published: list[datetime], had_new: bool | None, expected: int) -> None:
    got = adapt_interval(current, published=published, had_new_entries=had_new, now=NOW,
                         min_interval=300, max_interval=86400)
    assert got == expected


@pytest.mark.parametrize(
    ("hints", "rand", "wait", "interval"),
    [
        (Hints(), 0.0, 1800, 1800),  # no hints, no jitter: the interval
        (Hints(), 1.0, 1980, 1800),  # full jitter adds 10%, never subtracts
        (Hints(ttl_minutes=60), 0.0, 3600, 3600),  # ttl asks for less frequent: honoured and kept
        (Hints(ttl_minutes=5), 0.0, 1800, 1800),  # ttl asking for more frequent polls is not obeyed
        (Hints(update_period_minutes=1440), 0.0, 86400, 86400),  # sy:updatePeriod daily
        (Hints(cache_max_age=7200), 0.0, 7200, 1800),  # Cache-Control max-age: this wait only
        (Hints(ttl_minutes=100_000), 0.0, 86400, 86400),  # a huge ttl is capped at max_interval
        (Hints(cache_max_age=10**7), 0.0, 86400, 1800),  # a huge max-age too
        (Hints(retry_after=3 * 86400), 0.0, 3 * 86400, 1800),  # Retry-After beats the 24 h cap, this wait only
        (Hints(retry_after=30 * 86400), 0.0, RETRY_AFTER_CAP, 1800),  # ... up to a week
        (Hints(ttl_minutes=60, cache_max_age=7200), 0.0, 7200, 3600),  # the longest hint wins
    ],
)
def test_next_fetch_at_honours_hints(hints: Hints, rand: float, wait: float, interval: int) -> None:
    sched = next_fetch_at(NOW, poll_interval=1800, hints=hints, rand=lambda: rand)
    assert sched.at == NOW + timedelta(seconds=wait)
    assert sched.interval == interval  # response hints do not compound into the stored interval


def test_next_fetch_at_adapts_from_dates() -> None:
    sched = next_fetch_at(NOW, poll_interval=1800, published=ago(0, 4, 8, 12), rand=lambda: 0.0)
    assert sched.interval == 2 * H and sched.at == NOW + timedelta(hours=2)


@pytest.mark.parametrize(
    ("errors", "rand", "retry_after", "expected"),
    [
        (1, 0.0, None, 60),  # first failure: half of the 2-minute step
        (1, 1.0, None, 120),  # ... up to the whole step
        (2, 0.0, None, 120),  # doubles
        (5, 1.0, None, 1920),  # 120 * 2^4
        (20, 0.0, None, 43200),  # capped step of 24 h, at least half of it
        (20, 1.0, None, 86400),  # never more than the cap
        (10_000, 1.0, None, 86400),  # absurd counts do not overflow
        (1, 0.0, 3600, 3600),  # Retry-After longer than the backoff wins
        (5, 1.0, 10, 1920),  # a short Retry-After does not shorten the backoff
        (1, 0.0, 1e9, RETRY_AFTER_CAP),  # an absurd Retry-After is capped at a week
    ],
)
def test_backoff(errors: int, rand: float, retry_after: float | None, expected: float) -> None:
    assert backoff(errors, base=120.0, cap=86400.0, rand=rand, retry_after=retry_after) == expected


def test_backoff_jitter_spreads_retries() -> None:
    import random

    rng = random.Random(7)
    delays = {round(backoff(4, base=120.0, cap=86400.0, rand=rng.random())) for _ in range(50)}
    assert len(delays) > 40 and min(delays) >= 480 and max(delays) <= 960
