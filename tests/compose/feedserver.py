"""The compose test's feed server, run on the compose network from the wirefeed image (python only).

Serves the files of FEEDS_DIR (default /feeds) by name, with no validators (no ETag, no Last-Modified), so
the fetcher's body hash is what tells a changed feed from an unchanged one. While a file ``_delay`` exists
there, every answer waits that many seconds first: the test uses it to hold fetches in flight.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(os.environ.get("FEEDS_DIR", "/feeds"))
PORT = int(os.environ.get("FEEDS_PORT", "8000"))


def _delay() -> float:
    try:
        return float((ROOT / "_delay").read_text())
    except (OSError, ValueError):
        return 0.0


class FeedHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        name = self.path.split("?", 1)[0].lstrip("/")
        if name == "healthz":
            self._answer(200, b"ok", "text/plain")
            return
        time.sleep(_delay())
        if not name or "/" in name or name.startswith(("_", ".")):
            self._answer(404, b"not found", "text/plain")
            return
        try:
            body = (ROOT / name).read_bytes()
        except OSError:
            self._answer(404, b"not found", "text/plain")
            return
        self._answer(200, body, "application/rss+xml; charset=utf-8")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet: the test reads the database
        pass


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 of its container: `down` stops it at once
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("0.0.0.0", PORT), FeedHandler).serve_forever()
