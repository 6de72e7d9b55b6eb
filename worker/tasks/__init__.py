"""The Celery tasks: each takes ids (and a fetched body), runs one pipeline step on the base task's terms
(:mod:`worker.tasks.base`: connection, attempts, retries, poison, log context) and returns a report.

Messages carry ids and bodies, never ORM objects. The scheduler sends fetch messages only after its claim
has committed; a message lost on the way costs a delay (the claim expires), never an article.
"""

from __future__ import annotations

from typing import Any

from worker import pipeline
from worker.app import app
from worker.tasks.base import FetchTask, ProcessTask, Wait, WirefeedTask, pack_body, unpack_body

__all__ = ["fetch_feed", "pack_body", "process_feed", "prune_fetch_history", "prune_story_index",
           "schedule_due_feeds"]


@app.task(bind=True, base=WirefeedTask, name="wirefeed.schedule_due_feeds", ignore_result=True)
def schedule_due_feeds(self: WirefeedTask) -> int:
    """Beat's tick: claim due feeds in PostgreSQL and enqueue one fetch each."""
    ids: list[int] = self.with_connection(lambda conn: pipeline.claim_due_feeds(conn, self.settings))
    for feed_id in ids:
        fetch_feed.delay(feed_id)
    return len(ids)


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
def fetch_feed(self: FetchTask, feed_id: int, waits: int = 0) -> dict[str, Any]:
    """Fetch one feed; a new body goes on to the process queue. ``waits``: times its host was busy."""
    def work(conn: Any) -> pipeline.IngestReport | Wait:
        step = pipeline.fetch_step(conn, self.settings, feed_id, politeness=self.politeness)
        if step.wait is not None:
            return Wait(step.wait, step.report)
        if step.body is not None:
            process_feed.apply_async(args=(feed_id, pack_body(step.body)), kwargs={
                "url": step.url, "content_type": step.content_type, "etag": step.etag,
                "last_modified": step.last_modified, "fetch_id": step.fetch_id, "cache_max_age": step.cache_max_age})
        return step.report

    return self.run_for_feed(feed_id, work, waits=waits)


@app.task(bind=True, base=ProcessTask, name="wirefeed.process_feed", max_retries=None)
def process_feed(self: ProcessTask, feed_id: int, body: str, *, url: str, content_type: str | None = None,
                 etag: str | None = None, last_modified: str | None = None, fetch_id: int | None = None,
                 cache_max_age: int | None = None) -> dict[str, Any]:
    """Parse, normalise, dedupe and store one fetched body."""
    def work(conn: Any) -> pipeline.IngestReport:
        return pipeline.process_body(
            conn, self.settings, feed_id, unpack_body(body, self.settings.max_feed_bytes), url=url,
            content_type=content_type, etag=etag, last_modified=last_modified, fetch_id=fetch_id,
            cache_max_age=cache_max_age)

    return self.run_for_feed(feed_id, work, fetch_id=fetch_id)
