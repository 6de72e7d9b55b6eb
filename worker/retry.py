"""Which failures a feed task retries, how long it waits, and when it gives up. Pure: no I/O.

The tasks call :func:`decide` at their boundary with the exception and the attempt number, and do what
the :class:`Decision` says. Errors are told apart by class (and, for PostgreSQL, by SQLSTATE class),
never by message text:

    kind        what                                                action
    ─────────   ─────────────────────────────────────────────────   ──────────────────────────────────────
    bad_input   InputError/FetchError: the input is bad              record on the feed, never retry
    conflict    serialization failure (40001), deadlock (40P01)      retry soon (short backoff), up to N
    database    connection lost/refused, server restarting (08,     retry with exponential backoff up to
                57P01-03), too many connections (53), lock or        ``max_transient``; then drop: the feed's
                statement timeout (55P03, 57014), pool timeout       claim expires and the scheduler retries
    broker      Redis/kombu connection errors                        same as database
    internal    everything else: a bug, a constraint PostgreSQL     retry with backoff; at ``max_internal``
                refuses (22xxx, 23xxx, 54xxx), a soft time limit     attempts it is poison: record on the
                                                                     feed (kind "internal"), stop retrying

The numbers are settings (``WIREFEED_RETRY_*``, ``WIREFEED_POISON_ATTEMPTS``): :meth:`Policy.from_settings`.

"drop" never records anything because the thing that failed is usually the database the record would
go to; the PostgreSQL-held claim (``feeds.claimed_until``) brings the feed back once it expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import psycopg

from worker.errors import FetchError, InputError
from worker.feed_state.schedule import backoff
from worker.settings import Settings

__all__ = ["Decision", "Policy", "backoff", "classify", "decide", "describe"]

# SQLSTATE classes / codes that mean "the database, not this feed, is the problem right now".
_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57P")  # connection exception, insufficient resources, shutdown
_TRANSIENT_SQLSTATES = frozenset({"55P03", "57014", "55006"})  # lock not available, query canceled, in use
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock detected


Kind = Literal["bad_input", "conflict", "database", "broker", "internal"]
Action = Literal["retry", "record", "poison", "drop"]


@dataclass(frozen=True, slots=True)
class Policy:
    max_transient: int  # attempts while PostgreSQL or Redis is unreachable (≈ 17 min with the defaults)
    max_conflict: int  # serialization failures / deadlocks
    max_internal: int  # the same feed failing unexpectedly this many times is poison
    base: float  # seconds before the 2nd attempt; doubles each time
    cap: float  # longest wait between attempts (a waiting retry holds its message unacked)
    conflict_base: float
    conflict_cap: float

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(max_transient=settings.retry_max_transient, max_conflict=settings.retry_max_conflict,
                   max_internal=settings.poison_attempts, base=settings.retry_base, cap=settings.retry_cap,
                   conflict_base=settings.retry_conflict_base, conflict_cap=settings.retry_conflict_cap)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action  # record: bad input, on the feed; poison: recorded as internal, no more retries
    kind: Kind
    countdown: float = 0.0  # seconds before the retry (action "retry" only)


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(exc, "sqlstate", None)


def _is_broker_error(exc: BaseException) -> bool:
    # Imported here: the kombu and redis exception trees, without importing the Celery app.
    from kombu.exceptions import OperationalError as KombuOperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, KombuOperationalError | RedisConnectionError | RedisTimeoutError)


def classify(exc: BaseException) -> Kind:
    """The kind of a failure (see the module table)."""
    if isinstance(exc, InputError | FetchError):
        return "bad_input"
    if isinstance(exc, psycopg.Error):
        state = _sqlstate(exc)
        if state in _CONFLICT_SQLSTATES:
            return "conflict"
        if state is None:
            # No server answer at all: connection refused or lost, pool timeout, connection closed.
            return "database" if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError) else "internal"
        if state in _TRANSIENT_SQLSTATES or state.startswith(_TRANSIENT_SQLSTATE_CLASSES):
            return "database"
        return "internal"  # the server refused this data or this statement: it will again
    if _is_broker_error(exc):
        return "broker"
    return "internal"


def decide(exc: BaseException, attempt: int, policy: Policy, rand: float = 0.5) -> Decision:
    """What a task does after ``exc`` ended its ``attempt``-th attempt (1 = the first)."""
    kind = classify(exc)
    if kind == "bad_input":
        return Decision("record", kind)
    if kind == "conflict":
        if attempt >= policy.max_conflict:
            return Decision("drop", kind)
        return Decision("retry", kind, backoff(attempt, base=policy.conflict_base, cap=policy.conflict_cap, rand=rand))
    if kind in ("database", "broker"):
        if attempt >= policy.max_transient:
            return Decision("drop", kind)
        return Decision("retry", kind, backoff(attempt, base=policy.base, cap=policy.cap, rand=rand))
    if attempt >= policy.max_internal:
        return Decision("poison", kind)
    return Decision("retry", kind, backoff(attempt, base=policy.base, cap=policy.cap, rand=rand))


def describe(exc: BaseException, limit: int = 500) -> str:
    """One line naming the exception, for ``feeds.last_error`` and the fetch history (passwords redacted)."""
    from worker.redaction import redact

    text = " ".join(str(exc).split())
    name = type(exc).__name__
    line = text if text.startswith(name) else f"{name}: {text}" if text else name
    line = redact(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"
