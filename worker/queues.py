"""The Celery queue names, in one place: the app routes to them, workers consume them, status and metrics
count them. Plain strings, so reading them never builds the Celery app."""

from __future__ import annotations

FETCH = "fetch"  # I/O bound (HTTP): a threads/gevent pool, many fetches in flight per process
PROCESS = "process"  # CPU bound (parse, normalise, dedupe, store): the prefork pool, one child per core
# Article pages (I/O): consumed by the fetch workers next to FETCH. A queue of its own so its depth shows
# apart, and a backlog of pages never holds up feed fetches (a worker takes from its queues in turn);
# extracting and storing a page is CPU work and goes to PROCESS.
PAGES = "pages"
ALL = (FETCH, PROCESS, PAGES)
