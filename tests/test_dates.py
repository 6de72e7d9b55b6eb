"""Date rules (worker/normalize/dates.py): formats, zones, clamping, the 1990 floor and the fallback order."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from worker.normalize.dates import parse_date, pick_published

NOW = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


PARSE_CASES = [
    # RFC 822 with numeric zone (the AllAfrica fixture)
    ("Wed, 17 Sep 2025 05:00:00 +0000", "UTC", utc(2025, 9, 17, 5, 0)),
    # RFC 822 with GMT
    ("Tue, 10 Jun 2003 04:00:00 GMT", "UTC", utc(2003, 6, 10, 4, 0)),
    # RFC 822 with a US zone name (gofeed rss pubDate cases use EST/PDT)
    ("Sun, 19 May 2002 15:21:36 EST", "UTC", utc(2002, 5, 19, 20, 21, 36)),
    # RFC 822 two-digit year, no seconds, no weekday
    ("10 Jun 03 04:00 PDT", "UTC", utc(2003, 6, 10, 11, 0)),
    # RFC 822 without a zone: read in the feed's default zone (Berlin is UTC+2 in summer)
    ("Wed, 17 Sep 2025 05:00:00", "Europe/Berlin", utc(2025, 9, 17, 3, 0)),
    # RFC 3339 with offset (the Ahram fixture)
    ("2025-09-16T18:00:00+03:00", "UTC", utc(2025, 9, 16, 15, 0)),
    # RFC 3339 Z with fraction (Atom spec example)
    ("2003-12-13T18:30:02.25Z", "UTC", datetime(2003, 12, 13, 18, 30, 2, 250000, tzinfo=UTC)),
    # ISO date-time without zone → default zone (New York is UTC-5 in January)
    ("2020-01-01T10:00:00", "America/New_York", utc(2020, 1, 1, 15, 0)),
    # ISO without zone and default UTC
    ("2020-01-01 10:00", "UTC", utc(2020, 1, 1, 10, 0)),
    # date only
    ("2003-12-13", "UTC", utc(2003, 12, 13)),
    # offset without colon
    ("2018-04-05T12:00:00-0500", "UTC", utc(2018, 4, 5, 17, 0)),
    # ISO date-time with a zone abbreviation (a Latvian page's JSON-LD: EET is UTC+2)
    ("2021-01-03T17:40:00EET", "UTC", utc(2021, 1, 3, 15, 40)),
    # ISO date-time with an unknown abbreviation: read in the default zone, as RFC 822 dates are
    ("2021-01-03T17:40:00XYZ", "Europe/Berlin", utc(2021, 1, 3, 16, 40)),
    # basic ISO format
    ("20040105T12:00:00Z", "UTC", utc(2004, 1, 5, 12, 0)),
    # 24:00 is midnight of the next day
    ("2004-01-05T24:00:00Z", "UTC", utc(2004, 1, 6)),
    # European zone abbreviation
    ("Thu, 5 Apr 2018 12:00:00 CEST", "UTC", utc(2018, 4, 5, 10, 0)),
    # asctime and other forms are left to the parser's own reading (see pick_published)
    ("Sun Jan  4 16:29:06 2004", "UTC", None),
    # year 0 cannot be read
    ("0000-00-00T00:00:00Z", "UTC", None),
    # 31 February does not exist
    ("Mon, 31 Feb 2020 10:00:00 GMT", "UTC", None),
    # junk
    ("yesterday-ish", "UTC", None),
    # empty
    ("", "UTC", None),
    # an unknown default zone falls back to UTC rather than failing
    ("2020-01-01T10:00:00", "Mars/Olympus", utc(2020, 1, 1, 10, 0)),
]


@pytest.mark.parametrize(("raw", "tz", "expected"), PARSE_CASES)
def test_parse_date(raw: str, tz: str, expected: datetime | None) -> None:
    got = parse_date(raw, tz)
    assert got == expected
    if got is not None:
        assert got.tzinfo is not None and got.utcoffset().total_seconds() == 0


PICK_CASES = [
    # published wins over updated
    ([("2025-09-01T00:00:00Z", None), ("2025-09-02T00:00:00Z", None), (None, None)], utc(2025, 9, 1), None),
    # no published: updated
    ([(None, None), ("2025-09-02T00:00:00Z", None), ("2025-09-03T00:00:00Z", None)], utc(2025, 9, 2), None),
    # only dc:date
    ([(None, None), (None, None), ("2025-09-03T00:00:00Z", None)], utc(2025, 9, 3), None),
    # nothing: first seen (now), nothing to keep
    ([(None, None), (None, None), (None, None)], NOW, None),
    # unreadable published: updated is used, raw published kept
    ([("soon", None), ("2025-09-02T00:00:00Z", None)], utc(2025, 9, 2), "soon"),
    # year 9999 is in the future: clamped to now, raw kept
    ([("9999-12-31T23:59:59Z", None)], NOW, "9999-12-31T23:59:59Z"),
    # two days ahead is beyond the one-hour skew: clamped
    ([("2025-10-03T12:00:00Z", None)], NOW, "2025-10-03T12:00:00Z"),
    # thirty minutes ahead is within the skew: kept as given
    ([("2025-10-01T12:30:00Z", None)], utc(2025, 10, 1, 12, 30), None),
    # the Unix epoch (a zero timestamp) is before 1990: missing, falls through to updated
    ([("Thu, 01 Jan 1970 00:00:00 GMT", None), ("2025-09-02T00:00:00Z", None)], utc(2025, 9, 2),
     "Thu, 01 Jan 1970 00:00:00 GMT"),
    # 1989 is missing too, and with nothing else the item is dated first-seen
    ([("1989-12-31T00:00:00Z", None)], NOW, "1989-12-31T00:00:00Z"),
    # the parser's own reading is used when the raw string is not readable here
    ([("32 Foo 2020", datetime(2020, 5, 6, 7, 8))], utc(2020, 5, 6, 7, 8), None),
    # an asctime date as feedparser reads it (naive = UTC)
    ([("Sun Jan  4 16:29:06 2004", datetime(2004, 1, 4, 16, 29, 6))], utc(2004, 1, 4, 16, 29, 6), None),
    # an unreadable date the parser could not read either falls through to the next one, raw kept
    ([("Sun Jan  4 16:29:06 2004", None), ("2025-09-02T00:00:00Z", None)], utc(2025, 9, 2),
     "Sun Jan  4 16:29:06 2004"),
]


@pytest.mark.parametrize(("candidates", "expected", "raw_kept"), PICK_CASES)
def test_pick_published(candidates: list, expected: datetime, raw_kept: str | None) -> None:
    got, kept = pick_published(candidates, NOW, "UTC", 3600)
    assert got == expected
    assert kept == raw_kept


def test_pick_published_uses_default_zone_for_zoneless() -> None:
    got, _ = pick_published([("2025-01-15T09:00:00", None)], NOW, "Asia/Tokyo", 3600)
    assert got == utc(2025, 1, 15, 0, 0)
