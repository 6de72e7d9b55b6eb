"""Reading a local file given as a feed or a page (``wirefeed ingest FILE``, ``file://`` feeds, ``extract FILE``,
``feeds import FILE``): the one function every such read goes through.

The same byte cap as an HTTP body, and only regular files: the file is opened with ``O_NONBLOCK`` (opening a FIFO
never waits for a writer), checked with ``fstat`` on the open descriptor (no race between a check and the open),
and anything but a regular file (``/dev/zero``, a FIFO, a socket, a directory) is refused with a reason instead
of being read forever or hanging a thread. A file that grows past the cap while it is read is refused too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from worker.errors import InputError, TooLargeError, over_size_limit

__all__ = ["read_local_file"]

_CHUNK = 1 << 20
_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))


def read_local_file(path: Path, limit: int, *, setting: str = "WIREFEED_MAX_FEED_BYTES") -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises :class:`InputError` (kind ``not_regular``) for anything but a regular file, :class:`TooLargeError` over
    ``limit`` (naming ``setting``), and ``OSError`` when the file cannot be opened or read (missing, no permission).
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            what = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
            raise InputError(f"{path} is {what}, not a regular file: refused", kind="not_regular")
        if st.st_size > limit:
            raise TooLargeError(over_size_limit(f"file {path}", limit, size=st.st_size, setting=setting))
        chunks: list[bytes] = []
        got = 0
        while got <= limit:
            chunk = os.read(fd, min(_CHUNK, limit + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > limit:  # it grew while being read
            raise TooLargeError(over_size_limit(f"file {path}", limit, size=got, setting=setting))
        return b"".join(chunks)
    finally:
        os.close(fd)
