"""A loopback HTTP server for fetch tests: every path serves a configurable :class:`Route`.

Nothing leaves the machine: it binds 127.0.0.1 on a free port. Routes cover what the fetcher must
survive: validators (ETag / Last-Modified → 304), redirects, any status with any headers, a slow first
byte, a dribbling body, an endless body and pre-compressed bodies (e.g. a gzip bomb).
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # sent on 200; a matching If-None-Match gets 304
    last_modified: str | None = None  # sent on 200; an equal If-Modified-Since gets 304
    first_byte_delay: float = 0.0  # seconds before the status line
    dribble: float | None = None  # seconds between single body bytes
    chunks: Callable[[], Iterator[bytes]] | None = None  # streamed without Content-Length (endless bodies)
    latency: float = 0.0  # seconds added before answering (benchmarks)


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    at: float


def gzip_bomb(inflated_bytes: int = 200 * 1024 * 1024) -> bytes:
    """A small gzip body that inflates to ``inflated_bytes`` zeros."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"\0" * (1024 * 1024)
    parts = [comp.compress(block) for _ in range(inflated_bytes // len(block))]
    return b"".join([*parts, comp.flush()])


def gzipped(data: bytes) -> bytes:
    return gzip.compress(data)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        srv = self.server
        path = self.path.split("?", 1)[0]
        srv.owner.hits.append(Hit(self.path, {k.lower(): v for k, v in self.headers.items()}, time.time()))
        route = srv.owner.routes.get(path)
        if callable(route):
            route = route(self)
        if route is None:
            route = Route(status=404, body=b"no such route")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self._answer(route)

    def _answer(self, route: Route) -> None:
        time.sleep(route.latency)
        if route.first_byte_delay:
            time.sleep(route.first_byte_delay)
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        not_modified = (route.etag is not None and inm == route.etag) or (
            route.last_modified is not None and ims == route.last_modified and inm is None
        )
        headers = dict(route.headers)
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if not_modified:
            self.send_response(304)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(route.status)
        for k, v in headers.items():
            self.send_header(k, v)
        if route.chunks is not None:
            self.send_header("Connection", "close")
            self.end_headers()
            for chunk in route.chunks():
                self.wfile.write(chunk)
            return
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.dribble is None:
            self.wfile.write(route.body)
            return
        for i in range(len(route.body)):
            self.wfile.write(route.body[i : i + 1])
            self.wfile.flush()
            time.sleep(route.dribble)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FeedServer

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients hanging up mid-body is what the fetch tests do on purpose


class FeedServer:
    """``with FeedServer() as srv: url = srv.route("/feed", Route(body=...))``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.routes: dict[str, Route | Callable[[BaseHTTPRequestHandler], Route]] = {}
        self.hits: list[Hit] = []
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.owner = self
        # polled often: shutdown() waits for the loop to look, and a test waiting 0.5 s for it adds up
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, route: Route | Callable[[BaseHTTPRequestHandler], Route]) -> str:
        self.routes[path] = route
        return self.url(path)

    def hits_on(self, path: str) -> list[Hit]:
        return [h for h in self.hits if h.path.split("?", 1)[0] == path]

    def __enter__(self) -> FeedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
