"""The error tree. Callers decide what to do by class, never by matching message strings.

    WirefeedError
    ├── ConfigError            bad setting; the process should not start
    ├── InputError             the input is bad; retrying will not help (permanent)
    │   ├── ParseError         the feed body cannot be read as a feed
    │   ├── EntryError         one item is unusable; the rest of the feed goes on
    │   └── TooLargeError      body over WIREFEED_MAX_FEED_BYTES
    └── FetchError             the fetch did not yield a body; ``kind`` names why (e.g. "timeout", "http_404"),
        │                      ``status`` is the HTTP status when the server answered with one
        ├── TransientFetchError   worth retrying later with backoff (timeouts, 5xx, 404, 429)
        └── PermanentFetchError   will not get better on its own (401/403, 410, SSRF refusal, bad scheme)

    HostBusy                   not an error: the feed's host asked everyone to wait, or has no free slot

Every message is one line a person can act on.
"""

from __future__ import annotations

from billiard.exceptions import SoftTimeLimitExceeded

# Exceptions that end the whole task and must never be taken for bad input or a bad item: code that isolates
# failures with ``except Exception`` re-raises these first. Celery delivers a task's soft time limit as
# SoftTimeLimitExceeded raised wherever the task happens to be (a signal handler in the pool child).
NEVER_SWALLOW: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded, MemoryError)


class WirefeedError(Exception):
    """Base of every error wirefeed raises on purpose."""

    kind: str = "error"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(" ".join(str(message).split()))
        if kind is not None:
            self.kind = kind

    @property
    def reason(self) -> str:
        """One line for logs, stderr and ``feeds.last_error``."""
        return str(self)


class ConfigError(WirefeedError):
    kind = "config"


class InputError(WirefeedError):
    kind = "bad_input"


class ParseError(InputError):
    kind = "parse"


class EntryError(InputError):
    kind = "entry"


class TooLargeError(InputError):
    kind = "too_large"


class FetchError(WirefeedError):
    kind = "fetch"
    status: int | None = None  # the HTTP status of the answer that failed, when there was one
    retry_after: float | None = None  # seconds the server asked us to wait, if it said

    def __init__(self, message: str, *, kind: str | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, kind=kind)
        self.status = status
        self.retry_after = retry_after


class TransientFetchError(FetchError):
    kind = "transient"


class PermanentFetchError(FetchError):
    kind = "permanent"


class HostBusy(Exception):  # a wait, not an error: outside WirefeedError on purpose
    """The host has no free slot, is inside its minimum gap, or asked every client to wait (Retry-After).

    Nothing is wrong with the feed: fetch it again in ``retry_after`` seconds. It never counts as a failure
    or as a task attempt.
    """

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(" ".join(str(message).split()))
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        return str(self)


def over_size_limit(subject: str, limit: int, *, size: int | None = None, declared: bool = False,
                    setting: str = "WIREFEED_MAX_FEED_BYTES") -> str:
    """The one message for a body over ``WIREFEED_MAX_FEED_BYTES``, wherever the cap is met: a declared
    Content-Length, a stream inflating past it, a processed body, a local file. ``size`` None: unknown
    (reading stopped at the limit)."""
    if size is None:
        amount = "is larger once decompressed (reading stopped at the limit)"
    else:
        amount = f"{'declares' if declared else 'is'} {size} bytes"
    thing = "feed" if setting == "WIREFEED_MAX_FEED_BYTES" else "page"
    return f"{subject} {amount}, over {setting}={limit} (raise it if the {thing} is genuine)"


def check_size(size: int, limit: int, subject: str) -> None:
    """Raise :class:`TooLargeError` when ``size`` bytes are over the cap."""
    if size > limit:
        raise TooLargeError(over_size_limit(subject, limit, size=size))
