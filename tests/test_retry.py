"""The retry decision (worker.retry): which failures retry, how long they wait, when they give up."""

from __future__ import annotations

import psycopg
import pytest
from billiard.exceptions import SoftTimeLimitExceeded
from kombu.exceptions import OperationalError as KombuOperationalError
from psycopg import errors as pg
from psycopg_pool import PoolTimeout
from redis.exceptions import ConnectionError as RedisConnectionError

from worker.errors import ParseError, PermanentFetchError, TooLargeError, TransientFetchError
from worker.retry import Decision, Policy, backoff, classify, decide, describe
from worker.settings import defaults

P = Policy(max_transient=10, max_conflict=10, max_internal=3, base=2.0, cap=120.0,
           conflict_base=0.2, conflict_cap=5.0)


@pytest.mark.parametrize(("exc", "kind"), [
    (ParseError("not a feed"), "bad_input"),  # bad input is recorded by the pipeline, never retried
    (TooLargeError("too big"), "bad_input"),  # a body over the limit stays over it
    (TransientFetchError("timeout"), "bad_input"),  # fetch errors are recorded with their own backoff
    (PermanentFetchError("410"), "bad_input"),  # and disabling, by worker.feed_state.decide
    (psycopg.OperationalError("connection refused"), "database"),  # no SQLSTATE: server not reachable
    (psycopg.InterfaceError("the connection is closed"), "database"),  # a connection a restart killed
    (PoolTimeout("couldn't get a connection after 15 sec"), "database"),  # pool waited for PostgreSQL
    (pg.AdminShutdown("terminating connection due to administrator command"), "database"),  # 57P01 restart
    (pg.CannotConnectNow("the database system is starting up"), "database"),  # 57P03 restarting
    (pg.TooManyConnections("too many clients"), "database"),  # 53300: class 53, resources
    (pg.LockNotAvailable("lock timeout"), "database"),  # 55P03: lock_timeout hit
    (pg.QueryCanceled("statement timeout"), "database"),  # 57014: statement_timeout hit
    (pg.SerializationFailure("could not serialize"), "conflict"),  # 40001
    (pg.DeadlockDetected("deadlock detected"), "conflict"),  # 40P01
    (pg.ProgramLimitExceeded("index row requires 9032 bytes"), "internal"),  # 54000: this data, every time
    (pg.UniqueViolation("duplicate key"), "internal"),  # 23505: a bug in keyed writes
    (pg.CharacterNotInRepertoire("invalid byte sequence"), "internal"),  # 22021: bad data got through
    (pg.UndefinedColumn("column does not exist"), "internal"),  # 42703: code and schema disagree
    (KombuOperationalError("Error 111 connecting to redis"), "broker"),  # Redis down while publishing
    (RedisConnectionError("Connection reset by peer"), "broker"),  # Redis restarted
    (SoftTimeLimitExceeded(), "internal"),  # the feed took longer than the soft time limit
    (KeyError("title"), "internal"),  # a plain bug
    (ValueError("bad"), "internal"),  # a plain bug
])
def test_classify(exc: BaseException, kind: str) -> None:
    assert classify(exc) == kind


@pytest.mark.parametrize(("exc", "attempt", "expected"), [
    (ParseError("x"), 1, Decision("record", "bad_input")),  # recorded at once
    (ParseError("x"), 5, Decision("record", "bad_input")),  # whatever the count
    (psycopg.OperationalError("refused"), 1, Decision("retry", "database", 1.5)),  # 2 s step, rand 0.5
    (psycopg.OperationalError("refused"), 2, Decision("retry", "database", 3.0)),  # doubles
    (psycopg.OperationalError("refused"), 6, Decision("retry", "database", 48.0)),  # 64 s step
    (psycopg.OperationalError("refused"), 9, Decision("retry", "database", 90.0)),  # capped at 120 s
    (psycopg.OperationalError("refused"), 10, Decision("drop", "database")),  # the claim expiry takes over
    (KombuOperationalError("down"), 3, Decision("retry", "broker", 6.0)),  # like the database
    (KombuOperationalError("down"), 10, Decision("drop", "broker")),  # the claim expiry takes over
    (pg.SerializationFailure("x"), 1, Decision("retry", "conflict", 0.15)),  # soon: the other side is done
    (pg.DeadlockDetected("x"), 9, Decision("retry", "conflict", 3.75)),  # capped at 5 s
    (pg.DeadlockDetected("x"), 10, Decision("drop", "conflict")),  # something is very wrong: stop
    (KeyError("x"), 1, Decision("retry", "internal", 1.5)),  # maybe it was the weather
    (KeyError("x"), 2, Decision("retry", "internal", 3.0)),  # once more
    (KeyError("x"), 3, Decision("poison", "internal")),  # the 3rd failure: poison, recorded, no retry
    (pg.ProgramLimitExceeded("x"), 4, Decision("poison", "internal")),  # past the threshold (redelivered)
])
def test_decide(exc: BaseException, attempt: int, expected: Decision) -> None:
    assert decide(exc, attempt, P, rand=0.5) == expected


@pytest.mark.parametrize(("attempt", "rand", "low", "high"), [
    (1, 0.0, 1.0, 1.0),  # lowest jitter: half the step
    (1, 0.999, 1.99, 2.0),  # highest jitter: nearly the whole step
    (6, 0.0, 32.0, 32.0),  # 64 s step
    (40, 0.999, 119.8, 120.0),  # huge attempt numbers stay at the cap, no overflow
])
def test_backoff_bounds(attempt: int, rand: float, low: float, high: float) -> None:
    assert low <= backoff(attempt, base=2.0, cap=120.0, rand=rand) <= high


def test_policy_threshold_is_the_setting() -> None:
    strict = Policy.from_settings(defaults().model_copy(update={"poison_attempts": 1}))
    assert decide(KeyError("x"), 1, strict).action == "poison"  # WIREFEED_POISON_ATTEMPTS=1: no retry


def test_the_table_policy_is_the_default_settings() -> None:
    assert Policy.from_settings(defaults()) == P


@pytest.mark.parametrize(("exc", "text"), [
    (KeyError("title"), "KeyError: 'title'"),  # names the class
    (psycopg.OperationalError('connection to "postgresql://u:s3cret@db/x" failed\n  detail'),
     'OperationalError: connection to "postgresql://u:***@db/x" failed detail'),  # one line, password hidden
    (SoftTimeLimitExceeded(), "SoftTimeLimitExceeded()"),  # its text already names it: not repeated
])
def test_describe(exc: BaseException, text: str) -> None:
    assert describe(exc) == text


def test_describe_is_bounded() -> None:
    assert len(describe(ValueError("x" * 10_000))) == 500
