"""Structured logging: JSON lines when not on a terminal, readable lines on one. Never logs secrets."""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

_configured = False
_SECRET = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")  # password inside a URL


def redact(value: str) -> str:
    """Hide the password part of any URL in ``value``."""
    return _SECRET.sub(r"\1***@", value)


def _redact_event(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for k, v in event.items():
        if isinstance(v, str) and "://" in v:
            event[k] = redact(v)
    return event


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
        _redact_event,
    ]
    renderer: Any = (structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()) if fmt == "console"
                     else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=file or sys.stderr),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "wirefeed") -> Any:
    return structlog.get_logger(name)
