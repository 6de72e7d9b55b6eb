"""What the command line refuses before any work starts: feed URLs that are not http(s), OPML documents that
carry a DOCTYPE, bad settings; and the tests' own isolation from a ``.env`` left in the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.netrecorder import ConnectionRecorder
from worker.parse.opml import OpmlError, read_opml


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/feed.xml",  # another transfer protocol
        "file:///etc/passwd",  # a local file
        "javascript:alert(1)",  # script
        "gopher://127.0.0.1:6379/_FLUSHALL",  # SSRF classic
        "feed://example.org/rss",  # the old feed: pseudo-scheme
        "example.org/rss",  # no scheme at all
    ],
)
def test_feeds_add_refuses_a_url_that_is_not_http(cli, conn, url: str) -> None:
    r = cli("feeds", "add", url)
    assert r.returncode == 1
    assert r.stderr.strip() == f"error: {url!r} is not an http(s) URL"  # one line, naming the URL
    assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == 0


def test_feeds_add_takes_an_http_url(cli, conn) -> None:
    r = cli("feeds", "add", "--no-discover", "http://127.0.0.1:9/feed.xml")  # the control: nothing is fetched
    assert r.returncode == 0, r.stderr
    assert conn.execute("SELECT url FROM feeds").fetchall() == [("http://127.0.0.1:9/feed.xml",)]


OPML_HEAD = '<?xml version="1.0"?>\n'
OPML_BODY = ('<opml version="2.0"><head><title>subs</title></head><body>'
             '<outline text="{text}" xmlUrl="{url}"/><outline text="ok" xmlUrl="https://ok.example/feed"/>'
             "</body></opml>")


def opml(doctype: str, *, text: str = "a feed", url: str = "https://a.example/feed") -> bytes:
    return (OPML_HEAD + doctype + OPML_BODY.format(text=text, url=url)).encode()


def doctype_cases(listener: str) -> list[tuple[str, bytes]]:
    laughs = '<!ENTITY a "aaaaaaaaaa">' + "".join(
        f'<!ENTITY {n} "{("&" + p + ";") * 10}">' for p, n in zip("abcdefg", "bcdefgh", strict=True))
    return [
        # an internal entity that would put another URL in xmlUrl
        ("internal entity", opml('<!DOCTYPE opml [<!ENTITY x "http://evil.example/feed">]>', url="&x;")),
        # an external DTD: never fetched
        ("external DTD", opml(f'<!DOCTYPE opml SYSTEM "{listener}/opml.dtd">')),
        # a parameter entity pulling a remote DTD
        ("parameter entity", opml(f'<!DOCTYPE opml [<!ENTITY % r SYSTEM "{listener}/r.dtd"> %r;]>')),
        # a local file as an external entity
        ("external entity", opml('<!DOCTYPE opml [<!ENTITY x SYSTEM "file:///etc/hostname">]>', text="&x;")),
        # nested entities: a billion laughs
        ("entity bomb", opml(f"<!DOCTYPE opml [{laughs}]>", text="&h;")),
        # a bare DOCTYPE declares nothing, and is refused all the same: OPML has no use for one
        ("bare doctype", opml("<!DOCTYPE opml>")),
    ]


@pytest.mark.parametrize("case", range(6))
def test_read_opml_refuses_any_doctype(case: int) -> None:
    name, body = doctype_cases("http://127.0.0.1:9")[case]
    with pytest.raises(OpmlError) as info:
        read_opml(body)
    assert "\n" not in str(info.value), name


def test_read_opml_without_a_doctype_reads_every_http_outline() -> None:
    outlines = read_opml(opml(""))
    assert [(o.url, o.title) for o in outlines] == [("https://a.example/feed", "a feed"),
                                                   ("https://ok.example/feed", "ok")]


def test_feeds_import_refuses_opml_with_a_doctype_and_fetches_nothing(cli, conn, tmp_path) -> None:
    with ConnectionRecorder() as listener:
        for name, body in doctype_cases(listener.url):
            path = tmp_path / f"{name.replace(' ', '-')}.opml"
            path.write_bytes(body)
            r = cli("feeds", "import", str(path))
            assert r.returncode == 1, (name, r.stdout)
            lines = r.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith(f"error: {path}: "), (name, r.stderr)
            assert "Traceback" not in r.stderr
    assert listener.connections == []  # no DTD or entity was fetched
    assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == 0  # and nothing subscribed


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WIREFEED_MAX_FEED_BYTES", "lots"),  # not a number
        ("WIREFEED_MAX_FEED_BYTES", "-1"),  # out of range
        ("DATABASE_URL", "mysql://localhost/wirefeed"),  # another database
        ("REDIS_URL", "http://localhost:6379"),  # not a Redis URL
        ("WIREFEED_LOG_FORMAT", "xml"),  # not one of the choices
        ("WIREFEED_EXTRA_CA_FILE", "/nonexistent/ca.pem"),  # a file that is not there
    ],
)
@pytest.mark.parametrize("command", [("feeds", "list"), ("worker", "-Q", "fetch")])
def test_a_bad_setting_stops_the_process_with_one_line_naming_it(env, variable: str, value: str,
                                                                 command: tuple[str, ...]) -> None:
    r = run_cli(*command, env={**env, variable: value}, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr  # one line, no traceback
    assert lines[0].startswith("error: invalid configuration: ") and f"{variable}:" in lines[0], lines[0]


def test_a_dotenv_in_the_checkout_does_not_reach_the_tests(env, conn, tmp_path) -> None:
    """Settings read ``.env`` from the working directory. Tests and the processes they start work in an empty
    directory of the session's own (tests/session_guard.py), so a developer's ``.env`` in the checkout, where
    ``./scripts/test`` runs from, changes nothing."""
    from worker.settings import load_settings

    stray = ROOT / ".env"
    if stray.exists():
        pytest.skip("a .env of your own is in the checkout: this test does not overwrite it")
    poison = "WIREFEED_MAX_FEED_BYTES=not-a-number\nWIREFEED_FETCH_PAGES=always\n"
    stray.write_text(poison)
    try:
        assert run_cli("feeds", "list", env=env).returncode == 0  # a process a test starts: unaffected
        assert load_settings().max_feed_bytes == 10 * 1024 * 1024  # this process: unaffected
    finally:
        stray.unlink()
    # the control: the same file where a process does run from is read, and stops it naming the variable
    (tmp_path / ".env").write_text(poison)
    exe = Path(sys.executable).with_name("wirefeed")
    r = subprocess.run([str(exe), "feeds", "list"], env=env, cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "WIREFEED_MAX_FEED_BYTES" in r.stderr
