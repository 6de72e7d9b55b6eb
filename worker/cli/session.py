"""The command line's database connection: one connection, reopened and the step retried when PostgreSQL
goes away for a moment (a restart, a failover, a dropped connection), with the tasks' retry rules.

A step is one input of ``wirefeed ingest`` or one feed of ``wirefeed fetch --sync``: it commits as a whole
or not at all (``worker.pipeline``), so running it again after a failure cannot store anything twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from worker import retry
from worker.errors import ConfigError
from worker.redaction import redact
from worker.settings import Settings
from worker.store.db import connect

T = TypeVar("T")



def cli_policy(settings: Settings) -> retry.Policy:
    """The workers' policy, but a person is waiting: about a minute in all (1 + 2 + 4 + 8 + 16 + 32 s, the
    upper halves jittered), then give up."""
    return dataclasses.replace(retry.Policy.from_settings(settings), max_transient=7, base=2.0, cap=32.0)


def connect_or_explain(settings: Settings) -> psycopg.Connection:
    """A connection, or a :class:`ConfigError` that says what to check."""
    try:
        return connect(settings.database_url, settings=settings)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "connection failed"
        raise ConfigError(
            f"cannot connect to PostgreSQL at {redact(settings.database_url)}: {first}. "
            "Is it running, and is DATABASE_URL right? (`wirefeed migrate` creates the schema.)"
        ) from None


class Session:
    """Runs steps on one connection; a step that fails because the database is briefly unavailable (or
    on a deadlock) is retried on a fresh connection after a backoff, announced on stderr."""

    def __init__(self, settings: Settings, *, policy: retry.Policy | None = None,
                 sleep: Callable[[float], Any] = time.sleep) -> None:
        self.settings = settings
        self.policy = policy or cli_policy(settings)
        self._sleep = sleep
        self.conn: psycopg.Connection = connect_or_explain(settings)
        self.retries = 0

    def run(self, label: str, step: Callable[[psycopg.Connection], T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                return step(self.conn)
            except psycopg.Error as exc:
                decision = retry.decide(exc, attempt, self.policy, random.random())
                if decision.action != "retry" or decision.kind not in ("database", "conflict"):
                    raise
                self.retries += 1
                print(f"warning: {label}: {retry.describe(exc, 200)}; retrying in {decision.countdown:.1f} s",
                      file=sys.stderr)
                self._sleep(decision.countdown)
                self._reopen()

    def _reopen(self) -> None:
        self.close()
        # still down: the next attempt fails on the closed connection and waits again
        with contextlib.suppress(psycopg.OperationalError):
            self.conn = connect(self.settings.database_url, settings=self.settings)

    def close(self) -> None:
        with contextlib.suppress(psycopg.Error):
            self.conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
