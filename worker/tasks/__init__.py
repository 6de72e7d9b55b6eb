"""The Celery tasks: each takes ids (and a fetched body), runs one pipeline step on the base task's terms
(:mod:`worker.tasks.base`: connection, attempts, retries, poison, log context) and returns a report.

Messages carry ids and bodies, never ORM objects. The scheduler sends fetch messages only after its claim
has committed; a message lost on the way costs a delay (the claim expires), never an article.
"""

from __future__ import annotations

from typing import Any

from worker import pipeline
from worker.app import app
from worker.tasks.base import FetchTask, PageTask, ProcessTask, Wait, WirefeedTask, pack_body, unpack_body

__all__ = ["fetch_feed", "fetch_page", "pack_body", "process_feed", "process_page", "prune_fetch_history",
           "prune_story_index", "schedule_due_feeds", "schedule_pages"]


@app.task(bind=True, base=WirefeedTask, name="wirefeed.schedule_due_feeds", ignore_result=True)
def schedule_due_feeds(self: WirefeedTask) -> int:
    """Beat's tick: give back the claims of dead workers, claim due feeds in PostgreSQL and enqueue one fetch
    each (carrying its claim number)."""
    empty = pipeline.feed_queues_empty(self.settings)
    pairs: list[tuple[int, int]] = self.with_connection(
        lambda conn: pipeline.claim_due_feeds(conn, self.settings, queues_empty=empty))
    for feed_id, claim in pairs:
        fetch_feed.apply_async(args=(feed_id,), kwargs={"claim": claim})
    return len(pairs)


@app.task(bind=True, base=WirefeedTask, name="wirefeed.prune_fetch_history", ignore_result=True)
def prune_fetch_history(self: WirefeedTask) -> int:
    """Daily: fetch history older than WIREFEED_FETCH_HISTORY_DAYS goes (each feed keeps its newest 20)."""
    return int(self.with_connection(lambda conn: pipeline.prune_fetch_history(conn, self.settings)))


@app.task(bind=True, base=WirefeedTask, name="wirefeed.prune_story_index", ignore_result=True)
def prune_story_index(self: WirefeedTask, max_rounds: int = 100) -> int:
    """Daily: near-duplicate index rows of deleted articles go. Returns the rows removed."""
    return int(self.with_connection(lambda conn: pipeline.prune_story_index(conn, max_rounds)))


# max_retries=None: the base's policy decides when to stop, not Celery's default of 3 retries.
@app.task(bind=True, base=FetchTask, name="wirefeed.fetch_feed", max_retries=None)
def fetch_feed(self: FetchTask, feed_id: int, waits: int = 0, claim: int | None = None) -> dict[str, Any]:
    """Fetch one feed; a new body goes on to the process queue. ``waits``: times its host was busy; ``claim``:
    the claim number it was sent under (a message of an older claim does nothing; None: not checked)."""
    def work(conn: Any) -> pipeline.IngestReport | Wait:
        step = pipeline.fetch_step(conn, self.settings, feed_id, politeness=self.politeness)
        if step.wait is not None:
            return Wait(step.wait, step.report)
        if step.body is not None:
            pipeline.hand_off(conn, feed_id, claim)  # the claim is the receiving process worker's to take
            process_feed.apply_async(args=(feed_id, pack_body(step.body)), kwargs={
                "url": step.url, "content_type": step.content_type, "etag": step.etag,
                "last_modified": step.last_modified, "fetch_id": step.fetch_id, "cache_max_age": step.cache_max_age,
                "claim": claim})
        return step.report

    return self.run_for_feed(feed_id, work, waits=waits, claim=claim)


@app.task(bind=True, base=ProcessTask, name="wirefeed.process_feed", max_retries=None)
def process_feed(self: ProcessTask, feed_id: int, body: str, *, url: str, content_type: str | None = None,
                 etag: str | None = None, last_modified: str | None = None, fetch_id: int | None = None,
                 cache_max_age: int | None = None, claim: int | None = None) -> dict[str, Any]:
    """Parse, normalise, dedupe and store one fetched body (under the fetch's claim number)."""
    def work(conn: Any) -> pipeline.IngestReport:
        report = pipeline.process_body(
            conn, self.settings, feed_id, unpack_body(body, self.settings.max_feed_bytes), url=url,
            content_type=content_type, etag=etag, last_modified=last_modified, fetch_id=fetch_id,
            cache_max_age=cache_max_age)
        if report.pages_wanted:  # claimed (and committed) before the messages go
            for article_id, claim in pipeline.claim_pages(conn, self.settings, feed_id=feed_id,
                                                          worker_id=self.worker_id):
                fetch_page.delay(article_id, claim)
        return report

    return self.run_for_feed(feed_id, work, fetch_id=fetch_id, claim=claim)


@app.task(bind=True, base=WirefeedTask, name="wirefeed.schedule_pages", ignore_result=True)
def schedule_pages(self: WirefeedTask) -> int:
    """Beat's tick for pages: requests whose message was lost (their claim expired, or their worker died) are
    claimed and sent again."""
    if self.settings.fetch_pages == "never":
        return 0

    def due_pages(conn: Any) -> list[tuple[int, int]]:
        pipeline.give_back_dead(conn, self.settings)  # a dead worker's page claims come back on this tick too
        return pipeline.claim_pages(conn, self.settings, worker_id=self.worker_id)

    pairs: list[tuple[int, int]] = self.with_connection(due_pages)
    for article_id, claim in pairs:
        fetch_page.delay(article_id, claim)
    return len(pairs)


@app.task(bind=True, base=PageTask, name="wirefeed.fetch_page", max_retries=None)
def fetch_page(self: PageTask, article_id: int, claim: int, waits: int = 0) -> dict[str, Any]:
    """robots.txt, then the page; its body goes on to the process queue. ``waits``: times its host was busy."""
    def work(conn: Any) -> Any:
        step = pipeline.fetch_page_step(conn, self.settings, article_id, claim, robots=self.robots,
                                        politeness=self.politeness, retries_left=self.retries_left(waits))
        if step.body is not None:
            process_page.apply_async(args=(article_id, claim, pack_body(step.body)), kwargs={
                "final_url": step.final_url, "content_type": step.content_type,
                "http_status": step.report.http_status})
        return step

    return self.run_for_page(article_id, claim, work, waits=waits)


@app.task(bind=True, base=PageTask, name="wirefeed.process_page", max_retries=None)
def process_page(self: PageTask, article_id: int, claim: int, body: str, *, final_url: str,
                 content_type: str | None = None, http_status: int | None = None) -> dict[str, Any]:
    """Extract a fetched page and store what it changes (text, metadata, story)."""
    def work(conn: Any) -> Any:
        return pipeline.process_page(conn, self.settings, article_id, claim,
                                     unpack_body(body, self.settings.max_page_bytes), final_url=final_url,
                                     content_type=content_type, http_status=http_status)

    return self.run_for_page(article_id, claim, work)
