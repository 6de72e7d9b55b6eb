"""Article pages through real Celery workers (fetch, process and pages queues) and a loopback server: the
AllAfrica summary feed's page lands as its README says, the stories are decided again (one Cairo story with the
syndication fixtures, the Egypt–Sudan meeting apart), robots.txt is obeyed, a second pass and a redelivered
message fetch nothing, and the sweep sends again a request whose message was lost."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from bench.pages_eval import PAGES
from tests.conftest import wait_for
from tests.httpserver import FeedServer, Route
from tests.test_pages_ingest import CAIRO_PATH, CAIRO_TEXT, CANONICAL, ROBOTS, SYNDICATION, TRUTH

pytestmark = pytest.mark.slow


@pytest.fixture()
def env(env: dict[str, str], clean_redis: str) -> dict[str, str]:
    """The session's environment with pages on (the workers started from it fetch them)."""
    return {**env, "WIREFEED_FETCH_PAGES": "auto", "WIREFEED_HOST_MIN_GAP_SECONDS": "0"}


@pytest.fixture()
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.route("/robots.txt", Route(body=ROBOTS, headers={"Content-Type": "text/plain"}))
        srv.route(CAIRO_PATH, Route(body=(PAGES / "allafrica-cairo.html").read_bytes(),
                                    headers={"Content-Type": "text/html; charset=utf-8"}))
        srv.route("/private/brief.html", Route(body=(PAGES / "allafrica-cairo.html").read_bytes()))
        feed = (PAGES / "allafrica-egypt-summaries.rss").read_text(encoding="utf-8").replace("{BASE}", srv.base)
        private = (f"<item><title>Private briefing</title><guid isPermaLink='false'>p1</guid>"
                   f"<link>{srv.url('/private/brief.html')}</link><description>Officials met.</description></item>")
        srv.route("/feed.rss", Route(body=feed.replace("</channel>", private + "</channel>").encode(),
                                     headers={"Content-Type": "application/rss+xml"}))
        yield srv


def _status(conn: psycopg.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT s.guid, p.status FROM article_sightings s "
                             "JOIN article_pages p ON p.article_id = s.article_id").fetchall())


def test_pages_through_the_workers(cli, conn, server, celery_worker, env) -> None:
    add = cli("feeds", "add", server.url("/feed.rss"), "--no-discover")
    assert add.returncode == 0, add.stderr
    feed_id = conn.execute("SELECT id FROM feeds").fetchone()[0]
    assert cli("fetch", str(feed_id)).returncode == 0
    wait_for(lambda: _status(conn) == {"202509170142": "extracted", "p1": "refused"}, timeout=90)

    aid, claim = conn.execute(
        "SELECT a.id, p.claim FROM articles a JOIN article_pages p ON p.article_id = a.id "
        "JOIN article_sightings s ON s.article_id = a.id WHERE s.guid = '202509170142'").fetchone()
    row = conn.execute("SELECT content_text, text_source, publisher, credit, original_url FROM articles WHERE id = %s",
                       (aid,)).fetchone()
    assert row[:4] == (CAIRO_TEXT, "page", "Egypt State Information Service", "Ahram Online")
    assert row[4].startswith("https://www.sis.gov.eg/Story/208213/")
    assert conn.execute("SELECT canonical_url FROM article_pages WHERE article_id = %s", (aid,)).fetchone()[0] \
        == CANONICAL
    assert not server.hits_on("/private/brief.html")  # robots.txt disallows it: never requested
    assert len(server.hits_on(CAIRO_PATH)) == 1 and len(server.hits_on("/robots.txt")) == 1

    # a second pass fetches the feed (the same body) and no page
    fetches = conn.execute("SELECT count(*) FROM feed_fetches").fetchone()[0]
    assert cli("fetch", str(feed_id)).returncode == 0
    wait_for(lambda: conn.execute("SELECT count(*) FROM feed_fetches").fetchone()[0] > fetches, timeout=60)
    # a redelivered page message (same claim) does nothing
    from worker.app import make_app
    from worker.settings import get_settings

    app = make_app(get_settings().model_copy(update={"redis_url": env["REDIS_URL"]}))
    again = app.send_task("wirefeed.fetch_page", args=(aid, claim)).get(timeout=60)
    assert again["outcome"] == "skipped"
    assert len(server.hits_on(CAIRO_PATH)) == 1

    # the syndication fixtures after it: every Cairo copy one story, the Egypt–Sudan meeting another
    r = cli("ingest", *SYNDICATION)
    assert r.returncode == 0, r.stderr
    stories = dict(conn.execute("SELECT s.guid, a.story_id FROM article_sightings s "
                                "JOIN articles a ON a.id = s.article_id").fetchall())
    cairo = {stories[g] for g, t in TRUTH["items"].items() if t["story"] == "cairo"} | {stories["202509170142"]}
    sudan = {stories[g] for g, t in TRUTH["items"].items() if t["story"] == "cairo_sudan"}
    assert len(cairo) == 1 and len(sudan) == 1 and cairo != sudan, stories

    # a request whose message was lost (its claim ran out) is claimed and sent again by the sweep
    conn.execute("UPDATE article_pages SET status = 'pending', claimed_until = now() - interval '1 minute' "
                 "WHERE article_id = %s", (aid,))
    conn.execute("UPDATE articles SET text_source = 'feed', content_text = 'x', content_hash = 'x' WHERE id = %s",
                 (aid,))
    conn.commit()
    app.send_task("wirefeed.schedule_pages")  # beat's tick (its result is not kept)
    wait_for(lambda: _status(conn)["202509170142"] == "extracted", timeout=90)
    assert len(server.hits_on(CAIRO_PATH)) == 2
    assert conn.execute("SELECT content_text FROM articles WHERE id = %s", (aid,)).fetchone()[0] == CAIRO_TEXT

    # poison: a request whose tasks started WIREFEED_POISON_ATTEMPTS times and never finished is given up,
    # recorded (reason internal) and not fetched again; the article keeps its text
    claim = conn.execute("UPDATE article_pages SET status = 'pending', attempts = 3 WHERE article_id = %s "
                         "RETURNING claim", (aid,)).fetchone()[0]
    conn.commit()
    gave_up = app.send_task("wirefeed.fetch_page", args=(aid, claim)).get(timeout=60)
    assert (gave_up["outcome"], gave_up["reason"]) == ("failed", "internal")
    assert _status(conn)["202509170142"] == "failed" and len(server.hits_on(CAIRO_PATH)) == 2
    assert conn.execute("SELECT text_source FROM articles WHERE id = %s", (aid,)).fetchone()[0] == "page"
