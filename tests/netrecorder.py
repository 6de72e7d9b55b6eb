"""A loopback TCP listener that records every connection made to it, to prove that nothing was requested.

Pointing a URL that must never be fetched (an external entity, a remote DTD, a proxy from the environment)
at a port where nothing listens proves nothing: a request would fail unseen. This one accepts, keeps the
first bytes sent (a request line, a CONNECT), and closes the connection.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class Connection:
    peer: tuple[str, int]
    first_bytes: bytes


class ConnectionRecorder:
    """``with ConnectionRecorder() as rec: ...; assert rec.connections == []``; ``rec.url`` is its address."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._lock = threading.Lock()
        self._seen: list[Connection] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def port(self) -> int:
        return int(self._sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._seen)

    def _serve(self) -> None:
        while True:
            try:
                conn, peer = self._sock.accept()
            except OSError:  # closed: the recorder is done
                return
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(4096)
                except OSError:
                    data = b""
                with self._lock:
                    self._seen.append(Connection(peer, data))

    def __enter__(self) -> ConnectionRecorder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self._sock.close()
        self._thread.join(5)
