"""Structured logging: JSON lines when not on a terminal, readable lines on one. Never logs secrets."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from worker.redaction import MASK, is_secret_name, redact

__all__ = ["RedactingFilter", "configure", "get_logger", "redact"]

_configured = False


def _redact_event(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Every string of the event through :func:`redact` (the formatted traceback included: this runs after
    ``format_exc_info``); a field whose name looks secret (``password=``, ``token=``) is masked whole."""
    for k, v in event.items():
        if is_secret_name(k) and v is not None:
            event[k] = MASK
        elif isinstance(v, str):
            event[k] = redact(v)
    return event


class RedactingFilter(logging.Filter):
    """For the standard-library handlers Celery sets up: the formatted message and traceback redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure(fmt: str = "json", level: str = "INFO", *, file: Any = None) -> None:
    """Set up structlog once per process. ``file`` defaults to stderr; Celery processes pass
    ``sys.__stderr__`` so lines are not re-wrapped by Celery's redirected stderr."""
    global _configured
    if _configured:
        return
    _configured = True
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()) if fmt == "console"
                     else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, _redact_event, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=file or sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "wirefeed") -> Any:
    return structlog.get_logger(name)
