"""A worker's heartbeat in PostgreSQL, so the scheduler can tell a dead worker's claims from a live one's.

The worker's main process makes its id when it starts (``start``, from the ``worker_init`` signal, before the
prefork pool forks: the children inherit it) and a daemon thread there writes its row every
``WIREFEED_WORKER_HEARTBEAT_SECONDS`` on a connection of its own. A task stamps the claim it runs under with
this id (:func:`worker.store.workers.take_feed_claim`); the scheduler gives back the claims of a worker silent
for ``WIREFEED_WORKER_DEAD_SECONDS`` (:func:`worker.store.workers.give_back_dead`). A clean stop deletes the row.
The whole group killed at once (SIGKILL, a lost machine) simply stops the beats.

A claim follows its message: the worker that *receives* a message names itself in the message's claim at once
(:func:`own_on_receipt`, from Celery's ``task_received`` in the worker's main process), before the task starts.
A message this worker holds but has not started (prefetched, waiting for a free pool child, or waiting out a
countdown) is then this worker's, and a SIGKILL here gives its claim back with the others after the dead time,
instead of leaving it with nobody, or with the worker that sent it, until the claim timeout.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from typing import Any

import psycopg

from worker.ops.logs import get_logger
from worker.redaction import first_line
from worker.settings import Settings
from worker.store import db
from worker.store import workers as worker_store

log = get_logger("wirefeed.heartbeat")

_worker_id: str | None = None
_beater: _Beater | None = None
_receipts: _Receipts | None = None
RECEIPT_PAUSE_S = 10.0  # after PostgreSQL failed a receipt: receive without owning for this long


def worker_id() -> str | None:
    """This worker's id (None outside a worker: the CLI, beat, tests calling the pipeline)."""
    return _worker_id


class _Beater(threading.Thread):
    def __init__(self, settings: Settings, wid: str, name: str, queues: list[str]) -> None:
        super().__init__(name="wirefeed-heartbeat", daemon=True)
        self.settings = settings
        self.wid = wid
        self.row: dict[str, Any] = {"name": name, "hostname": socket.gethostname(), "pid": os.getpid(),
                                    "queues": queues}
        self.stopping = threading.Event()
        self.conn: psycopg.Connection | None = None
        self.failing = False

    def beat(self) -> bool:
        """One heartbeat; False (logged once per outage) when PostgreSQL cannot be reached."""
        try:
            if self.conn is None or self.conn.closed:
                self.conn = db.connect(self.settings.database_url, settings=self.settings, autocommit=True,
                                       application_name="wirefeed-heartbeat")
            worker_store.heartbeat(self.conn, self.wid, **self.row)
        except psycopg.Error as exc:
            if not self.failing:
                log.warning("worker_heartbeat_failed", error=first_line(exc))
            self.failing = True
            self._close()
            return False
        if self.failing:
            log.info("worker_heartbeat_restored")
        self.failing = False
        return True

    def run(self) -> None:
        while not self.stopping.wait(self.settings.worker_heartbeat):
            self.beat()

    def _close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None

    def stop(self) -> None:
        """Stop beating and delete the row (a clean stop: nothing to wait for)."""
        self.stopping.set()
        self.join(timeout=5)
        try:
            with db.connect(self.settings.database_url, settings=self.settings, autocommit=True,
                            application_name="wirefeed-heartbeat") as conn:
                worker_store.forget(conn, self.wid)
        except psycopg.Error as exc:
            log.warning("worker_heartbeat_forget_failed", error=first_line(exc))
        self._close()


class _Receipts:
    """The main process's connection for :func:`own_on_receipt` (one thread: Celery's consumer)."""

    def __init__(self, settings: Settings, wid: str) -> None:
        self.settings = settings
        self.wid = wid
        self.conn: psycopg.Connection | None = None
        self.paused_until = 0.0

    def own(self, kind: str, key: int, claim: int) -> bool:
        if time.monotonic() < self.paused_until:
            return False
        try:
            if self.conn is None or self.conn.closed:
                self.conn = db.connect(self.settings.database_url, settings=self.settings, autocommit=True,
                                       application_name="wirefeed-receipts")
            if kind == "feed":
                return worker_store.take_feed_claim(self.conn, key, claim, self.wid)
            worker_store.take_page_claim(self.conn, key, claim, self.wid)
            return True
        except psycopg.Error as exc:
            # Never hold up the consumer: the task takes its claim again when it starts.
            log.warning("claim_receipt_failed", error=first_line(exc),
                        paused_s=RECEIPT_PAUSE_S)
            self.paused_until = time.monotonic() + RECEIPT_PAUSE_S
            with contextlib.suppress(Exception):
                if self.conn is not None:
                    self.conn.close()
            self.conn = None
            return False


def own_on_receipt(kind: str, key: int, claim: int) -> bool:
    """A message about feed (``kind`` "feed") or article page ("page") ``key`` under claim number ``claim`` has
    just been received by this worker: its claim now names this worker. False outside a worker, when the claim
    moved on (the task will skip it), or when PostgreSQL could not be reached (then the task's own start
    takes the claim, as before)."""
    if _receipts is None:
        return False
    return _receipts.own(kind, key, claim)


def start(settings: Settings, name: str, queues: list[str]) -> str:
    """Make this worker's id, write its first heartbeat now (its tasks start only after this returns, so
    every claim they take names a worker with a row), then keep beating in a thread."""
    global _worker_id, _beater, _receipts
    wid = str(uuid.uuid4())
    beater = _Beater(settings, wid, name, queues)
    registered = beater.beat()
    beater._close()  # the pool forks after this: the thread opens its own connection on its first beat
    if registered:
        log.info("worker_registered", worker=name, worker_id=wid, heartbeat_s=settings.worker_heartbeat,
                 dead_after_s=settings.worker_dead_after)
    _worker_id, _beater, _receipts = wid, beater, _Receipts(settings, wid)
    beater.start()
    return wid


def stop() -> None:
    global _beater, _receipts
    if _beater is not None:
        _beater.stop()
        _beater = None
    if _receipts is not None and _receipts.conn is not None:
        with contextlib.suppress(Exception):
            _receipts.conn.close()
    _receipts = None
