"""Proxies named in the environment are ignored: a proxy would make the request to the vetted address on the
fetcher's behalf and so bypass the SSRF guard. The "proxy" here is a loopback listener that records every
connection; none may arrive, from this process or from a real ``wirefeed`` process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.httpserver import FeedServer, Route
from tests.netrecorder import ConnectionRecorder
from worker.fetch.http import fetch_feed_body
from worker.settings import Settings

FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Direct</title><link>https://direct.example/</link>'
        b"<item><title>Fetched directly</title><link>https://direct.example/1</link><guid>d-1</guid>"
        b"<description>Not through any proxy.</description></item></channel></rss>")
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture()
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectionRecorder]:
    """Every proxy variable points at a recording listener (and nothing is exempt from it)."""
    with ConnectionRecorder() as rec:
        for name in PROXY_VARIABLES:
            monkeypatch.setenv(name, rec.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        yield rec


def test_the_fetcher_ignores_proxies_from_the_environment(proxy: ConnectionRecorder) -> None:
    with FeedServer() as srv:
        url = srv.route("/feed.xml", Route(body=FEED))
        out = fetch_feed_body(url, etag=None, last_modified=None, previous_body_hash=None,
                              settings=Settings(allow_private_addresses=True))  # type: ignore[call-arg]
        assert out.body == FEED and len(srv.hits_on("/feed.xml")) == 1  # straight to the server
    assert proxy.connections == []


def test_a_real_ingest_ignores_proxies_from_the_environment(proxy: ConnectionRecorder, cli, env, conn) -> None:
    with FeedServer() as srv:
        url = srv.route("/feed.xml", Route(body=FEED))
        r = cli("ingest", "--json", url, env={**env, **{n: proxy.url for n in PROXY_VARIABLES}})
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["inputs"][0]["new_articles"] == 1
        assert len(srv.hits_on("/feed.xml")) == 1
    assert proxy.connections == []
