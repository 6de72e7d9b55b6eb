"""A feed's stored state as one typed, read-only row. Pure: the store fills it, everything else reads it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Feed:
    """One ``feeds`` row. Frozen: a change to a feed is a :class:`worker.feed_state.decide.FeedUpdate`
    that the store applies, never an edit of this object."""

    id: int
    url: str
    title: str | None
    site_url: str | None
    language: str | None
    default_tz: str | None  # zone for dates written without one; None: the settings' default
    etag: str | None
    last_modified: str | None
    body_hash: str | None  # of the last body processed: the same body again is not parsed
    last_fetched_at: datetime | None
    last_success_at: datetime | None
    last_new_entry_at: datetime | None
    next_fetch_at: datetime
    poll_interval: int  # seconds, adapted to how often the feed publishes
    claimed_until: datetime | None
    error_count: int  # failures in a row, of any kind; 0 after a success
    hard_error_count: int  # failures in a row that will not heal on their own; they lead to disabling
    last_error: str | None
    last_error_kind: str | None
    last_error_at: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None
    created_at: datetime
    boilerplate_keys: tuple[str, ...]  # paragraphs learned as this feed's boilerplate


FEED_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Feed))
