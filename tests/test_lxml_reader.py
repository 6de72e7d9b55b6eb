"""The lxml reader (worker/parse/lxml_reader.py) on its own fixtures: each feed in tests/data/lxml_reader is read
into exactly the FeedMeta and RawEntry fields written in the JSON beside it."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from worker.parse.lxml_reader import parse_fast_or_reason

DATA = ROOT / "tests" / "data" / "lxml_reader"
FIXTURES = sorted(p for p in DATA.iterdir() if p.suffix in (".rss", ".atom"))


def _plain(value: Any) -> Any:
    """A model value as the JSON expectations write it (datetimes in ISO 8601)."""
    return value.isoformat() if isinstance(value, datetime) else value


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_fixture_reads_as_its_expectation(path: Path) -> None:
    expected = json.loads(path.with_name(path.stem + ".expected.json").read_text())
    feed, declined = parse_fast_or_reason(path.read_bytes(), expected["url"])
    assert feed is not None, declined
    assert {k: _plain(v) for k, v in dataclasses.asdict(feed.meta).items()} == expected["meta"]
    got = [{k: _plain(v) for k, v in dataclasses.asdict(e).items()} for e in feed.entries]
    assert len(got) == len(expected["entries"])
    for entry, want in zip(got, expected["entries"], strict=True):
        assert entry == want


def test_every_fixture_has_an_expectation() -> None:
    assert FIXTURES
    for path in FIXTURES:
        assert path.with_name(path.stem + ".expected.json").exists(), path.name
