"""What wirefeed prints is safe to print: no secret of a setting reaches stdout, stderr or a log, and no text
from a feed or a server reaches the operator's terminal as markup or as a control sequence.

Every case runs the real ``wirefeed`` command (a separate process) and looks at the bytes it printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import brotli
import psycopg
import pytest

from tests.conftest import truncate_all
from tests.faults.conftest import WIREFEED, scalar
from tests.httpserver import FeedServer, Route
from tests.peak import peak_mb, wirefeed_argv
from tests.session_guard import run_dir

S = "Hx7SecretPw"  # the secret in every setting below: it must appear in no output


def _run(env: dict[str, str], *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WIREFEED), *args], env={**env, **extra}, capture_output=True, text=True,
                          timeout=60, cwd=run_dir())


# --- secrets ---------------------------------------------------------------------------------------

def test_health_hides_every_form_of_password(env) -> None:
    """What compose's health check prints lands in ``docker inspect``: each form of secret, reachable or not."""
    cases = {
        # the session's own database (a conninfo string; trust authentication ignores the password)
        "conninfo, reachable": {"DATABASE_URL": f"{env['DATABASE_URL']} password={S}"},
        "conninfo, quoted": {"DATABASE_URL": f"host=127.0.0.1 port=1 user=w password='{S} x\\'y' dbname=w"},
        "URL query": {"DATABASE_URL": f"postgresql://w@127.0.0.1:1/w?password={S}&sslmode=disable"},
        "URL user info": {"DATABASE_URL": f"postgresql://w:{S}@127.0.0.1:1/w"},
        "redis without user": {"REDIS_URL": f"redis://:{S}@127.0.0.1:1/0"},
    }
    for name, extra in cases.items():
        r = _run(env, "health", "--beat", **extra)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and ("PostgreSQL at" in out or "Redis at" in out), (name, out)
        assert S not in out, (name, out)
        assert "***" in out, (name, out)  # it named the address, with the secret masked
    r = _run(env, "health", "--json", **cases["conninfo, reachable"])
    assert S not in r.stdout and "password=***" in r.stdout, r.stdout


@pytest.mark.parametrize(("name", "value"), [
    ("REDIS_URL", f"http://w:{S}@127.0.0.1/0"),  # wrong scheme: the value is echoed, masked
    ("DATABASE_URL", f"mysql://w:{S}@127.0.0.1/w?token={S}"),
    ("DATABASE_URL", f"host=127.0.0.1 password=two {S}"),  # not conninfo: where the password ends is unknown
    ("DATABASE_URL", f"host=127.0.0.1 password='{S}"),  # unterminated quote
])
@pytest.mark.parametrize("command", [("health",), ("worker",)])
def test_an_invalid_setting_is_named_without_its_secret(env, name: str, value: str, command: tuple[str, ...]) -> None:
    r = _run(env, *command, **{name: value})
    assert r.returncode == 2, r.stdout + r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: invalid configuration: {name}:"), r.stderr
    assert S not in r.stdout + r.stderr, r.stderr


def test_stored_error_messages_hold_no_secret(conn) -> None:
    """feeds.last_error / disabled_reason (which the reader role reads) and the fetch history are redacted on
    the way in, whatever message a failure carried."""
    from worker.feed_state.decide import FeedUpdate
    from worker.store import feeds as feed_store
    from worker.store import fetches

    fid = feed_store.add_feed(conn, "https://hostile-out.example/secret-feed").feed_id
    message = f"unexpected error fetching https://u:{S}@hostile-out.example/f?token={S}: boom"
    feed_store.apply_update(conn, fid, FeedUpdate(fetched=True, error_kind="network", error_message=message,
                                                  disable_reason=f"gone: host=db password={S}"))
    fetches.record_fetch(conn, fetches.FetchRecord(feed_id=fid, url="https://hostile-out.example/f",
                                                   outcome="error", error_kind="network", error_message=message))
    conn.commit()
    row = conn.execute("SELECT last_error, disabled_reason FROM feeds WHERE id = %s", (fid,)).fetchone()
    history = conn.execute("SELECT error_message FROM feed_fetches WHERE feed_id = %s", (fid,)).fetchone()
    assert row[0] == "unexpected error fetching https://u:***@hostile-out.example/f?token=*** boom", row
    assert row[1] == "gone: host=db password=***" and S not in history[0], (row, history)


LOGGER = f"""
import logging, sys
from worker.ops.logs import configure, get_logger
from worker.ops import signals

configure("json")
try:
    raise ConnectionError("cannot reach postgresql://w:{S}@db/w?sslpassword={S}")
except ConnectionError:
    get_logger().error("broken", dsn="host=db password='{S}' dbname=w", password="{S}",
                       url="redis://:{S}@r/0", exc_info=True)
std = logging.getLogger("celery.worker")
handler = logging.StreamHandler(sys.stderr)
std.addHandler(handler)
signals._redact_celery_logs(logger=std)  # what Celery's after_setup_logger signal does
try:
    raise RuntimeError("host=db password={S}")
except RuntimeError:
    std.exception("Cannot connect to %s", "rediss://u:{S}@r:6380/0")
"""


def test_log_lines_and_tracebacks_hide_secrets() -> None:
    r = subprocess.run([sys.executable, "-c", LOGGER], capture_output=True, text=True, timeout=60, cwd=run_dir())
    assert r.returncode == 0, r.stderr
    event = json.loads(r.stderr.splitlines()[0])
    assert event["event"] == "broken" and event["password"] == "***", event
    assert event["url"] == "redis://:***@r/0" and event["dsn"] == "host=db password=*** dbname=w", event
    assert "ConnectionError: cannot reach postgresql://w:***@db/w?sslpassword=***" in event["exception"], event
    assert "Cannot connect to rediss://u:***@r:6380/0" in r.stderr and "RuntimeError: host=db password=***" in r.stderr
    assert S not in r.stderr, r.stderr


# --- feed and server text on the terminal ----------------------------------------------------------

ESC_TITLE = "\x1b]0;pwned-title\x07"  # OSC 0: retitles the terminal
LINK = "[link=https://evil.example/]click me[/link]"  # rich markup: a live hyperlink if parsed
BIDI = "\u202egnp.exe"  # a right-to-left override
CSI = "\x1b[2J\x9b2J\x7f"  # clear screen (7-bit and C1 forms) and DEL


def _hostile_rows(db_url: str) -> int:
    """Stored strings as a hostile server or feed leaves them (the database holds them as text)."""
    with psycopg.connect(db_url, autocommit=True) as c:
        fid = c.execute(
            """INSERT INTO feeds (url, title, error_count, last_error, last_error_kind, last_error_at)
               VALUES (%s, %s, 3, %s, 'bad_encoding', now()) RETURNING id""",
            (f"https://hostile-out.example/feed?{BIDI}", f"Title {ESC_TITLE}{LINK}",
             f"unsupported Content-Encoding [/] {CSI}{ESC_TITLE}")).fetchone()[0]
        c.execute("""INSERT INTO feeds (url, title, disabled_at, disabled_reason)
                     VALUES ('https://hostile-out.example/2', '[bold red]x[/] [/]', now(), %s)""", (f"gone {LINK}",))
        c.execute("""INSERT INTO feed_fetches (feed_id, url, outcome, error_kind, error_message)
                     VALUES (%s, 'https://hostile-out.example/feed', 'error', 'bad_encoding', %s)""",
                  (fid, f"Content-Encoding [/] {ESC_TITLE}"))
        aid = c.execute(
            """INSERT INTO articles (title, content_text, published_at, content_hash, publisher)
               VALUES (%s, 'text', now(), 'hostile-out-1', %s) RETURNING id""",
            (f"Story {ESC_TITLE}{BIDI}", f"Outlet {CSI}")).fetchone()[0]
    return aid


def _assert_printed_as_text(out: bytes, *expected: str) -> None:
    assert b"\x1b]" not in out, out  # no OSC: no title change, no hyperlink (OSC 8)
    assert b"\x1b[2J" not in out and "\x9b".encode() not in out and b"\x7f" not in out, out
    assert "\u202e".encode() not in out, out
    text = out.decode()
    for piece in expected:
        assert piece in text, (piece, text)


@pytest.mark.parametrize("color", [False, True], ids=["piped", "terminal"])
def test_stored_text_is_printed_as_text(env, db_url: str, color: bool) -> None:
    truncate_all(db_url)
    aid = _hostile_rows(db_url)
    fid = str(scalar(db_url, "SELECT min(id) FROM feeds"))
    # a terminal (rich's FORCE_COLOR) is where markup and escape sequences act; wide, so that nothing folds
    term = {"FORCE_COLOR": "1", "COLUMNS": "1000"} if color else {"COLUMNS": "1000"}
    runs = {
        "feeds list": (["feeds", "list"], [LINK, "[bold red]x[/] [/]", "Content-Encoding [/]",
                                           r"\x1b]0;pwned-title\x07", r"\u202egnp.exe", f"gone {LINK}"]),
        "status": (["status"], ["Content-Encoding [/]", r"\x1b[2J\x9b2J\x7f"]),
        "feeds history": (["feeds", "history", fid], ["Content-Encoding [/]", r"\x1b]0;pwned-title\x07"]),
        "story": (["story", str(aid)], [r"Story \x1b]0;pwned-title\x07\u202egnp.exe", r"Outlet \x1b[2J\x9b2J\x7f"]),
    }
    for name, (args, expected) in runs.items():
        r = subprocess.run([str(WIREFEED), *args], env={**env, **term}, capture_output=True, timeout=60,
                           cwd=run_dir())
        assert r.returncode == 0 and b"Traceback" not in r.stderr, (name, r.stderr.decode()[-2000:])
        if not color:
            assert b"\x1b" not in r.stdout, (name, r.stdout)
        _assert_printed_as_text(r.stdout, *expected)


def test_feeds_add_never_prints_or_subscribes_a_hostile_href(env, db_url: str) -> None:
    """A page's feed link holding an escape sequence is no feed to subscribe; the plain link beside it is."""
    truncate_all(db_url)
    page = (b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed\x1b]0;pwned\x07.xml">'
            b'<link rel="alternate" type="application/rss+xml" href="/feed[link=https://evil.example/]x[/link].xml">'
            b'</head><body>news</body></html>')
    with FeedServer() as srv:
        url = srv.route("/", Route(body=page, headers={"Content-Type": "text/html"}))
        r = subprocess.run([str(WIREFEED), "feeds", "add", url], env=env, capture_output=True, timeout=60,
                           cwd=run_dir())
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    _assert_printed_as_text(r.stdout + r.stderr, "found feed ", "/feed[link=https://evil.example/]x[/link].xml")
    assert b"\x1b" not in r.stdout + r.stderr
    assert scalar(db_url, "SELECT count(*) FROM feeds WHERE url ~ '[[:cntrl:]]'") == 0


def test_feed_urls_are_printed_without_their_credentials(env, db_url: str) -> None:
    """A feed URL may carry a password or a token: the operator's commands print it redacted (the stored row
    keeps it, since the fetcher needs it)."""
    truncate_all(db_url)
    url = "https://reader:s3cretFeedPw@feeds.example/news.xml?token=t0kenS3cret&lang=en"

    def run(*args: str) -> str:
        r = subprocess.run([str(WIREFEED), *args], env={**env, "COLUMNS": "1000"}, capture_output=True, timeout=60,
                           cwd=run_dir())
        assert r.returncode == 0, r.stderr.decode()[-2000:]
        return (r.stdout + r.stderr).decode()

    added = run("feeds", "add", "--no-discover", url)
    listed = run("feeds", "list")
    for out in (added, listed):
        assert "s3cretFeedPw" not in out and "t0kenS3cret" not in out, out
        assert "https://reader:***@feeds.example/news.xml?token=***&lang=en" in out, out
    assert scalar(db_url, "SELECT count(*) FROM feeds WHERE url = %s", (url,)) == 1


def test_extract_json_prints_no_terminal_controls(env, tmp_path: Path) -> None:
    """``extract --json`` keeps non-ASCII text readable and writes C1 and bidi controls as JSON escapes."""
    page = tmp_path / "hostile.html"
    title = "Story \u202egnp.exe \x9b2J done"
    page.write_text(f"<html><head><title>{title}</title><meta property='og:title' content='{title}'></head><body>"
                    f"<article><h1>{title}</h1>"
                    + "".join(f"<p>Ūdre wrote paragraph {n} about the meeting in Riga, where {n * 7} delegates "
                              f"discussed item {n} of the agenda at some length.</p>" for n in range(12))
                    + "</article></body></html>", encoding="utf-8")
    r = subprocess.run([str(WIREFEED), "extract", "--json", str(page)], env={**env, "WIREFEED_FETCH_PAGES": "never"},
                       capture_output=True, timeout=60, cwd=run_dir())
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    _assert_printed_as_text(r.stdout, "\\u202egnp.exe", "Ūdre")
    assert "\x9b".encode() not in r.stdout
    doc = json.loads(r.stdout)
    assert "\u202egnp.exe" in doc["title"]  # the data itself is unchanged


def test_a_brotli_bomb_through_ingest_is_refused_at_the_cap(env, tmp_path: Path) -> None:
    """A loopback server sends 256 MB of zeros as ~250 bytes of brotli: the real command refuses it as too
    large, the feed records why, and the process never holds much more than the cap."""
    bomb = brotli.compress(b"\0" * (256 * 1024 * 1024), quality=1)
    with FeedServer() as srv:
        url = srv.route("/bomb.xml", Route(body=bomb, headers={"Content-Encoding": "br",
                                                                "Content-Type": "application/rss+xml"}))
        out, err = (tmp_path / "out").open("w+b"), (tmp_path / "err").open("w+b")
        hwm = tmp_path / "peak"
        p = subprocess.Popen(wirefeed_argv(hwm, "ingest", "--json", url), env=env, stdout=out, stderr=err,
                             cwd=run_dir())
        status = p.wait()
    out.seek(0)
    err.seek(0)
    doc = json.loads(out.read())
    (one,) = doc["inputs"]
    assert status == 1, doc
    assert one["status"] == "error" and "WIREFEED_MAX_FEED_BYTES" in one["error"], doc
    assert b"Traceback" not in err.read()
    assert scalar(env["DATABASE_URL"], "SELECT count(*) FROM feeds WHERE last_error_kind = 'too_large'") >= 1
    assert peak_mb(hwm) < 400  # imports ~200 MB; 256 MB decoded would show


def test_a_feeds_own_title_and_site_are_stored_scrubbed(cli, db_url: str, tmp_path: Path) -> None:
    """feeds.title and site_url come from the publisher: markup, control characters, a huge title and a
    javascript: site link are not stored as given."""
    truncate_all(db_url)
    rss = tmp_path / "hostile-meta.xml"
    rss.write_text('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
                   f'<title>&lt;b&gt;Bold&lt;/b&gt; {"headline " * 50_000}</title>'
                   "<link>javascript:alert(document.cookie)</link><description>x</description>"
                   "<item><title>One</title><link>https://meta.example/1</link><description>Body one.</description>"
                   "</item></channel></rss>")
    jf = tmp_path / "hostile-meta.json"
    jf.write_text(json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": f"JSON {ESC_TITLE}[/] feed",
                              "home_page_url": "https://meta.example/\x1b]0;x\x07",
                              "items": [{"id": "1", "url": "https://meta.example/j1", "content_text": "Body."}]}))
    r = cli("ingest", "--json", str(rss), str(jf))
    assert r.returncode == 0, r.stderr
    with psycopg.connect(db_url) as c:
        rows = dict(c.execute("SELECT url, (title, site_url) FROM feeds").fetchall())
    title, site = rows["file://" + str(rss.resolve())]
    assert title.startswith("Bold headline") and len(title) <= 1000 and site is None, (title[:80], site)
    title, site = rows["file://" + str(jf.resolve())]
    assert title == "JSON ]0;pwned-title[/] feed" and site is None, (title, site)
