"""HTTPS through the vetted-address backend, against a loopback TLS server whose certificates come from a
throwaway certificate authority (trustme) that exists only for the test.

The SSRF guard dials the vetted IP address itself; TLS must still name the URL's host: in the handshake
(SNI, which the server records) and in the certificate check. A certificate the fetcher cannot trust is a
permanent failure (kind ``tls``): retrying will not make it valid.
"""

from __future__ import annotations

import datetime
import http.server
import json
import ssl
import threading

import pytest
import trustme

from worker.errors import PermanentFetchError
from worker.fetch.http import fetch_feed_body
from worker.settings import Settings

FEED = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>TLS feed</title><link>https://localhost/</link>'
        b"<item><title>Over TLS</title><link>https://localhost/1</link><guid>tls-1</guid>"
        b"<description>A story fetched over HTTPS from a loopback server.</description></item></channel></rss>")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(FEED)))
        self.end_headers()
        self.wfile.write(FEED)

    def log_message(self, format: str, *args: object) -> None:
        pass


class TLSServer:
    """A loopback HTTPS server presenting ``cert``; ``server_names`` records the SNI of every handshake."""

    def __init__(self, cert: trustme.LeafCert) -> None:
        self.server_names: list[str | None] = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        cert.configure_cert(ctx)
        ctx.sni_callback = self._record_sni
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def _record_sni(self, _sock: object, name: str | None, _ctx: object) -> None:
        self.server_names.append(name)

    def url(self, host: str = "localhost") -> str:
        return f"https://{host}:{self._httpd.server_address[1]}/feed.xml"

    def __enter__(self) -> TLSServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def _settings(ca_file: str | None) -> Settings:
    return Settings(allow_private_addresses=True, connect_timeout=5.0, read_timeout=5.0,  # type: ignore[call-arg]
                    fetch_deadline=20.0, extra_ca_file=ca_file)


def _fetch(url: str, settings: Settings):  # type: ignore[no-untyped-def]
    return fetch_feed_body(url, etag=None, last_modified=None, previous_body_hash=None, settings=settings)


def test_a_trusted_certificate_is_fetched_and_the_handshake_names_the_host(ca: trustme.CA, ca_file: str) -> None:
    with TLSServer(ca.issue_cert("localhost")) as srv:
        out = _fetch(srv.url(), _settings(ca_file))
    assert out.status == 200 and out.body == FEED
    # the socket went to the vetted 127.0.0.1, and the TLS handshake still named the URL's host
    assert srv.server_names == ["localhost"]


def test_a_certificate_from_an_unknown_authority_is_refused_as_permanent(ca: trustme.CA) -> None:
    with TLSServer(ca.issue_cert("localhost")) as srv, pytest.raises(PermanentFetchError) as info:
        _fetch(srv.url(), _settings(None))  # the throwaway CA is not trusted without the setting
    assert info.value.kind == "tls" and "localhost" in str(info.value) and "\n" not in str(info.value)
    assert "certificate verify failed" in str(info.value)


def test_a_certificate_for_another_host_is_refused_as_permanent(ca: trustme.CA, ca_file: str) -> None:
    with TLSServer(ca.issue_cert("other.example")) as srv, pytest.raises(PermanentFetchError) as info:
        _fetch(srv.url(), _settings(ca_file))  # a trusted authority, the wrong name: the hostname check fails
    assert info.value.kind == "tls" and "Hostname mismatch" in str(info.value)
    assert srv.server_names == ["localhost"]


def test_an_expired_certificate_is_refused_as_permanent(ca: trustme.CA, ca_file: str) -> None:
    past = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = ca.issue_cert("localhost", not_before=past, not_after=past + datetime.timedelta(days=30))
    with TLSServer(cert) as srv, pytest.raises(PermanentFetchError) as info:
        _fetch(srv.url(), _settings(ca_file))
    assert info.value.kind == "tls" and "expired" in str(info.value)


def test_the_extra_ca_setting_reaches_the_real_ingest(ca: trustme.CA, ca_file: str, cli, env, conn) -> None:
    """``WIREFEED_EXTRA_CA_FILE`` through the environment of a real ``wirefeed ingest`` of an https URL."""
    with TLSServer(ca.issue_cert("localhost")) as srv:
        refused = cli("ingest", "--json", srv.url())
        trusted = cli("ingest", "--json", srv.url(), env={**env, "WIREFEED_EXTRA_CA_FILE": ca_file})
    assert refused.returncode == 1 and "TLS handshake with localhost failed" in refused.stderr
    assert trusted.returncode == 0, trusted.stderr
    assert json.loads(trusted.stdout)["inputs"][0]["new_articles"] == 1
    assert conn.execute("SELECT url FROM articles").fetchall() == [("https://localhost/1",)]
