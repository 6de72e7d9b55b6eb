"""Every input of the shared corpus (about 1,270 feeds from eight projects' test suites) through parse and
normalise: no unhandled error, an outcome for every input, ≥ 95% of the entries feedparser sees with a link
or id come out as articles, and JSON Feed items come out.

Inputs are read in place (see corpus/feeds/MANIFEST.md): every data file except the expected-output JSON
(``*_expected.json``, ``*.serde.json``, rss-parser's ``test/output/``, and gofeed's ``X.json`` beside ``X.xml``).
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import feedparser
import pytest

from tests.conftest import CORPUS
from worker.errors import ParseError
from worker.normalize.dates import parse_date
from worker.normalize.entry import normalize_entries
from worker.normalize.html import clean_title
from worker.normalize.urls import canonicalize_url
from worker.parse.feed import parse_feed

NOW = datetime(2026, 1, 1, tzinfo=UTC)
_FEED_SUFFIXES = (".xml", ".rss", ".atom", ".rdf")


def corpus_inputs() -> list[Path]:
    out = []
    for path in sorted(CORPUS.rglob("*")):
        rel = path.relative_to(CORPUS).as_posix()
        if not path.is_file() or rel.startswith("LICENSES/") or rel == "MANIFEST.md":
            continue
        if path.suffix == ".json":
            if path.name.endswith(("_expected.json", ".serde.json")) or rel.startswith("rss-parser/test/output/"):
                continue
            if rel.startswith("gofeed/") and any(path.with_suffix(s).exists() for s in _FEED_SUFFIXES):
                continue
        out.append(path)
    return out


def feedparser_keyed_entries(body: bytes) -> int:
    """How many entries plain feedparser finds with a link or an id (0 when it cannot read the body)."""
    try:
        result = feedparser.parse(io.BytesIO(body), sanitize_html=False, resolve_relative_uris=False)
    except Exception:
        return 0
    return sum(1 for e in result.entries if dict.get(e, "link") or dict.get(e, "id"))


@dataclass
class Outcome:
    inputs: int = 0
    parse_errors: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    seen: int = 0  # entries feedparser sees with a link or id (XML) / items with an id or url (JSON)
    stored: int = 0  # of those, how many came out as articles
    json_items: int = 0
    json_articles: int = 0
    unhandled: list[str] = field(default_factory=list)
    short: list[tuple[str, int, int]] = field(default_factory=list)


@lru_cache(maxsize=1)
def run_corpus() -> Outcome:
    out = Outcome()
    for path in corpus_inputs():
        out.inputs += 1
        rel = path.relative_to(CORPUS).as_posix()
        body = path.read_bytes()
        is_json = path.suffix == ".json"
        try:
            parsed = parse_feed(body, f"file://{path}")
            articles, skipped = normalize_entries(parsed.entries, parsed.meta, NOW)
        except ParseError as err:
            out.parse_errors[err.reason.split(":")[0]] += 1
            seen = 0 if is_json else feedparser_keyed_entries(body)
            out.seen += seen
            if seen:
                out.short.append((rel, seen, 0))
            continue
        except Exception as err:  # the thing this test exists to catch
            out.unhandled.append(f"{rel}: {type(err).__name__}: {err}")
            continue
        out.skipped.update(reason for _, reason in skipped)
        if is_json:
            seen = sum(1 for e in parsed.entries if e.guid or e.link)
            out.json_items += seen
            out.json_articles += min(len(articles), seen)
        else:
            seen = feedparser_keyed_entries(body)
        stored = min(len(articles), seen)
        out.seen += seen
        out.stored += stored
        if stored < seen:
            out.short.append((rel, seen, stored))
    return out


def test_corpus_is_there() -> None:
    assert len(corpus_inputs()) > 1200


def test_no_unhandled_errors() -> None:
    assert run_corpus().unhandled == []


def test_every_input_gets_an_outcome() -> None:
    out = run_corpus()
    assert out.inputs == len(corpus_inputs())
    assert sum(out.parse_errors.values()) < out.inputs * 0.05  # the few non-feeds, not a general failure


def test_at_least_95_percent_of_keyed_entries_become_articles() -> None:
    out = run_corpus()
    assert out.seen > 2000
    share = out.stored / out.seen
    assert share >= 0.95, f"{share:.3f} stored; short: {out.short[:20]}"


def test_json_feed_items_come_out() -> None:
    out = run_corpus()
    assert out.json_items > 100
    assert out.json_articles / out.json_items >= 0.95


@pytest.mark.parametrize(
    "rel",
    [
        "feed-rs/feed-rs/fixture/jsonfeed/jsonfeed_elastic_1.1.json",  # JSON Feed 1.1, real blog
        "rsparser/Tests/RSParserTests/Resources/DaringFireball.json",  # JSON Feed 1.0, real blog
        "gofeed/testdata/parser/json/version_json_11.json",  # gofeed spec sample
    ],
)
def test_json_feed_inputs_all_normalise(rel: str) -> None:
    path = CORPUS / rel
    parsed = parse_feed(path.read_bytes(), f"file://{path}")
    assert parsed.meta.format in ("json10", "json11")
    articles, skipped = normalize_entries(parsed.entries, parsed.meta, NOW)
    assert parsed.entries and len(articles) == len(parsed.entries) and not skipped


@pytest.mark.parametrize(
    "rel",
    [
        "gofeed/testdata/parser/universal/empty_feed.xml",  # empty file
        "gofeed/testdata/parser/universal/unknown_feed.xml",  # XML that is not a feed
        "gofeed/testdata/parser/universal/invalid.json",  # broken JSON
        "rss-parser/test/input/unrecognized.rss",  # an HTML page
    ],
)
def test_known_non_feeds_are_parse_errors(rel: str) -> None:
    with pytest.raises(ParseError):
        parse_feed((CORPUS / rel).read_bytes(), "https://ex.com/feed")


# --- agreement with other parsers' expected outputs (where their rules and ours coincide) -----------------

_BASE = "https://example.org/feed"


def _instant(value: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def test_feed_rs_expected_dates_titles_and_links_agree() -> None:
    """feed-rs's ``*.serde.json``: entry published (else updated) instant, plain-text title, single link."""
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    diffs: list[tuple[str, ...]] = []
    far = datetime(2030, 1, 1, tzinfo=UTC)
    for expected_path in sorted((CORPUS / "feed-rs").rglob("*.serde.json")):
        stem = expected_path.name.removesuffix(".serde.json")
        sources = [p for p in expected_path.parent.glob(stem + ".*") if not p.name.endswith(".serde.json")]
        expected = json.loads(expected_path.read_text())
        parsed = parse_feed(sources[0].read_bytes(), _BASE)
        articles, _ = normalize_entries(parsed.entries, parsed.meta, far)
        entries = expected.get("entries") or []
        assert len(articles) == len(entries), expected_path.name
        for art, ent in zip(articles, entries, strict=True):
            when = _instant(ent.get("published") or ent.get("updated") or "")
            if when is not None and when.year >= 1990 and when < far:  # our rules treat the rest as missing
                total["date"] += 1
                agree["date"] += art.published_at == when
                if art.published_at != when:
                    diffs.append((stem, "date", str(art.published_at), str(when)))
            title = ent.get("title") or {}
            if title.get("content_type") == "text/plain":
                total["title"] += 1
                agree["title"] += art.title == clean_title(title["content"])
            links = ent.get("links") or []
            if len(links) == 1:
                total["url"] += 1
                agree["url"] += art.url == canonicalize_url(links[0]["href"], _BASE)
    assert min(total.values()) > 50
    for key in total:
        assert agree[key] / total[key] >= 0.98, (key, agree, total, diffs[:10])


# gofeed's deliberately malformed cases (an Atom <source> with mismatched tags): no readable entry in them
GOFEED_UNREADABLE = [
    "parser/atom/atom10_feed_entry_source_logo.xml",
    "parser/atom/atom10_feed_entry_source_title_html_escaped_markup.xml",
    "parser/atom/atom10_feed_entry_source_title_text.xml",
]


def test_gofeed_expected_dates_titles_and_links_agree() -> None:
    """gofeed's expected JSON beside its inputs: the same number of items, then parsed dates, titles and item
    links, entry by entry."""
    root = CORPUS / "gofeed" / "testdata"
    agree: Counter[str] = Counter()
    total: Counter[str] = Counter()
    diffs: list[tuple[str, ...]] = []
    unreadable: list[str] = []
    miscounted: list[tuple[str, int, int]] = []
    for expected_path in sorted(root.rglob("*.json")):
        if expected_path.name.endswith("_expected.json"):
            source = expected_path.with_name(expected_path.name.replace("_expected.json", ".json"))
        else:
            source = expected_path.with_suffix(".xml")
        if not source.exists():
            continue
        expected = json.loads(expected_path.read_text())
        items = expected.get("items") or expected.get("entries") or []
        if not items:
            continue
        rel = source.relative_to(root).as_posix()
        try:
            parsed = parse_feed(source.read_bytes(), _BASE)
        except ParseError:
            unreadable.append(rel)
            continue
        if len(parsed.entries) != len(items):
            miscounted.append((rel, len(parsed.entries), len(items)))
            continue
        for raw, item in zip(parsed.entries, items, strict=True):
            for value, key in ((raw.published, "publishedParsed"), (raw.published, "pubDateParsed"),
                               (raw.published, "date_published"), (raw.updated, "updatedParsed"),
                               (raw.updated, "date_modified")):
                when = _instant(item.get(key) or "")
                if value and when is not None and when.year >= 1990:
                    total["date"] += 1
                    agree["date"] += parse_date(value, "UTC") == when
            if isinstance(item.get("title"), str) and raw.title:
                total["title"] += 1
                agree["title"] += clean_title(raw.title) == clean_title(item["title"])
            link = item.get("link") or item.get("url")
            if isinstance(link, str) and raw.link:
                total["url"] += 1
                same = canonicalize_url(raw.link, _BASE) == canonicalize_url(link, _BASE)
                agree["url"] += same
                if not same:
                    diffs.append((source.name, raw.link, link))
    assert unreadable == GOFEED_UNREADABLE
    assert miscounted == []  # (input, our entries, gofeed's items)
    assert total["date"] >= 15 and total["title"] >= 40 and total["url"] >= 10
    for key in total:
        # the one known url difference: an RSS <link uri="at://..."> whose text feedparser drops
        assert agree[key] / total[key] >= 0.9, (key, agree, total, diffs)


_JUNK = [b"\x00", b"&#xD800;", b"&#0;", b"<![CDATA[", b"]]>", b'<!DOCTYPE x [<!ENTITY a "b">]>', b"&a;", b"<", b">",
         b"&", b'"', b"\xff\xfe", b"\xef\xbb\xbf", b"<item>", b"</item>", b"<entry>", b"{", b"}", b"\x92",
         b"&#x110000;", b"&nbsp;", b"<script>", b"javascript:", b"9999-12-31T23:59:59Z", b"0000-00-00"]


def test_mutated_corpus_inputs_never_crash() -> None:
    """A fixed-seed fuzz: 400 corpus files with junk inserted, bytes deleted or flipped. Every one must
    give a ParseError or articles whose strings are NUL-free UTF-8; no item may fail unexpectedly."""
    rng = random.Random(4)
    files = [p for p in corpus_inputs() if p.stat().st_size < 100_000]
    for _ in range(400):
        path = rng.choice(files)
        body = bytearray(path.read_bytes())
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(len(body) + 1)
            op = rng.random()
            if op < 0.4:
                body[i:i] = rng.choice(_JUNK)
            elif op < 0.7:
                del body[i : i + rng.randint(1, 50)]
            elif body:
                body[min(i, len(body) - 1)] = rng.randrange(256)
        try:
            parsed = parse_feed(bytes(body), "https://ex.com/f")
        except ParseError:
            continue
        articles, skipped = normalize_entries(parsed.entries, parsed.meta, NOW)
        assert not [r for _, r in skipped if r.startswith("unexpected")], path
        for a in articles:
            for value in (a.guid, a.title, a.content_text, a.content_html, a.summary, a.author, a.publisher):
                if value:
                    assert "\x00" not in value
                    value.encode("utf-8")
