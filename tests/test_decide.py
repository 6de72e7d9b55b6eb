"""What each outcome does to a feed (worker.feed_state.decide), as one table; and the README's table of it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest

from tests.conftest import ROOT
from worker.errors import FetchError, PermanentFetchError, TransientFetchError
from worker.feed_state.decide import (
    NOTHING,
    FeedUpdate,
    Fetched,
    Gone,
    HostWait,
    Moved,
    NotModified,
    Outcome,
    ParseFailure,
    PermanentFailure,
    Poison,
    Processed,
    RateLimited,
    TransientFailure,
    decide,
    fetch_failure,
)
from worker.feed_state.model import Feed
from worker.settings import defaults

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
LONG_AGO = NOW - timedelta(days=10)
URL, NEW_URL = "https://a.example/feed", "https://b.example/feed"
SETTINGS = defaults()  # backoff base 120 s, max interval 24 h, disable after 20 hard failures over 3 days
MSG = "HTTP 403 Forbidden from a.example: the server refuses wirefeed"

FEED = Feed(
    id=7, url=URL, title="A", site_url=None, language=None, default_tz=None, etag='"v1"', last_modified=None,
    body_hash="h1", last_fetched_at=NOW - timedelta(hours=1), last_success_at=NOW - timedelta(hours=1),
    last_new_entry_at=None, next_fetch_at=NOW, poll_interval=1800, claimed_until=NOW + timedelta(minutes=10),
    error_count=0, hard_error_count=0, last_error=None, last_error_kind=None, last_error_at=None,
    disabled_at=None, disabled_reason=None, created_at=LONG_AGO, boilerplate_keys=())


def feed(**changes: object) -> Feed:
    return replace(FEED, **changes)  # type: ignore[arg-type]


def at(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def ok(**fields: object) -> FeedUpdate:
    """A success: fetched, succeeded, both error runs cleared, the claim released."""
    return FeedUpdate(fetched=True, succeeded=True, error_count=0, hard_error_count=0, **fields)  # type: ignore[arg-type]


def failed(next_in: float, errors: int, hard: int, kind: str, message: str = MSG,
           disable: str | None = None) -> FeedUpdate:
    return FeedUpdate(next_fetch_at=at(next_in), fetched=True, error_count=errors, hard_error_count=hard,
                      error_kind=kind, error_message=message, disable_reason=disable)


HOURLY = tuple(NOW - timedelta(hours=h) for h in range(4))


ROWS: list[tuple[Feed, Outcome, FeedUpdate]] = [
    # --- a new body: processing decides; nothing changes yet and the claim stays held
    (FEED, Fetched(), NOTHING),
    # ... after a 301/308: the feed takes the new URL (the old one becomes an alias)
    (FEED, Fetched(Moved(NEW_URL)), replace(NOTHING, move_to=NEW_URL)),
    # ... onto a URL another feed has: a duplicate, disabled at once (and released)
    (FEED, Fetched(Moved(NEW_URL, taken_by=9)),
     FeedUpdate(disable_reason=f"moved permanently to {NEW_URL}, already subscribed as feed 9")),
    # ... a "move" to the URL it already has changes nothing
    (FEED, Fetched(Moved(URL)), NOTHING),
    # --- not modified (304): a success; errors cleared; interval grows 25% (no jitter with rand 0)
    (feed(error_count=3, hard_error_count=2), NotModified("304"),
     ok(next_fetch_at=at(2250), poll_interval=2250)),
    # ... new validators are kept
    (FEED, NotModified("304", etag='"v2"', last_modified="Tue, 02 Jun 2026 10:00:00 GMT"),
     ok(next_fetch_at=at(2250), poll_interval=2250, etag='"v2"', last_modified="Tue, 02 Jun 2026 10:00:00 GMT")),
    # ... same body hash; Cache-Control max-age stretches this one wait, not the stored interval
    (FEED, NotModified("hash", cache_max_age=7200), ok(next_fetch_at=at(7200), poll_interval=2250)),
    # ... a Retry-After on a 304 stretches it too
    (FEED, NotModified("304", retry_after=3 * 86400), ok(next_fetch_at=at(3 * 86400), poll_interval=2250)),
    # ... and a 301/308 before the 304 moves the feed
    (FEED, NotModified("304", moved=Moved(NEW_URL)),
     ok(next_fetch_at=at(2250), poll_interval=2250, move_to=NEW_URL)),
    # --- processed: hourly items, poll every 30 min; new items noted; channel facts and validators kept
    (feed(error_count=2, hard_error_count=2),
     Processed(new_entries=2, published=HOURLY, title="T", site_url="https://a.example/", language="en",
               etag='"v2"', last_modified="lm", body_hash="h2"),
     ok(next_fetch_at=at(1800), poll_interval=1800, new_entries=True, title="T", site_url="https://a.example/",
        language="en", etag='"v2"', last_modified="lm", body_hash="h2")),
    # ... nothing new and no dates: the interval drifts 25% longer
    (FEED, Processed(new_entries=0), ok(next_fetch_at=at(2250), poll_interval=2250)),
    # ... an RSS ttl of an hour floors the stored interval
    (FEED, Processed(new_entries=1, ttl_minutes=60), ok(next_fetch_at=at(3600), poll_interval=3600,
                                                        new_entries=True)),
    # --- 410 Gone: hard, and disabled at once
    (FEED, Gone("http_410", "HTTP 410 Gone from a.example"),
     failed(60, 1, 1, "http_410", "HTTP 410 Gone from a.example",
            disable="gone (HTTP 410): HTTP 410 Gone from a.example")),
    # --- 429/503 with Retry-After: soft; the longer Retry-After wins over the backoff
    (FEED, RateLimited("http_429", MSG, retry_after=7200), failed(7200, 1, 0, "http_429")),
    # ... an absurd Retry-After is capped at a week
    (FEED, RateLimited("http_503", MSG, retry_after=1e9), failed(7 * 86400, 1, 0, "http_503")),
    # ... without one: plain backoff, half of the 2-minute first step (rand 0)
    (FEED, RateLimited("http_503", MSG), failed(60, 1, 0, "http_503")),
    # --- transient: soft; the backoff doubles with the run of errors (5th: 120 * 2^4, half of it)
    (feed(error_count=4, hard_error_count=5), TransientFailure("timeout", MSG), failed(960, 5, 5, "timeout")),
    # ... capped at the longest interval (half of 24 h with rand 0)
    (feed(error_count=100), TransientFailure("http_404", MSG), failed(43200, 101, 0, "http_404")),
    # ... soft failures never disable, however long the run
    (feed(error_count=500, hard_error_count=30, last_success_at=LONG_AGO), TransientFailure("http_404", MSG),
     failed(43200, 501, 30, "http_404")),
    # ... not even for a feed that never succeeded
    (feed(error_count=500, last_success_at=None), TransientFailure("timeout", MSG), failed(43200, 501, 0, "timeout")),
    # --- permanent: hard; the 20th in a row, with no success for 10 days: disabled
    (feed(error_count=19, hard_error_count=19, last_success_at=LONG_AGO), PermanentFailure("http_403", MSG),
     failed(43200, 20, 20, "http_403", disable=f"20 hard failures in a row (http_403); last: {MSG}")),
    # ... one short of the threshold: keep trying
    (feed(error_count=18, hard_error_count=18, last_success_at=LONG_AGO), PermanentFailure("http_403", MSG),
     failed(43200, 19, 19, "http_403")),
    # ... the threshold reached within hours of a success: keep trying (a burst cannot disable)
    (feed(error_count=19, hard_error_count=19, last_success_at=NOW - timedelta(hours=5)),
     PermanentFailure("http_403", MSG), failed(43200, 20, 20, "http_403")),
    # ... never succeeded: failing since it was added (10 days ago): disabled
    (feed(error_count=24, hard_error_count=24, last_success_at=None), PermanentFailure("ssrf", MSG),
     failed(43200, 25, 25, "ssrf", disable=f"25 hard failures in a row (ssrf); last: {MSG}")),
    # ... never succeeded, added an hour ago: keep trying
    (feed(error_count=24, hard_error_count=24, last_success_at=None, created_at=NOW - timedelta(hours=1)),
     PermanentFailure("ssrf", MSG), failed(43200, 25, 25, "ssrf")),
    # --- a body that is not a feed: hard, so a feed that can never be parsed is disabled in the end
    (FEED, ParseFailure("parse", "not a feed"), failed(60, 1, 1, "parse", "not a feed")),
    (feed(error_count=19, hard_error_count=19, last_success_at=LONG_AGO), ParseFailure("parse", "not a feed"),
     failed(43200, 20, 20, "parse", "not a feed", disable="20 hard failures in a row (parse); last: not a feed")),
    # --- poison: hard, kind internal, the same rule
    (FEED, Poison("internal error after 3 attempts: KeyError"),
     failed(60, 1, 1, "internal", "internal error after 3 attempts: KeyError")),
    (feed(error_count=19, hard_error_count=19, last_success_at=LONG_AGO), Poison("boom"),
     failed(43200, 20, 20, "internal", "boom", disable="20 hard failures in a row (internal); last: boom")),
    # --- the host asked to wait: later, no error counted, claim released
    (feed(error_count=2), HostWait(3600), FeedUpdate(next_fetch_at=at(3600))),
    # ... never earlier than the feed's own schedule
    (feed(next_fetch_at=at(86400)), HostWait(10), FeedUpdate(next_fetch_at=at(86400))),
]


@pytest.mark.parametrize(("before", "outcome", "expected"), ROWS)
def test_decide(before: Feed, outcome: Outcome, expected: FeedUpdate) -> None:
    assert decide(before, outcome, NOW, SETTINGS, rand=lambda: 0.0) == expected


def test_every_outcome_has_a_row() -> None:
    assert {type(outcome) for _, outcome, _ in ROWS} == set(get_args(Outcome))


def test_jitter_only_lengthens_the_backoff() -> None:
    low = decide(FEED, TransientFailure("timeout", MSG), NOW, SETTINGS, rand=lambda: 0.0)
    high = decide(FEED, TransientFailure("timeout", MSG), NOW, SETTINGS, rand=lambda: 0.999)
    assert low.next_fetch_at == at(60) and high.next_fetch_at is not None and at(119) < high.next_fetch_at <= at(120)


def test_settings_move_the_thresholds() -> None:
    strict = SETTINGS.model_copy(update={"disable_after_errors": 2, "disable_after_days": 0.0, "backoff_base": 10.0})
    update = decide(feed(hard_error_count=1, error_count=1), PermanentFailure("http_403", MSG), NOW, strict,
                    rand=lambda: 0.0)
    assert update.disable_reason is not None and update.next_fetch_at == at(10)  # 10 * 2^1, half of it


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (PermanentFetchError("x", kind="http_410", status=410), Gone),  # by status, not by kind text
        (TransientFetchError("x", kind="http_429", status=429, retry_after=5.0), RateLimited),
        (TransientFetchError("x", kind="http_503", status=503), RateLimited),  # with or without Retry-After
        (TransientFetchError("x", kind="http_404", status=404), TransientFailure),
        (TransientFetchError("x", kind="timeout"), TransientFailure),  # no answer at all
        (PermanentFetchError("x", kind="http_403", status=403), PermanentFailure),
        (PermanentFetchError("x", kind="too_large"), PermanentFailure),
        (PermanentFetchError("x", kind="http_410"), PermanentFailure),  # a kind that looks like 410 is not 410
        (FetchError("x"), TransientFailure),  # unclassified: soft, never disables
    ],
)
def test_fetch_failure(err: FetchError, expected: type) -> None:
    outcome = fetch_failure(err)
    assert type(outcome) is expected and outcome.kind == err.kind and outcome.message == err.reason
    if isinstance(outcome, RateLimited):
        assert outcome.retry_after == err.retry_after


def test_the_readme_table_names_every_outcome() -> None:
    """The README's "Failures and disabling" table has one row per outcome type, and no other."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Failures and disabling", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"^\| `(\w+)`", section, flags=re.M))
    outcomes = {t.__name__ for t in get_args(Outcome)} | {"Moved"}
    assert named == outcomes
    for setting in ("WIREFEED_BACKOFF_BASE_SECONDS", "WIREFEED_DISABLE_AFTER_ERRORS", "WIREFEED_DISABLE_AFTER_DAYS"):
        assert setting in section
