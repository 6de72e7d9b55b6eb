"""Feed dates to UTC (pure).

Rules:
- the publication time is the first usable of ``published`` → ``updated`` → ``dc:date`` → first-seen (``now``);
- a date written without a zone is read in the feed's default zone (``FeedMeta.default_tz``, else the
  ``WIREFEED_DEFAULT_TIMEZONE`` setting), then converted to UTC;
- a date more than ``future_skew_seconds`` in the future is clamped to first-seen and the raw string kept;
- a date before 1990 (year 0, Unix epoch 0, "0001-01-01") counts as missing; so does one that cannot be read.

RFC 822 (RSS) and ISO 8601 / RFC 3339 (Atom, JSON Feed) are read here with two compiled patterns. Other forms
(asctime, locales, legacy variants) are the parser's to read: :func:`pick_published` takes its reading (feedparser's
``*_parsed``, UTC) when the raw string is not one of these.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["MIN_YEAR", "parse_date", "pick_published", "to_utc"]

MIN_YEAR = 1990

_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("jan", "januar", "janv", "ene", "gen"),
            ("feb", "febr", "fev", "fév", "févr"),
            ("mar", "mär", "maerz", "mrz", "mars"),
            ("apr", "avr", "abr"),
            ("may", "mai", "mei", "mag", "mayo"),
            ("jun", "juin", "giu"),
            ("jul", "juil", "lug"),
            ("aug", "aoû", "aou", "ago"),
            ("sep", "sept", "set"),
            ("oct", "okt", "ott", "out"),
            ("nov",),
            ("dec", "dez", "déc", "dic"),
        ),
        start=1,
    )
    for m in names
}
# RFC 822 zone names plus the common North American abbreviations; others are treated as "no zone".
_ZONES = {
    "ut": 0, "utc": 0, "gmt": 0, "z": 0, "est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6,
    "pst": -8, "pdt": -7, "akst": -9, "akdt": -8, "hst": -10, "bst": 1, "cet": 1, "cest": 2, "eet": 2,
    "eest": 3, "wet": 0, "west": 1, "msk": 3, "ist": 5.5, "jst": 9, "kst": 9, "aest": 10, "aedt": 11,
}

_ISO = re.compile(
    r"\s*(\d{4})-?(\d{2})-?(\d{2})"
    r"(?:[Tt ]\s*(\d{1,2}):?(\d{2})(?::?(\d{2})(?:[.,](\d{1,9}))?)?)?"
    r"\s*(?:([Zz])|([+-])(\d{2}):?(\d{2})?|\s*\(?([A-Za-z]{2,5})\)?)?\s*$"
)
_RFC822 = re.compile(
    r"\s*(?:[^\W\d_]{2,}\.?,?\s*)?(\d{1,2})[\s\-]+([^\W\d_]{3,9})\.?[\s\-]+(\d{2,4}),?"
    r"(?:\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?"
    r"\s*(?:([+-])(\d{2}):?(\d{2})|\(?([A-Za-z]{1,5})\)?)?\s*(?:\([^)]*\))?\s*$"
)


@lru_cache(maxsize=256)
def _zone(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _build(
    y: int, mo: int, d: int, h: int, mi: int, s: int, us: int, offset_min: int | None, default_tz: str | None
) -> datetime | None:
    if s == 60:
        s = 59  # leap second
    if h == 24 and mi == 0 and s == 0:
        h, extra = 0, timedelta(days=1)
    else:
        extra = timedelta(0)
    try:
        if offset_min is None:
            dt = datetime(y, mo, d, h, mi, s, us, tzinfo=_zone(default_tz))
        else:
            dt = datetime(y, mo, d, h, mi, s, us, tzinfo=timezone(timedelta(minutes=offset_min)))
        return (dt + extra).astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _parse_iso(m: re.Match[str], default_tz: str | None) -> datetime | None:
    y, mo, d, h, mi, s, frac, z, sign, oh, om, zname = m.groups()
    if z:
        offset: int | None = 0
    elif zname:
        # a zone abbreviation (pages write "2021-01-03T17:40:00EET"); an unknown one counts as no zone
        hours = _ZONES.get(zname.lower())
        offset = None if hours is None else round(hours * 60)
    elif sign:
        offset = int(oh) * 60 + int(om or 0)
        if offset >= 24 * 60:
            return None
        if sign == "-":
            offset = -offset
    else:
        offset = None
    us = int((frac or "0")[:6].ljust(6, "0"))
    return _build(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0), us, offset, default_tz)


def _parse_rfc822(m: re.Match[str], default_tz: str | None) -> datetime | None:
    d, mon, y, h, mi, s, sign, oh, om, zname = m.groups()
    month = _MONTHS.get(mon.lower()) or _MONTHS.get(mon[:3].lower())
    if month is None:
        return None
    year = int(y)
    if len(y) == 2:
        year += 2000 if year < 70 else 1900
    elif len(y) == 3:
        return None
    offset: int | None
    if sign:
        offset = int(oh) * 60 + int(om)
        if offset >= 24 * 60:
            return None
        if sign == "-":
            offset = -offset
    elif zname:
        hours = _ZONES.get(zname.lower())
        if hours is None and len(zname) == 1 and zname.isalpha():  # military zones: treat as UTC
            hours = 0
        offset = None if hours is None else int(hours * 60)
    else:
        offset = None
    return _build(year, month, int(d), int(h or 0), int(mi or 0), int(s or 0), 0, offset, default_tz)


def parse_date(raw: str | None, default_tz: str | None = "UTC") -> datetime | None:
    """``raw`` as an aware UTC datetime, or None when it cannot be read. Zone-less → ``default_tz``."""
    if not raw:
        return None
    raw = raw.strip()
    if not raw or len(raw) > 200:
        return None
    m = _ISO.match(raw) if raw[0].isdigit() else None
    if m is not None:
        return _parse_iso(m, default_tz)
    m = _RFC822.match(raw)
    if m is not None:
        return _parse_rfc822(m, default_tz)
    return None


def to_utc(dt: datetime, default_tz: str | None = "UTC") -> datetime:
    """An aware UTC datetime; a naive one is read in ``default_tz``."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_zone(default_tz))
    return dt.astimezone(UTC)


def _usable(dt: datetime | None) -> bool:
    return dt is not None and dt.year >= MIN_YEAR


def pick_published(
    candidates: list[tuple[str | None, datetime | None]],
    now: datetime,
    default_tz: str | None = "UTC",
    future_skew_seconds: int = 3600,
) -> tuple[datetime, str | None]:
    """(published_at in UTC, raw string kept when clamped or unreadable) from ordered (raw, parsed) pairs.

    ``parsed`` is the parser's own reading (naive = UTC), used when the raw string is not readable here.
    """
    now = to_utc(now)
    kept_raw: str | None = None
    for raw, parsed in candidates:
        if raw is None and parsed is None:
            continue
        dt = parse_date(raw, default_tz) if raw else None
        if dt is None and parsed is not None:
            dt = to_utc(parsed, "UTC")
        if not _usable(dt):
            if kept_raw is None and raw:
                kept_raw = raw.strip()[:200]
            continue
        assert dt is not None
        if (dt - now).total_seconds() > future_skew_seconds:
            return now, (raw or dt.isoformat()).strip()[:200]
        return dt, kept_raw
    return now, kept_raw
