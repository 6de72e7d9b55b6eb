"""What every wirefeed task shares, so the tasks themselves are a few lines each.

:class:`WirefeedTask` (every task): the app's settings, the log context (``task_id``, ``task`` and, for a
feed task, ``feed_id``) bound once for the run, and retries with backoff when PostgreSQL or Redis is briefly
away (:mod:`worker.retry`).

:class:`FeedTask` (``fetch_feed``, ``process_feed``) runs its work under the retry policy:

- Starts are counted in PostgreSQL (``task_attempts``) before any work, so a feed that kills or hangs its
  worker every time (which Celery's own retry counter never sees: a redelivered message starts at 0) is
  caught too: past ``WIREFEED_POISON_ATTEMPTS`` starts it is recorded as poison instead of run again.
- A failure is classified by :func:`worker.retry.decide`: PostgreSQL or Redis outages and serialization
  conflicts are retried with backoff (and the start is taken back: it was not the feed's fault); bad input
  is recorded on the feed; an unexpected exception is retried a few times and then recorded as poison, so
  the queue keeps moving; past every retry of an outage the message is dropped (the feed's claim expires
  and the scheduler sends it again once things are back).
- Waiting for a busy host is not a failure: the work returns a :class:`Wait`; the task comes back after it
  (up to ``WIREFEED_HOST_BUSY_WAIT_MAX_SECONDS``, ``WIREFEED_HOST_BUSY_WAITS`` times) or, for a longer wait,
  moves the feed's next fetch. Neither counts as an attempt.

Every write happens in the pipeline's (or here, the attempt counter's) explicit transactions.
"""

from __future__ import annotations

import base64
import random
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

import psycopg
import structlog
from celery import Task, signals

from worker import deadline, pipeline, retry
from worker.errors import WirefeedError
from worker.fetch.politeness import HostPoliteness
from worker.ops import heartbeat, telemetry
from worker.ops import signals as _signals  # noqa: F401  (connects logging, metrics and heartbeat handlers)
from worker.ops.logs import get_logger
from worker.pipeline import IngestReport
from worker.settings import Settings
from worker.store import attempts, workers
from worker.store import pages as page_store
from worker.store.db import forget_pools, pooled

log = get_logger("wirefeed.tasks")

_TRANSIENT = ("database", "broker", "conflict")  # not the feed's fault: a start that ends so is taken back


def pack_body(body: bytes) -> str:
    """A fetched body as it travels in a JSON message to the process queue."""
    return base64.b64encode(zlib.compress(body, 3)).decode("ascii")


def unpack_body(data: str, limit: int) -> bytes:
    """The body back, inflated to at most one byte past ``limit`` (the pipeline's size check sees it)."""
    return zlib.decompressobj().decompress(base64.b64decode(data), limit + 1)


@signals.worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """A prefork child must not use connections its parent opened: start with no pools."""
    forget_pools()


@signals.task_received.connect
def _own_claim_on_receipt(request: Any = None, **_: Any) -> None:
    """The claim of a message this worker just received names this worker (``heartbeat.own_on_receipt``)."""
    claim_of = getattr(getattr(request, "task", None), "claim_of", None)
    if claim_of is None:
        return
    try:
        found = claim_of(tuple(request.args or ()), dict(request.kwargs or {}))
    except Exception:  # a malformed message: the task itself reports it
        return
    if found is not None:
        heartbeat.own_on_receipt(*found)


@dataclass(frozen=True, slots=True)
class Wait:
    """The work's host is busy: come back in ``seconds`` (not a failure, not an attempt)."""

    seconds: float
    report: IngestReport


class WirefeedTask(Task):
    """Every wirefeed task: settings, log context, and retries while PostgreSQL or Redis is away."""

    @property
    def settings(self) -> Settings:
        from worker.app import WirefeedCelery

        return cast(WirefeedCelery, self.app).settings

    @property
    def worker_id(self) -> str | None:
        """The id this worker heartbeats under (``worker.ops.heartbeat``); None outside a worker."""
        return heartbeat.worker_id()

    @property
    def policy(self) -> retry.Policy:
        return retry.Policy.from_settings(self.settings)

    def log_context(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return {}

    def soft_limit(self) -> float | None:
        """This run's soft time limit in seconds (the message's own, else the task's, else the app's)."""
        limits = getattr(self.request, "timelimit", None) or (None, None)
        soft = limits[1] if len(limits) > 1 else None
        return soft or self.soft_time_limit or self.app.conf.task_soft_time_limit or None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(task_id=self.request.id, task=self.name,
                                               **self.log_context(args, kwargs))
        due = deadline.start(self.soft_limit())
        try:
            return super().__call__(*args, **kwargs)
        finally:
            deadline.end(due)
            structlog.contextvars.clear_contextvars()

    def with_connection(self, work: Callable[[psycopg.Connection], Any]) -> Any:
        """``work`` on a pooled connection; a database or broker outage (or a conflict) retries the task with
        backoff, anything else fails it."""
        try:
            with pooled(self.settings) as conn:
                return work(conn)
        except Exception as exc:
            decision = retry.decide(exc, self.request.retries + 1, self.policy, random.random())
            if decision.action == "retry" and decision.kind in _TRANSIENT:
                raise self.retry(exc=exc, countdown=decision.countdown, max_retries=None) from None
            raise


class FeedTask(WirefeedTask):
    """A task about one feed (its first argument): attempts, failures and waits as the module says."""

    attempts_key: ClassVar[str]  # task_attempts.task

    @staticmethod
    def _feed_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return kwargs.get("feed_id", args[0] if args else None)

    def log_context(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"feed_id": self._feed_id(args, kwargs)}

    def claim_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, int, int] | None:
        """("feed", feed id, claim number) of a message's arguments; None when it carries no claim."""
        claim = kwargs.get("claim")
        feed_id = self._feed_id(args, kwargs)
        if isinstance(claim, int) and isinstance(feed_id, int):
            return "feed", feed_id, claim
        return None

    def finished(self, report: IngestReport) -> None:
        """Tell operators (one log event, the metrics)."""

    def run_for_feed(self, feed_id: int, work: Callable[[psycopg.Connection], IngestReport | Wait], *,
                     fetch_id: int | None = None, waits: int = 0, claim: int | None = None) -> dict[str, Any]:
        started = 0
        try:
            if claim is not None and not self._take_claim(feed_id, claim):
                log.info("task_stale_claim", task=self.attempts_key, feed_id=feed_id, claim=claim)
                return {"feed_id": feed_id, "status": "skipped", "claim": claim,
                        "error": f"claim {claim} is no longer this message's (given back, claimed again or done)"}
            started = self._attempts(feed_id, attempts.begin)
            if started > self.policy.max_internal:
                message = (f"the {self.attempts_key} task started {started - 1} times and never finished (worker "
                           "killed, out of memory or over its hard time limit); giving up until the next "
                           "scheduled fetch")
                log.error("task_poison", task=self.attempts_key, feed_id=feed_id, attempts=started - 1,
                          error=message)
                return self._poison(feed_id, message, fetch_id)
            with pooled(self.settings) as conn:
                result = work(conn)
        except Exception as exc:
            return self._failed(exc, feed_id, started, fetch_id, waits)
        if isinstance(result, Wait):
            if started:
                self._quietly(feed_id, "forget_attempt", attempts.forget_one)
            return self._wait(feed_id, result, waits)
        self._quietly(feed_id, "clear_attempts", attempts.clear)
        self.finished(result)
        return result.as_json()

    def _take_claim(self, feed_id: int, claim: int) -> bool:
        """The feed's claim ``claim`` now names this worker (its heartbeat keeps it); False: the claim moved
        on (a late redelivery of a dead worker's message, or one already done), so the message does nothing."""
        with pooled(self.settings) as conn, conn.transaction():
            return workers.take_feed_claim(conn, feed_id, claim, self.worker_id)

    def _attempts(self, feed_id: int, op: Callable[[psycopg.Connection, str, int], Any]) -> Any:
        with pooled(self.settings) as conn, conn.transaction():
            return op(conn, self.attempts_key, feed_id)

    def _quietly(self, feed_id: int, what: str, op: Callable[[psycopg.Connection, str, int], Any]) -> None:
        """Bookkeeping that must not turn one failure into another (the database may be the thing down)."""
        try:
            self._attempts(feed_id, op)
        except Exception as exc:
            log.warning("task_bookkeeping_failed", what=what, error=retry.describe(exc, 200))

    def _wait(self, feed_id: int, wait: Wait, waits: int) -> dict[str, Any]:
        settings = self.settings
        if wait.seconds <= settings.host_busy_wait_max and waits < settings.host_busy_waits:
            kwargs = {**(self.request.kwargs or {}), "waits": waits + 1}
            raise self.retry(kwargs=kwargs, countdown=wait.seconds, max_retries=None)
        with pooled(settings) as conn:
            pipeline.postpone(conn, settings, feed_id, wait.seconds)
        return wait.report.as_json()

    def _failed(self, exc: Exception, feed_id: int, started: int, fetch_id: int | None, waits: int) -> dict[str, Any]:
        kind = retry.classify(exc)
        failures = self.request.retries + 1 - waits  # a wait for a busy host was a retry, not a failure
        attempt = failures if kind in _TRANSIENT else max(failures, started)
        decision = retry.decide(exc, attempt, self.policy, random.random())
        error = retry.describe(exc)
        log.warning("task_failed", task=self.attempts_key, feed_id=feed_id, attempt=attempt, kind=kind,
                    action=decision.action, countdown=decision.countdown, error=error)
        if started and kind in _TRANSIENT:
            self._quietly(feed_id, "forget_attempt", attempts.forget_one)
        elif started:
            self._quietly(feed_id, "note_attempt", lambda c, t, f: attempts.failed(c, t, f, error))
        if decision.action == "retry":
            raise self.retry(exc=exc, countdown=decision.countdown, max_retries=None) from None
        if decision.action == "poison":
            return self._poison(feed_id, f"internal error after {attempt} attempts: {error}", fetch_id)
        if decision.action == "record" and isinstance(exc, WirefeedError):
            with pooled(self.settings) as conn:
                pipeline.record_failure(conn, self.settings, feed_id, exc, fetch_id=fetch_id)
            self._attempts(feed_id, attempts.clear)
            return IngestReport(input=str(feed_id), feed_id=feed_id, status="error", error_kind=exc.kind,
                                error=exc.reason).as_json()
        # "drop": PostgreSQL or Redis stayed away through every retry. The message is acked as failed;
        # the feed's claim expires and the scheduler sends it again once things are back.
        raise exc

    def _poison(self, feed_id: int, message: str, fetch_id: int | None) -> dict[str, Any]:
        """Give up on the feed until its next fetch: recorded on it (kind ``internal``), the attempts closed."""
        with pooled(self.settings) as conn:
            pipeline.record_poison(conn, self.settings, feed_id, message, fetch_id=fetch_id)
        self._attempts(feed_id, attempts.clear)
        return IngestReport(input=str(feed_id), feed_id=feed_id, status="error", error_kind="internal",
                            error=message).as_json()


class FetchTask(FeedTask):
    attempts_key = "fetch"
    _politeness: ClassVar[dict[str, HostPoliteness]] = {}

    @property
    def politeness(self) -> HostPoliteness:
        """One per process (created after fork, on first use): per-host limits shared by every worker."""
        settings = self.settings
        found = self._politeness.get(settings.redis_url)
        if found is None:
            found = self._politeness[settings.redis_url] = HostPoliteness.from_settings(settings)
        return found

    def finished(self, report: IngestReport) -> None:
        telemetry.fetch_done(report, modified=report.status == "ok" and not report.not_modified)


class ProcessTask(FeedTask):
    attempts_key = "process"

    def finished(self, report: IngestReport) -> None:
        telemetry.batch_done(report)


class PageTask(WirefeedTask):
    """A task about one article's page (arguments: article id, claim). Like a feed task: starts counted in
    PostgreSQL (``article_pages.attempts``, poison past ``WIREFEED_POISON_ATTEMPTS``), outages and conflicts
    retried, an unexpected failure retried and then recorded (kind ``internal``; the article keeps its
    summary), a busy host waited for without counting. A transient fetch failure (timeout, 5xx) is tried
    ``WIREFEED_PAGE_RETRIES`` more times with backoff, then recorded."""

    _fetchers: ClassVar[dict[str, tuple[HostPoliteness, Any]]] = {}

    @staticmethod
    def _article_id(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return kwargs.get("article_id", args[0] if args else None)

    def log_context(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        return {"article_id": self._article_id(args, kwargs)}

    def claim_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, int, int] | None:
        """("page", article id, claim number) of a message's arguments."""
        article_id = self._article_id(args, kwargs)
        claim = kwargs.get("claim", args[1] if len(args) > 1 else None)
        if isinstance(claim, int) and isinstance(article_id, int):
            return "page", article_id, claim
        return None

    def _fetcher_pair(self) -> tuple[HostPoliteness, Any]:
        """One per process (created on first use, after fork): politeness shared with feed fetches, robots.txt."""
        from worker.fetch.robots import Robots

        settings = self.settings
        found = self._fetchers.get(settings.redis_url)
        if found is None:
            polite = HostPoliteness.from_settings(settings)
            found = self._fetchers[settings.redis_url] = (polite, Robots(settings, client=polite.client,
                                                                         politeness=polite))
        return found

    @property
    def politeness(self) -> HostPoliteness:
        return self._fetcher_pair()[0]

    @property
    def robots(self) -> Any:
        return self._fetcher_pair()[1]

    def retries_left(self, waits: int) -> bool:
        return self.request.retries - waits < self.settings.page_retries

    def run_for_page(self, article_id: int, claim: int, work: Callable[[psycopg.Connection], Any], *,
                     waits: int = 0) -> dict[str, Any]:
        from worker.pipeline_pages import PageFetch, PageReport

        started = 0
        try:
            started = self._page_op(lambda c: self._begin_page(c, article_id, claim))
            if started > self.policy.max_internal:
                message = (f"the page task started {started - 1} times and never finished (worker killed, out of "
                           "memory or over its hard time limit); the article keeps its feed text")
                log.error("task_poison", task=self.name, article_id=article_id, attempts=started - 1, error=message)
                return self._page_poison(article_id, message)
            with pooled(self.settings) as conn:
                result = work(conn)
        except Exception as exc:
            return self._page_failed(exc, article_id, started, waits)
        report: PageReport = result.report if isinstance(result, PageFetch) else result
        if isinstance(result, PageFetch) and result.wait is not None:
            self._page_quietly(article_id, "forget_attempt")
            settings = self.settings
            if result.wait <= settings.host_busy_wait_max and waits < settings.host_busy_waits:
                kwargs = {**(self.request.kwargs or {}), "waits": waits + 1}
                raise self.retry(kwargs=kwargs, countdown=result.wait, max_retries=None)
            with pooled(settings) as conn:  # a long wait: the sweep sends it again once the claim runs out
                pipeline.release_page(conn, article_id, claim, result.wait)
        elif isinstance(result, PageFetch) and result.error is not None:
            self._page_quietly(article_id, "forget_attempt")
            failures = self.request.retries + 1 - waits
            countdown = max(result.error.retry_after or 0.0,
                            retry.backoff(failures, base=self.policy.base * 5, cap=self.policy.cap * 5,
                                          rand=random.random()))
            raise self.retry(countdown=countdown, max_retries=None)
        elif report.outcome == "skipped" and started:  # a stale or finished request: this start does not count
            self._page_quietly(article_id, "forget_attempt")
        telemetry.page_done(report)
        return report.as_json()

    @staticmethod
    def _begin_page(conn: psycopg.Connection, article_id: int, claim: int) -> int:
        """One more start; the page's claim now names this worker (its heartbeat keeps it)."""
        workers.take_page_claim(conn, article_id, claim, heartbeat.worker_id())
        return page_store.begin_attempt(conn, article_id)

    def _page_op(self, op: Callable[[psycopg.Connection], Any]) -> Any:
        with pooled(self.settings) as conn, conn.transaction():
            return op(conn)

    def _page_quietly(self, article_id: int, what: str) -> None:
        try:
            self._page_op(lambda c: page_store.forget_attempt(c, article_id))
        except Exception as exc:
            log.warning("task_bookkeeping_failed", what=what, error=retry.describe(exc, 200))

    def _page_failed(self, exc: Exception, article_id: int, started: int, waits: int) -> dict[str, Any]:
        kind = retry.classify(exc)
        failures = self.request.retries + 1 - waits
        attempt = failures if kind in _TRANSIENT else max(failures, started)
        decision = retry.decide(exc, attempt, self.policy, random.random())
        error = retry.describe(exc)
        log.warning("task_failed", task=self.name, article_id=article_id, attempt=attempt, kind=kind,
                    action=decision.action, countdown=decision.countdown, error=error)
        if started and kind in _TRANSIENT:
            self._page_quietly(article_id, "forget_attempt")
        if decision.action == "retry":
            raise self.retry(exc=exc, countdown=decision.countdown, max_retries=None) from None
        if decision.action in ("poison", "record"):
            return self._page_poison(article_id, f"internal error after {attempt} attempts: {error}")
        raise exc

    def _page_poison(self, article_id: int, message: str) -> dict[str, Any]:
        with pooled(self.settings) as conn:
            report = pipeline.record_page_poison(conn, article_id, message)
        telemetry.page_done(report)
        return report.as_json()
