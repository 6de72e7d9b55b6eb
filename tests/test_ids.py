"""Item ids are stored exactly as the feed wrote them (``article_sightings.guid``), never resolved against the
feed's URL or ``xml:base``: through ``wirefeed ingest`` of local files and of served URLs, on each parser path."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, _QuietHandler

IDS = ROOT / "tests" / "data" / "ids"
EXPECTED = json.loads((IDS / "expected.json").read_text())
FILES = sorted(EXPECTED["parser"])


@pytest.fixture()
def ids_server() -> Iterator[str]:
    """A loopback HTTP server for the odd-id fixtures; yields its base URL."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(IDS)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def _ingest_and_read_guids(cli, env, conn, inputs: list[str]) -> dict[str, tuple[str | None, list[str]]]:
    r = cli("ingest", "--json", *inputs, env={**env, "WIREFEED_FETCH_PAGES": "never"})  # example.org stays unasked
    assert r.returncode == 0, r.stderr
    parsers = {i["input"]: i["parser"] for i in json.loads(r.stdout)["inputs"]}
    rows = conn.execute(
        "SELECT f.url, s.guid FROM article_sightings s JOIN feeds f ON f.id = s.feed_id ORDER BY s.seen_at, s.guid"
    ).fetchall()
    out: dict[str, tuple[str | None, list[str]]] = {}
    for given in inputs:
        feed_url = given if "://" in given else "file://" + given
        out[given] = (parsers[given], sorted(g for url, g in rows if url == feed_url))
    return out


def test_local_files_keep_their_written_ids(cli, env, conn) -> None:
    paths = [str(IDS / name) for name in FILES]
    found = _ingest_and_read_guids(cli, env, conn, paths)
    for name, path in zip(FILES, paths, strict=True):
        parser, guids = found[path]
        assert parser == EXPECTED["parser"][name]  # each parser path is exercised
        assert guids == sorted(EXPECTED["ids"]), name  # no file:// + directory, no xml:base in front


def test_served_urls_keep_their_written_ids(cli, env, conn, ids_server: str) -> None:
    urls = [f"{ids_server}/{name}" for name in FILES]
    found = _ingest_and_read_guids(cli, env, conn, urls)
    for name, url in zip(FILES, urls, strict=True):
        parser, guids = found[url]
        assert parser == EXPECTED["parser"][name]
        assert guids == sorted(EXPECTED["ids"]), name  # not resolved against the feed's http:// URL either
