"""What one outcome does to a feed: the single rule for its schedule, error counts, backoff and disabling.

Pure: ``decide(feed, outcome, now, settings)`` returns a :class:`FeedUpdate`, which
:func:`worker.store.feeds.apply_update` writes (the caller holds the feed's row lock in the same
transaction). The README's "Failures and disabling" table describes this module, row for row.

- Success (a body processed, or not modified): errors cleared, next fetch adapted (``schedule.next_fetch_at``).
- Every failure: ``error_count`` + 1, last error kept, next fetch after :func:`schedule.backoff` of the run
  of errors (a Retry-After wins when longer). A *hard* failure (it will not heal on its own: a permanent
  fetch failure, a body that is not a feed, poison) also extends ``hard_error_count``; a soft one leaves it.
- Disable: 410 Gone at once; a 301/308 onto a URL another feed already has at once (a duplicate);
  otherwise when the run of hard failures reaches ``WIREFEED_DISABLE_AFTER_ERRORS`` **and** the feed has
  not succeeded for ``WIREFEED_DISABLE_AFTER_DAYS`` (so a burst of retries cannot disable a feed).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from worker.errors import FetchError, PermanentFetchError
from worker.feed_state.model import Feed
from worker.feed_state.schedule import Hints, backoff, next_fetch_at
from worker.normalize.feedmeta import feed_title, site_url
from worker.settings import Settings

# --- outcomes ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moved:
    """A 301/308 chain ended at ``to``; ``taken_by`` is the feed that already has that URL, if one does."""

    to: str
    taken_by: int | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A new body arrived: it goes on to processing, which decides the schedule (the claim stays held)."""

    moved: Moved | None = None


@dataclass(frozen=True, slots=True)
class NotModified:
    """304, or a 200 whose body is the one processed last time: nothing to parse."""

    by: Literal["304", "hash"]
    etag: str | None = None
    last_modified: str | None = None
    cache_max_age: int | None = None
    retry_after: float | None = None
    moved: Moved | None = None


@dataclass(frozen=True, slots=True)
class Processed:
    """A body was parsed and its items stored."""

    new_entries: int
    published: tuple[datetime, ...] = ()  # the items' dates: the feed's publishing rhythm
    ttl_minutes: int | None = None
    update_period_minutes: int | None = None
    cache_max_age: int | None = None
    title: str | None = None
    site_url: str | None = None
    language: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    note: str | None = None  # something the body lost that a person should know (entries over the cap)


@dataclass(frozen=True, slots=True)
class Gone:
    """410: the publisher removed the feed."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class RateLimited:
    """429 or 503: the server is overloaded or asked us to slow down (``retry_after`` when it said how long)."""

    kind: str
    message: str
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class TransientFailure:
    """A fetch failure that may heal on its own: timeout, DNS, connection, 404, 5xx, redirect loop,
    an unreadable local file."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class PermanentFailure:
    """A fetch failure that will not heal on its own: 401/403/other 4xx, TLS, SSRF refusal, bad URL or
    scheme, a body over the size limit, a corrupt encoding."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class ParseFailure:
    """The body is not a feed wirefeed can read (kind ``parse``), or is over the size limit (``too_large``)."""

    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class Poison:
    """A feed task failed unexpectedly (or died) ``WIREFEED_POISON_ATTEMPTS`` times: kind ``internal``."""

    message: str
    kind: str = "internal"


@dataclass(frozen=True, slots=True)
class HostWait:
    """The host asked everyone to wait, or stayed busy: fetch later. Not a failure."""

    seconds: float


Failure = Gone | RateLimited | TransientFailure | PermanentFailure | ParseFailure | Poison
Outcome = Fetched | NotModified | Processed | Failure | HostWait
HARD: tuple[type, ...] = (Gone, PermanentFailure, ParseFailure, Poison)


def fetch_failure(err: FetchError) -> Failure:
    """The outcome of a fetch that raised ``err``: by its HTTP status and its class, never its message."""
    if err.status == 410:
        return Gone(err.kind, err.reason)
    if err.status in (429, 503):
        return RateLimited(err.kind, err.reason, err.retry_after)
    if isinstance(err, PermanentFetchError):
        return PermanentFailure(err.kind, err.reason)
    return TransientFailure(err.kind, err.reason)


# --- the update ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FeedUpdate:
    """The new state of some of a feed's columns. ``None`` (or False) leaves a column as it is."""

    next_fetch_at: datetime | None = None
    poll_interval: int | None = None
    release_claim: bool = True  # the scheduler may claim the feed again
    fetched: bool = False  # last_fetched_at = now
    succeeded: bool = False  # last_success_at = now; last error cleared (replaced by error_message, a note, if set)
    new_entries: bool = False  # last_new_entry_at = now
    error_count: int | None = None
    hard_error_count: int | None = None
    error_kind: str | None = None  # with error_message: last_error(_kind), last_error_at = now
    error_message: str | None = None
    disable_reason: str | None = None  # disabled_at = now (unless already), with this reason
    move_to: str | None = None  # the feed takes this URL; the old one becomes an alias
    # validators and channel facts; title only fills a missing one (a name given at subscription wins)
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    title: str | None = None
    site_url: str | None = None
    language: str | None = None

    @property
    def changes_nothing(self) -> bool:
        return self == NOTHING


NOTHING = FeedUpdate(release_claim=False)


# --- the rule ------------------------------------------------------------------------------------------


def decide(feed: Feed, outcome: Outcome, now: datetime, settings: Settings,
           rand: Callable[[], float] = random.random) -> FeedUpdate:
    """What ``outcome`` does to ``feed`` at ``now`` (see the module docstring). ``rand`` draws the jitter."""
    match outcome:
        case HostWait(seconds):
            return FeedUpdate(next_fetch_at=max(feed.next_fetch_at, now + timedelta(seconds=seconds)))
        case Fetched(moved):
            return _moved(feed, moved, FeedUpdate(release_claim=False))
        case NotModified():
            sched = next_fetch_at(
                now, poll_interval=feed.poll_interval, had_new_entries=False,
                hints=Hints(cache_max_age=outcome.cache_max_age, retry_after=outcome.retry_after),
                min_interval=settings.min_interval, max_interval=settings.max_interval, rand=rand)
            return _moved(feed, outcome.moved, FeedUpdate(
                next_fetch_at=sched.at, poll_interval=sched.interval, fetched=True, succeeded=True,
                error_count=0, hard_error_count=0, etag=outcome.etag, last_modified=outcome.last_modified))
        case Processed():
            sched = next_fetch_at(
                now, poll_interval=feed.poll_interval, published=outcome.published,
                had_new_entries=outcome.new_entries > 0,
                hints=Hints(ttl_minutes=outcome.ttl_minutes, update_period_minutes=outcome.update_period_minutes,
                            cache_max_age=outcome.cache_max_age),
                min_interval=settings.min_interval, max_interval=settings.max_interval, rand=rand)
            return FeedUpdate(
                next_fetch_at=sched.at, poll_interval=sched.interval, fetched=True, succeeded=True,
                new_entries=outcome.new_entries > 0, error_count=0, hard_error_count=0,
                etag=outcome.etag, last_modified=outcome.last_modified, body_hash=outcome.body_hash,
                title=feed_title(outcome.title), site_url=site_url(outcome.site_url), language=outcome.language,
                error_kind="truncated" if outcome.note else None, error_message=outcome.note)
        case _:
            return _failed(feed, outcome, now, settings, rand)


def _failed(feed: Feed, failure: Failure, now: datetime, settings: Settings,
            rand: Callable[[], float]) -> FeedUpdate:
    errors = feed.error_count + 1
    hard = feed.hard_error_count + (1 if isinstance(failure, HARD) else 0)
    retry_after = failure.retry_after if isinstance(failure, RateLimited) else None
    delay = backoff(errors, base=settings.backoff_base, cap=float(settings.max_interval), rand=rand(),
                    retry_after=retry_after)
    return FeedUpdate(
        next_fetch_at=now + timedelta(seconds=delay), fetched=True, error_count=errors, hard_error_count=hard,
        error_kind=failure.kind, error_message=failure.message,
        disable_reason=disable_reason(feed, failure, hard, now, settings))


def disable_reason(feed: Feed, failure: Failure, hard: int, now: datetime, settings: Settings) -> str | None:
    """Why the feed is disabled after ``failure`` (``hard``: its run of hard failures, this one included),
    or None to keep trying."""
    if isinstance(failure, Gone):
        return f"gone (HTTP 410): {failure.message}"
    if not isinstance(failure, HARD) or hard < settings.disable_after_errors:
        return None
    since = feed.last_success_at or feed.created_at  # never succeeded: failing since it was added
    if now - since < timedelta(days=settings.disable_after_days):
        return None
    return f"{hard} hard failures in a row ({failure.kind}); last: {failure.message}"


def _moved(feed: Feed, moved: Moved | None, update: FeedUpdate) -> FeedUpdate:
    if moved is None or moved.to == feed.url:
        return update
    if moved.taken_by is not None:
        reason = f"moved permanently to {moved.to}, already subscribed as feed {moved.taken_by}"
        return replace(update, disable_reason=reason, release_claim=True)
    return replace(update, move_to=moved.to)
