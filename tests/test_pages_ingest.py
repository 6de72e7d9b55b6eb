"""Article pages through ``wirefeed ingest`` and ``wirefeed extract URL``: the real fetch path (robots.txt, the
page cap, redirects, the SSRF guard allowing loopback) against loopback servers only.

The AllAfrica summary feed (tests/data/pages) with its page served must give exactly the outcome of its
README; with the syndication fixtures every Cairo copy is one story and the Egypt–Sudan meeting another;
robots.txt is obeyed (the server never sees a request for a disallowed page); a second pass fetches nothing;
every kind of bad page gets its reason and the article keeps its summary."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

import psycopg
import pytest

from bench.pages_eval import PAGES
from tests.conftest import FIXTURES
from tests.httpserver import FeedServer, Route

CAIRO_PATH = "/stories/202509170142.html"
CANONICAL = "https://allafrica.com/stories/202509170142.html"
CAIRO_TEXT = (PAGES / "allafrica-cairo.txt").read_text(encoding="utf-8").strip()
ROBOTS = b"User-agent: *\nDisallow: /private/\n\nUser-agent: otherbot\nDisallow: /\n"
TITLE = "Egypt, Libya Military Chiefs Discuss Boosting Security Cooperation in Cairo"
SUMMARY = ("The Chief of Staff of Egypt's Armed Forces met in Cairo with the Chief of the General Staff of the "
           "Libyan National Army to discuss military and security cooperation.")


@pytest.fixture()
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        srv.route("/robots.txt", Route(body=ROBOTS, headers={"Content-Type": "text/plain"}))
        srv.route(CAIRO_PATH, Route(body=(PAGES / "allafrica-cairo.html").read_bytes(),
                                    headers={"Content-Type": "text/html; charset=utf-8"}))
        yield srv


@pytest.fixture()
def pages_env(env: dict[str, str], clean_redis: str) -> dict[str, str]:
    """Pages on (auto), no gap between two requests to the loopback host (politeness is tested elsewhere)."""
    return {**env, "WIREFEED_FETCH_PAGES": "auto", "WIREFEED_HOST_MIN_GAP_SECONDS": "0"}


def summary_feed(srv: FeedServer) -> bytes:
    return (PAGES / "allafrica-egypt-summaries.rss").read_bytes().replace(b"{BASE}", srv.base.encode())


def _ingest(cli, env: dict[str, str], *inputs: str) -> dict:
    r = cli("ingest", "--json", *inputs, env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    return json.loads(r.stdout)


def _row(conn: psycopg.Connection, sql: str, *args: object) -> tuple:
    row = conn.execute(sql, args).fetchone()
    assert row is not None, sql
    return row


def _cairo_article(conn: psycopg.Connection) -> int:
    return _row(conn, "SELECT article_id FROM article_sightings WHERE guid = '202509170142'")[0]


def test_allafrica_summary_feed_gives_the_readme_outcome(cli, conn, server, pages_env, tmp_path: Path) -> None:
    feed = tmp_path / "summaries.rss"
    feed.write_bytes(summary_feed(server))
    doc = _ingest(cli, pages_env, str(feed))
    assert doc["inputs"][0]["pages"] == {"extracted": 1}
    aid = _cairo_article(conn)
    text, source, publisher, syndicator, credit, original = _row(
        conn, "SELECT content_text, text_source, publisher, syndicator, credit, original_url FROM articles "
              "WHERE id = %s", aid)
    assert text == CAIRO_TEXT  # the six body paragraphs and nothing else
    assert text.split("\n\n")[0].startswith("The Chief of Staff of Egypt's Armed Forces")
    assert text.split("\n\n")[-1] == "The meeting was attended by senior commanders from both armed forces."
    assert source == "page"
    assert publisher == "Egypt State Information Service"
    assert syndicator == "allAfrica.com: Egypt"
    assert credit == "Ahram Online"  # kept as attribution
    assert original.startswith("https://www.sis.gov.eg/Story/208213/")
    status, canonical, http_status, site = _row(
        conn, "SELECT status, canonical_url, http_status, site_name FROM article_pages WHERE article_id = %s", aid)
    assert (status, canonical, http_status, site) == ("extracted", CANONICAL, 200, "allAfrica.com")
    assert _row(conn, "SELECT article_id FROM article_urls WHERE url = %s", CANONICAL)[0] == aid
    # robots.txt once, the page once
    assert len(server.hits_on("/robots.txt")) == 1 and len(server.hits_on(CAIRO_PATH)) == 1
    assert all(h.headers["user-agent"].startswith("wirefeed/") for h in server.hits)

    # a second pass, even forced through the whole pipeline, fetches nothing
    again = _ingest(cli, pages_env, "--force", str(feed))
    assert again["inputs"][0]["new_articles"] == 0 and again["inputs"][0]["pages"] == {}
    assert len(server.hits_on(CAIRO_PATH)) == 1 and len(server.hits_on("/robots.txt")) == 1

    # an item found later under the page's canonical URL is the same article
    other = tmp_path / "other.rss"
    other.write_text(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Another aggregator</title>
        <item><title>Egypt and Libya military chiefs meet</title><guid isPermaLink="false">x1</guid>
        <link>{CANONICAL}?utm_source=rss&amp;utm_medium=feed</link>
        <description>Military chiefs met in Cairo; a different wording of the same item.</description></item>
        </channel></rss>""")
    third = _ingest(cli, pages_env, str(other))
    assert third["inputs"][0]["new_articles"] == 0 and third["inputs"][0]["duplicates"] == 1
    assert _row(conn, "SELECT article_id FROM article_sightings WHERE guid = 'x1'")[0] == aid


def _stories(conn: psycopg.Connection) -> dict[str, int]:
    return {g: s for g, s in conn.execute(
        "SELECT s.guid, a.story_id FROM article_sightings s JOIN articles a ON a.id = s.article_id")}


TRUTH = json.loads((FIXTURES / "truth.json").read_text())
SYNDICATION = [str(FIXTURES / n) for n in ("sis-gov-eg.rss", "allafrica-egypt.rss", "ahram-online.atom")]


def _one_cairo_story(conn: psycopg.Connection) -> int:
    stories = _stories(conn)
    cairo = {stories[g] for g, t in TRUTH["items"].items() if t["story"] == "cairo"} | {stories["202509170142"]}
    sudan = {stories[g] for g, t in TRUTH["items"].items() if t["story"] == "cairo_sudan"}
    assert len(cairo) == 1 and len(sudan) == 1 and cairo != sudan, stories
    return cairo.pop()


def test_with_the_syndication_fixtures_every_cairo_copy_is_one_story(cli, conn, server, pages_env,
                                                                     tmp_path: Path) -> None:
    """The feeds first, the summary after: its page's text is the original's exactly (after the wrappers go).
    The summary article is that article: it keeps its own text, records the duplicate and joins its story."""
    _ingest(cli, pages_env, *SYNDICATION)
    feed = tmp_path / "summaries.rss"
    feed.write_bytes(summary_feed(server))
    doc = _ingest(cli, pages_env, str(feed))
    assert doc["inputs"][0]["pages"] == {"kept": 1}
    story = _one_cairo_story(conn)
    aid = _cairo_article(conn)
    original = _row(conn, "SELECT article_id FROM article_sightings WHERE guid = 'www.sis.gov.eg-212345'")[0]
    status, reason, dup = _row(conn, "SELECT status, reason, duplicate_of FROM article_pages WHERE article_id = %s",
                               aid)
    assert (status, reason, dup) == ("kept", "duplicate", original)
    method, linked, why = _row(conn, "SELECT method, linked_to, reason FROM article_links WHERE article_id = %s", aid)
    assert (method, linked) == ("same_text", original) and "page" in why
    assert _row(conn, "SELECT content_text FROM articles WHERE id = %s", original)[0] == CAIRO_TEXT
    assert story == _row(conn, "SELECT story_id FROM articles WHERE id = %s", original)[0]
    assert _row(conn, "SELECT count(*) FROM article_sightings")[0] == 5  # every sighting kept


def test_summary_first_then_the_syndication_fixtures(cli, conn, server, pages_env, tmp_path: Path) -> None:
    """The other order: the page's text lands on the summary article; the original's verbatim copy is then an
    exact duplicate of it (a sighting, no second row), and the rewrite joins its story."""
    feed = tmp_path / "summaries.rss"
    feed.write_bytes(summary_feed(server))
    _ingest(cli, pages_env, str(feed))
    _ingest(cli, pages_env, *SYNDICATION)
    _one_cairo_story(conn)
    aid = _cairo_article(conn)
    assert _row(conn, "SELECT article_id FROM article_sightings WHERE guid = 'www.sis.gov.eg-212345'")[0] == aid
    assert _row(conn, "SELECT content_text, text_source FROM articles WHERE id = %s", aid) == (CAIRO_TEXT, "page")


def test_summary_alone_in_its_story_moves_to_the_story_of_its_page(cli, conn, server, pages_env,
                                                                    tmp_path: Path) -> None:
    """A summary too short to match anything starts a story of its own; when its page arrives it moves to the
    story its text belongs to, and the link says why."""
    _ingest(cli, pages_env, SYNDICATION[2])  # the Ahram rewrite: a story of its own
    rewrite = _row(conn, "SELECT article_id FROM article_sightings WHERE guid LIKE 'tag:english.ahram%%'")[0]
    short = tmp_path / "short.rss"
    short.write_text(f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
        <item><title>Military talks</title><guid isPermaLink="false">s1</guid><link>{server.url(CAIRO_PATH)}</link>
        <description>Talks in Cairo.</description></item></channel></rss>""")
    _ingest(cli, pages_env, str(short))
    aid = _row(conn, "SELECT article_id FROM article_sightings WHERE guid = 's1'")[0]
    assert _row(conn, "SELECT story_id, text_source FROM articles WHERE id = %s", aid) == (rewrite, "page")
    method, why = _row(conn, "SELECT method, reason FROM article_links WHERE article_id = %s", aid)
    assert method in ("near_duplicate", "containment") and "moved from its own story" in why


def _item(srv: FeedServer, name: str, path: str | None = None, title: str = TITLE) -> str:
    link = srv.url(path or f"/stories/{name}.html")
    return (f"<item><title>{escape(title)}</title><guid isPermaLink='false'>{name}</guid><link>{escape(link)}</link>"
            f"<pubDate>{format_datetime(datetime(2025, 9, 17, 6, 12, tzinfo=UTC), usegmt=True)}</pubDate>"
            f"<description>{escape(SUMMARY)} Case {name}.</description></item>")


def _feed(items: list[str]) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Test wire</title>'
            + "".join(items) + "</channel></rss>").encode()


def _article_html(extra: str) -> str:
    paragraphs = "".join(f"<p>{escape(p)}</p>" for p in CAIRO_TEXT.split("\n\n"))
    return (f"<html><head><title>{TITLE}</title><meta property='og:type' content='article'></head><body>"
            f"<article><h1>{TITLE}</h1>{paragraphs}<p>{extra}</p></article></body></html>")


ACCENTS = "The delegation later visited the Musée Égyptien and dined at the Café Riche near Tahrir Square."
BAD = PAGES / "bad"


def _endless() -> Iterator[bytes]:
    yield b"<html><body><article>"
    while True:
        yield b"<p>" + b"more words " * 1000 + b"</p>"


# name -> (route, expected status, expected reason)
CASES: dict[str, tuple[Route | None, str, str | None]] = {
    "pdf": (Route(body=b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n", headers={"Content-Type": "application/pdf"}),
            "failed", "not_html"),
    "image": (Route(body=b"\x89PNG\r\n\x1a\n" + b"\0" * 200, headers={"Content-Type": "image/png"}),
              "failed", "not_html"),
    "huge": (Route(body=b"<html>" + b"x" * 300_000, headers={"Content-Type": "text/html"}), "failed", "too_large"),
    "endless": (Route(chunks=_endless, headers={"Content-Type": "text/html"}), "failed", "too_large"),
    "loop": (None, "failed", "redirect_loop"),
    "gone": (Route(status=404, body=b"not here"), "failed", "http_404"),
    "soft404": (Route(body=(BAD / "soft_404.html").read_bytes()), "failed", "soft_404"),
    "consent": (Route(body=(BAD / "consent_wall.html").read_bytes()), "failed", "consent_wall"),
    "paywall": (Route(body=(BAD / "paywall.html").read_bytes()), "failed", "paywall"),
    "home": (Route(body=(BAD / "homepage.html").read_bytes()), "failed", "homepage"),
    "empty": (Route(body=(BAD / "empty.html").read_bytes()), "failed", "empty"),
    "otherstory": (Route(body=(BAD / "different_story.html").read_bytes()), "failed", "different_story"),
    # no charset anywhere, Windows-1252 bytes: detected, read right
    "nocharset": (Route(body=_article_html(ACCENTS).encode("cp1252"), headers={"Content-Type": "text/html"}),
                  "extracted", None),
    # declared Latin-1, sent as UTF-8: the bytes win, no mojibake
    "wrongcharset": (Route(body=_article_html(ACCENTS + " They flew home on Thursday.").encode("utf-8"),
                           headers={"Content-Type": "text/html; charset=iso-8859-1"}), "extracted", None),
}


def test_bad_pages_get_a_reason_and_keep_the_summary(cli, conn, pages_env) -> None:
    with FeedServer() as srv:
        srv.route("/robots.txt", Route(body=ROBOTS))
        for name, (route, _, _) in CASES.items():
            if route is not None:
                srv.route(f"/stories/{name}.html", route)
        srv.route("/stories/loop.html", Route(status=302, headers={"Location": "/stories/loop2.html"}))
        srv.route("/stories/loop2.html", Route(status=302, headers={"Location": "/stories/loop.html"}))
        srv.route("/private/secret.html", Route(body=(PAGES / "allafrica-cairo.html").read_bytes()))
        items = [_item(srv, name) for name in CASES] + [_item(srv, "secret", "/private/secret.html")]
        srv.route("/feed.rss", Route(body=_feed(items), headers={"Content-Type": "application/rss+xml"}))
        env = {**pages_env, "WIREFEED_MAX_PAGE_BYTES": "200000"}
        doc = _ingest(cli, env, srv.url("/feed.rss"))
        assert doc["inputs"][0]["new_articles"] == len(CASES) + 1
        assert not srv.hits_on("/private/secret.html")  # disallowed by robots.txt: never requested
    rows = {g: r for g, *r in conn.execute(
        """SELECT s.guid, p.status, p.reason, p.detail, a.text_source, a.content_text
           FROM article_sightings s JOIN articles a ON a.id = s.article_id
           JOIN article_pages p ON p.article_id = a.id""")}
    for name, (_, status, reason) in CASES.items():
        got_status, got_reason, detail, source, text = rows[name]
        assert (got_status, got_reason) == (status, reason), (name, detail)
        if status == "failed":
            assert source == "feed" and text == f"{SUMMARY} Case {name}.", name  # the summary is kept
            assert detail, name
    for name in ("nocharset", "wrongcharset"):
        assert rows[name][3] == "page" and ACCENTS in rows[name][4], name
    status, reason, detail, source, _ = rows["secret"]
    assert (status, reason, source) == ("refused", "robots", "feed") and "robots.txt" in detail


def test_robots_txt_unreadable_means_wait_missing_means_allow(cli, conn, pages_env) -> None:
    with FeedServer() as down, FeedServer() as missing:
        down.route("/robots.txt", Route(status=503, body=b"busy"))
        down.route("/stories/a.html", Route(body=(PAGES / "allafrica-cairo.html").read_bytes()))
        missing.route("/stories/b.html", Route(body=(PAGES / "allafrica-cairo.html").read_bytes()))
        items = [_item(down, "a"), _item(missing, "b", title="Egypt and Libya chiefs meet in Cairo")]
        with FeedServer() as feeds:
            feeds.route("/feed.rss", Route(body=_feed(items)))
            doc = _ingest(cli, pages_env, feeds.url("/feed.rss"))
        assert not down.hits_on("/stories/a.html")  # robots.txt answered 5xx: the page waits
        assert len(missing.hits_on("/robots.txt")) == 1 and len(missing.hits_on("/stories/b.html")) == 1
    assert doc["inputs"][0]["pages"] == {"wait": 1, "extracted": 1}
    states = dict(conn.execute("SELECT s.guid, p.status FROM article_sightings s "
                               "JOIN article_pages p ON p.article_id = s.article_id").fetchall())
    assert states == {"a": "pending", "b": "extracted"}


def test_no_pages_for_one_run_and_per_feed_mode(cli, conn, server, pages_env, tmp_path: Path) -> None:
    feed = tmp_path / "summaries.rss"
    feed.write_bytes(summary_feed(server))
    doc = _ingest(cli, pages_env, "--no-pages", str(feed))
    assert doc["inputs"][0]["pages_wanted"] == 0
    assert _row(conn, "SELECT count(*) FROM article_pages")[0] == 0 and not server.hits
    feed_id = _row(conn, "SELECT id FROM feeds")[0]
    r = cli("feeds", "set", str(feed_id), "--pages", "never", env=pages_env)
    assert r.returncode == 0 and "pages never" in r.stdout
    feed.write_bytes(summary_feed(server).replace(b"Military Chiefs Discuss", b"Army Chiefs Discuss"))  # a change
    _ingest(cli, pages_env, str(feed))
    assert not server.hits
    assert cli("feeds", "set", str(feed_id), "--pages", "default", env=pages_env).returncode == 0
    feed.write_bytes(summary_feed(server).replace(b"Military Chiefs Discuss", b"Defence Chiefs Discuss"))
    doc = _ingest(cli, pages_env, str(feed))
    assert doc["inputs"][0]["pages"] == {"extracted": 1}
    assert cli("feeds", "set", "999", "--pages", "auto", env=pages_env).returncode == 1


def test_a_changed_item_may_fetch_again_an_unchanged_one_never(cli, conn, server, pages_env, tmp_path: Path) -> None:
    feed = tmp_path / "summaries.rss"
    feed.write_bytes(summary_feed(server))
    _ingest(cli, pages_env, str(feed))
    aid = _cairo_article(conn)
    # the summary is reworded, link and title the same: the page text stays, nothing is fetched
    feed.write_bytes(summary_feed(server).replace(b"to discuss ways", b"to talk about ways"))
    doc = _ingest(cli, pages_env, str(feed))
    assert doc["inputs"][0]["updated"] == 1
    assert _row(conn, "SELECT content_text, text_source FROM articles WHERE id = %s", aid) == (CAIRO_TEXT, "page")
    assert len(server.hits_on(CAIRO_PATH)) == 1
    # a new title: the item asks for its page again
    feed.write_bytes(summary_feed(server).replace(b"Discuss Boosting", b"Agree on Boosting"))
    doc = _ingest(cli, pages_env, str(feed))
    assert doc["inputs"][0]["pages"] == {"extracted": 1} and len(server.hits_on(CAIRO_PATH)) == 2


def test_extract_url_uses_robots_and_the_page_guards(cli, server, pages_env) -> None:
    server.route("/private/x.html", Route(body=(PAGES / "allafrica-cairo.html").read_bytes()))
    good, private = server.url(CAIRO_PATH), server.url("/private/x.html")
    r = cli("extract", "--json", good, private, env=pages_env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    docs = [json.loads(line) for line in r.stdout.splitlines()]
    assert docs[0]["text"] == CAIRO_TEXT and docs[0]["canonical_url"] == CANONICAL and docs[0]["error"] is None
    assert docs[1]["error"].startswith("robots:") and not server.hits_on("/private/x.html")
    # the SSRF guard: loopback is refused unless allowed
    r = cli("extract", "--json", good, env={**pages_env, "WIREFEED_ALLOW_PRIVATE_ADDRESSES": "false"})
    assert r.returncode == 1 and json.loads(r.stdout)["error"].startswith("ssrf:")
