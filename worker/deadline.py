"""The running task's soft time limit, checked again between pipeline stages.

Celery delivers a soft time limit as an exception raised wherever the task's code happens to be when the signal
arrives. Raised inside a library that turns every exception of a callback into its own error (lxml does), it
is lost: the parse falls back to the parser of record and the task runs on to completion, past its limit. So
the task base records when the limit falls due (:func:`start`) and the pipeline calls :func:`check` between
stages (after the parse, after normalising), which raises the same exception once that time has passed: a
lost signal costs at most one stage. Outside a task (the CLI) there is no deadline.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token

from celery.exceptions import SoftTimeLimitExceeded

_due: ContextVar[float | None] = ContextVar("wirefeed_soft_deadline", default=None)


def start(seconds: float | None) -> Token[float | None]:
    """A task starts with a soft limit of ``seconds`` (None or 0: none). Returns the token for :func:`end`."""
    return _due.set(time.monotonic() + seconds if seconds else None)


def end(token: Token[float | None]) -> None:
    _due.reset(token)


def check(stage: str) -> None:
    """Raise ``SoftTimeLimitExceeded`` when the running task's soft limit has passed (before ``stage``)."""
    due = _due.get()
    if due is not None and time.monotonic() >= due:
        raise SoftTimeLimitExceeded(f"soft time limit passed before {stage}")
