"""The Celery queue names, in one place: the app routes to them, workers consume them, status and metrics
count them. Plain strings, so reading them never builds the Celery app."""

from __future__ import annotations

FETCH = "fetch"  # I/O bound (HTTP): a threads/gevent pool, many fetches in flight per process
PROCESS = "process"  # CPU bound (parse, normalise, dedupe, store): the prefork pool, one child per core
ALL = (FETCH, PROCESS)
