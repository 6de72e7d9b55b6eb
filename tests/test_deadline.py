"""A task's soft time limit holds even when its signal is lost inside a library (worker.deadline): the pipeline
checks the deadline between stages and stops the batch there, with nothing stored."""

from __future__ import annotations

import time

import psycopg
import pytest
from celery.exceptions import SoftTimeLimitExceeded

from tests.faults.conftest import rss
from worker import deadline


def test_check_raises_only_once_the_deadline_has_passed() -> None:
    token = deadline.start(0.2)
    try:
        deadline.check("parsing")  # within the limit: nothing
        time.sleep(0.25)
        with pytest.raises(SoftTimeLimitExceeded, match="before storing"):
            deadline.check("storing")
    finally:
        deadline.end(token)
    deadline.check("storing")  # the task ended: its deadline went with it


@pytest.mark.parametrize("seconds", [None, 0])
def test_no_limit_means_no_deadline(seconds: float | None) -> None:
    token = deadline.start(seconds)
    try:
        deadline.check("storing")
    finally:
        deadline.end(token)


def test_a_batch_past_its_soft_limit_stops_between_stages_and_stores_nothing(settings, conn: psycopg.Connection,
                                                                            tmp_path) -> None:
    """No signal arrives here at all (as when lxml swallowed it): the checkpoint alone ends the batch."""
    from worker import pipeline
    from worker.store import feeds as feed_store

    fid = feed_store.add_feed(conn, "https://deadline.example.org/feed.xml").feed_id
    conn.commit()
    body = rss(5, 200)
    token = deadline.start(0.001)
    try:
        time.sleep(0.01)
        with pytest.raises(SoftTimeLimitExceeded):
            pipeline.process_body(conn, settings, fid, body, url="https://deadline.example.org/feed.xml")
    finally:
        deadline.end(token)
    assert conn.execute("SELECT count(*) FROM article_sightings").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM articles").fetchone() == (0,)
    # the same body without a deadline: the batch is whole (the stop above lost nothing but time)
    report = pipeline.process_body(conn, settings, fid, body, url="https://deadline.example.org/feed.xml")
    assert report.status == "ok" and report.new_articles == 200
