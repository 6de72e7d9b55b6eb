"""A worker's heartbeat in PostgreSQL, so the scheduler can tell a dead worker's claims from a live one's.

The worker's main process makes its id when it starts (``start``, from the ``worker_init`` signal, before the
prefork pool forks: the children inherit it) and a daemon thread there writes its row every
``WIREFEED_WORKER_HEARTBEAT_SECONDS`` on a connection of its own. A task stamps the claim it runs under with
this id (:func:`worker.store.workers.take_feed_claim`); the scheduler gives back the claims of a worker silent
for ``WIREFEED_WORKER_DEAD_SECONDS`` (:func:`worker.store.workers.give_back_dead`). A clean stop deletes the row.
The whole group killed at once (SIGKILL, a lost machine) simply stops the beats.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import uuid
from typing import Any

import psycopg

from worker.ops.logs import get_logger
from worker.settings import Settings
from worker.store import db
from worker.store import workers as worker_store

log = get_logger("wirefeed.heartbeat")

_worker_id: str | None = None
_beater: _Beater | None = None


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
                log.warning("worker_heartbeat_failed", error=str(exc).splitlines()[0] if str(exc) else repr(exc))
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
            log.warning("worker_heartbeat_forget_failed", error=str(exc).splitlines()[0] if str(exc) else repr(exc))
        self._close()


def start(settings: Settings, name: str, queues: list[str]) -> str:
    """Make this worker's id, write its first heartbeat now (its tasks start only after this returns, so
    every claim they take names a worker with a row), then keep beating in a thread."""
    global _worker_id, _beater
    wid = str(uuid.uuid4())
    beater = _Beater(settings, wid, name, queues)
    registered = beater.beat()
    beater._close()  # the pool forks after this: the thread opens its own connection on its first beat
    if registered:
        log.info("worker_registered", worker=name, worker_id=wid, heartbeat_s=settings.worker_heartbeat,
                 dead_after_s=settings.worker_dead_after)
    _worker_id, _beater = wid, beater
    beater.start()
    return wid


def stop() -> None:
    global _beater
    if _beater is not None:
        _beater.stop()
        _beater = None
