"""Celery signal handlers: logging set-up, the metrics endpoint, beat's heartbeat.

Imported by ``worker.tasks.base`` (so every worker and beat process has them connected before it starts).
The per-task log context (``task_id``, ``task``, ``feed_id``) is bound by the base task itself.

- worker_init (worker main process): structured logs, then ``worker.ops.metrics.setup_worker`` (multiprocess
  directory + HTTP endpoint on ``WIREFEED_METRICS_PORT``) before the pool forks; a worker that consumes the
  process queue also loads the language model there, so the prefork children share one copy of it.
  It also starts the worker's heartbeat (``worker.ops.heartbeat``: its row in PostgreSQL, deleted by
  worker_shutdown on a clean stop).
- worker_process_init / worker_process_shutdown (prefork children): fresh metric objects / dead-child files.
- after_setup_logger / after_setup_task_logger: Celery's own handlers redact secrets (``worker.redaction``).
- beat_init and after_task_publish of ``wirefeed.schedule_due_feeds`` in the beat process: write beat's
  heartbeat (a Redis key, ``worker.ops.status.BEAT_HEARTBEAT_KEY``) that ``wirefeed health --beat`` checks.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from celery import signals

from worker import queues
from worker.ops import heartbeat, metrics
from worker.ops.logs import RedactingFilter, configure, get_logger
from worker.redaction import first_line
from worker.settings import get_settings

log = get_logger("wirefeed.worker")
SCHEDULE_TASK = "wirefeed.schedule_due_feeds"
_in_beat = False


def _configure_logs() -> None:
    s = get_settings()
    configure(s.effective_log_format, s.log_level, file=sys.__stderr__)


def consumes_process_queue(worker: Any) -> bool:
    """Whether a worker (the ``worker_init`` sender) takes messages from the process queue."""
    try:
        return queues.PROCESS in worker.app.amqp.queues.consume_from
    except AttributeError:
        return True  # not a worker we can inspect: warming is harmless


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _redact_celery_logs(logger: Any = None, **_: Any) -> None:
    """Celery's own log lines (banner, connection errors, task failures) through the same redaction."""
    for handler in getattr(logger, "handlers", []):
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def _queues(worker: Any) -> list[str]:
    try:
        return sorted(worker.app.amqp.queues.consume_from)
    except AttributeError:
        return []


@signals.worker_init.connect
def _on_worker_init(sender: Any = None, **_: Any) -> None:
    _configure_logs()
    metrics.setup_worker(get_settings())
    if sender is not None:  # before the pool forks: its children inherit the worker's id
        heartbeat.start(get_settings(), str(getattr(sender, "hostname", "") or "worker"), _queues(sender))
    if sender is not None and consumes_process_queue(sender):
        import os
        import time

        from worker.normalize import language

        started = time.perf_counter()
        language.warm()
        log.info("process_stage_warm", pid=os.getpid(), seconds=round(time.perf_counter() - started, 2))


@signals.worker_process_init.connect
def _on_child_init(**_: Any) -> None:
    _configure_logs()
    metrics.child_started()


@signals.worker_process_shutdown.connect
def _on_child_shutdown(pid: int | None = None, **_: Any) -> None:
    with contextlib.suppress(Exception):  # never let bookkeeping break a shutdown
        metrics.child_exited(pid)


@signals.worker_shutdown.connect
def _on_worker_shutdown(**_: Any) -> None:
    metrics.shutdown()
    with contextlib.suppress(Exception):  # never let bookkeeping break a shutdown
        heartbeat.stop()


def _heartbeat() -> None:
    from worker.ops import status

    try:
        client = status.redis_client(get_settings())
        try:
            status.write_beat_heartbeat(client)
        finally:
            client.close()
    except Exception as exc:  # Redis down: health reports beat stale, which is the truth
        log.warning("beat_heartbeat_failed", error=first_line(exc))


@signals.beat_init.connect
def _on_beat_init(**_: Any) -> None:
    global _in_beat
    _in_beat = True
    _configure_logs()
    _heartbeat()


@signals.after_task_publish.connect
def _on_publish(sender: Any = None, **_: Any) -> None:
    """Beat just sent its periodic schedule task: it is alive, ticking, and reaching the broker."""
    if _in_beat and sender == SCHEDULE_TASK:
        _heartbeat()
