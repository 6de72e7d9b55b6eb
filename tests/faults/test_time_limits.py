"""A task's soft time limit must end the task, never be mistaken for bad input or a bad item.

Celery delivers the soft limit as ``SoftTimeLimitExceeded`` raised wherever the task happens to be (a
SIGUSR1 handler in the pool child). Code that isolates failures with ``except Exception`` used to catch it
there (fixed: ``worker.errors.NEVER_SWALLOW`` is re-raised first): in the parser it became a ParseError (the
feed recorded as unreadable), in the per-item loop of normalisation a skipped item, and the batch then
committed *without* that item (and with the body's hash, so the unchanged feed was not parsed again).

These tests raise the real exception from a real signal handler, as billiard does, while the real code runs
on a large feed, and require that it propagates (the task boundary then retries the task, or records the
feed as poison, with nothing half-stored).
"""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from billiard.exceptions import SoftTimeLimitExceeded

from tests.faults.conftest import rss


@contextmanager
def soft_limit_after(cpu_seconds: float) -> Iterator[None]:
    """What billiard does for a task's soft time limit: a signal whose handler raises SoftTimeLimitExceeded in
    whatever code is running. billiard's timer sends SIGUSR1 from another process; here the kernel sends
    SIGVTALRM once this process has used ``cpu_seconds`` of CPU. (A timer *thread* was used before: while lxml
    parsed in C holding the GIL, the thread could not even start waiting, and the parse sometimes finished
    before the signal came.)

    The garbage collector is off meanwhile: in the full suite, objects earlier tests left behind (a Redis
    connection pool) were finalised in the middle of the parse, the signal's exception was raised inside
    their ``__del__``, and Python reports and drops exceptions raised there. That is a limit of Python's
    finalisers, not of the code under test, which must not swallow it itself."""

    def handler(signum: int, frame: object) -> None:
        raise SoftTimeLimitExceeded()

    gc.collect()
    gc.disable()
    previous = signal.signal(signal.SIGVTALRM, handler)
    signal.setitimer(signal.ITIMER_VIRTUAL, cpu_seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)
        gc.enable()


BIG = rss(5, 6000, words=80)


def test_soft_limit_during_parsing_propagates() -> None:
    from worker.parse.feed import parse_feed

    with pytest.raises(SoftTimeLimitExceeded), soft_limit_after(0.1):
        parse_feed(BIG, "https://example.org/feed")


def test_soft_limit_during_normalisation_propagates_instead_of_skipping_an_item() -> None:
    from worker.normalize.entry import normalize_entries
    from worker.parse.feed import parse_feed

    parsed = parse_feed(BIG, "https://example.org/feed")
    # Swallowed per item, the limit would become a skipped item and the call would return normally: the
    # exception reaching this frame is the whole check.
    with pytest.raises(SoftTimeLimitExceeded), soft_limit_after(0.1):
        normalize_entries(parsed.entries, parsed.meta, datetime.now(UTC))
