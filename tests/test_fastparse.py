"""The lxml reader (:mod:`worker.parse.lxml_reader`) against feedparser, the parser of record.

Over the whole test corpus (``tests/data/corpus/feeds``) and the benchmark's generated feeds: wherever the
lxml reader serves a body, its FeedMeta, its entries and the articles they normalise to (every field, fixed
``now``) equal the feedparser path's. Bodies it must not serve are declined and still parse.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache

import pytest

from bench.gen import feed_bytes
from bench.normalize_bench import generated_feed
from tests.conftest import CORPUS
from tests.test_corpus import corpus_inputs
from worker.errors import ParseError
from worker.models import ParsedFeed, RawEntry
from worker.normalize.entry import normalize_entries
from worker.parse import lxml_reader as fastparse
from worker.parse.feed import _parse_xml, harden_xml, parse_feed, repair_utf8

NOW = datetime(2026, 1, 1, tzinfo=UTC)
# 431 corpus inputs (670 entries) are served; the rest are declined on purpose (RSS 1.0/RDF, Atom 0.3, other
# encodings, malformed XML, Atom <source>, XHTML, e-mail authors, feedparser's test cases of odd constructs ...).
MIN_CORPUS_INPUTS = 420
MIN_CORPUS_ENTRIES = 650


def feedparser_path(body: bytes, url: str, content_type: str | None = None) -> ParsedFeed:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _parse_xml(harden_xml(repair_utf8(body)), url, content_type)


def _comparable(entry: RawEntry) -> RawEntry:
    """The entry with a base URL that is not http(s) blanked: feedparser rewrites a file:/// base
    (file://folder/...), and normalisation uses a base only when it is http(s)."""
    base = entry.base_url
    return dataclasses.replace(entry, base_url=base if base and base.startswith(("http://", "https://")) else None)


def assert_same(fast: ParsedFeed, slow: ParsedFeed, label: str) -> None:
    assert fast.meta == slow.meta, label
    assert fast.warnings == slow.warnings, label
    assert [_comparable(e) for e in fast.entries] == [_comparable(e) for e in slow.entries], label
    fast_articles = normalize_entries(fast.entries, fast.meta, NOW)
    slow_articles = normalize_entries(slow.entries, slow.meta, NOW)
    assert fast_articles == slow_articles, label


@lru_cache(maxsize=1)
def corpus_run() -> tuple[int, int, Counter[str], list[str]]:
    """(inputs served, entries served, decline reasons, labels of mismatches)."""
    served = entries = 0
    reasons: Counter[str] = Counter()
    bad: list[str] = []
    for path in corpus_inputs():
        if path.suffix == ".json":
            continue
        body = path.read_bytes()
        url = f"file://{path}"
        fast, reason = fastparse.parse_fast_or_reason(body, url)
        if fast is None:
            reasons[reason.split(":")[0]] += 1
            continue
        rel = path.relative_to(CORPUS).as_posix()
        try:
            assert_same(fast, feedparser_path(body, url), rel)
        except (AssertionError, ParseError):
            bad.append(rel)
        served += 1
        entries += len(fast.entries)
    return served, entries, reasons, bad


def test_lxml_reader_matches_feedparser_on_the_whole_corpus() -> None:
    served, entries, reasons, bad = corpus_run()
    print(f"lxml reader served {served} corpus inputs ({entries} entries); declined: {dict(reasons.most_common())}")
    assert bad == []
    assert served >= MIN_CORPUS_INPUTS
    assert entries >= MIN_CORPUS_ENTRIES


@pytest.mark.parametrize("index", range(20))
def test_lxml_reader_serves_and_matches_bench_gen_feeds(index: int) -> None:
    body = feed_bytes(index, n_feeds=20)  # one Atom feed in five
    url = f"https://bench.example/{index}"
    fast = fastparse.parse_fast(body, url)
    assert fast is not None
    assert len(fast.entries) == 50
    assert_same(fast, feedparser_path(body, url), f"gen {index}")
    assert parse_feed(body, url).parser == "lxml"


@pytest.mark.parametrize("seed", range(6))
def test_lxml_reader_serves_and_matches_normalize_bench_feeds(seed: int) -> None:
    body = generated_feed(seed)  # even seeds CDATA, odd seeds escaped HTML
    url = f"https://bench.example/n{seed}"
    fast = fastparse.parse_fast(body, url, "application/rss+xml; charset=utf-8")
    assert fast is not None
    assert_same(fast, feedparser_path(body, url, "application/rss+xml; charset=utf-8"), f"seed {seed}")


_ITEM = (
    "<item><title>Caf\u00e9 &amp; co</title><link>https://example.org/a?x=1&amp;y=2</link>"
    "<guid isPermaLink='false'>id-1</guid><pubDate>Mon, 06 Sep 2021 10:00:00 +0200</pubDate>"
    "<description>&lt;p&gt;Hello &lt;b&gt;world&lt;/b&gt;&lt;/p&gt;</description></item>"
)
_RSS = f"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>{_ITEM}</channel></rss>"

DECLINED = {
    # a DOCTYPE (here with an entity bomb): only the hardened path reads it
    "entity bomb": (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<rss version='2.0'><channel><title>&b;</title>" + _ITEM.encode() + b"</channel></rss>",
        "doctype",
    ),
    # an external DTD
    "doctype": (b"<!DOCTYPE rss SYSTEM 'http://example.org/rss.dtd'>" + _RSS.split("?>", 1)[1].encode(), "doctype"),
    # not well-formed: feedparser's loose parser decides what it says
    "malformed": (_RSS.replace("</channel>", "").encode(), "malformed"),
    "bare ampersand": (_RSS.replace("Caf\u00e9 &amp; co", "Cafe & co").encode(), "malformed"),
    "html entity": (_RSS.replace("Caf\u00e9", "Caf&eacute;").encode(), "malformed"),
    # other encodings are feedparser's to detect
    "utf-16": (_RSS.replace("utf-8", "utf-16").encode("utf-16"), "not-xml"),
    "utf-16 without bom": (_RSS.replace("utf-8", "utf-16").encode("utf-16-le"), "nul"),
    "windows-1252 declared": (_RSS.replace("utf-8", "windows-1252").encode("cp1252"), "encoding"),
    "invalid utf-8": (_RSS.encode("cp1252"), "malformed"),
    "nul": (_RSS.replace("<title>T", "<title>T\x00").encode(), "nul"),
    # RSS 1.0 / RDF and Atom 0.3 are not read here
    "rss 1.0": (
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://example.org/"><title>T</title></channel>'
        b'<item rdf:about="https://example.org/1"><title>One</title><link>https://example.org/1</link></item>'
        b"</rdf:RDF>",
        "namespace:unread",
    ),
    "atom 0.3": (
        b'<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>T</title><entry><title>One</title>'
        b'<link rel="alternate" type="text/html" href="https://example.org/1"/><id>tag:x,2004:1</id>'
        b"<issued>2004-01-01T00:00:00Z</issued></entry></feed>",
        "namespace:unread",
    ),
    # XHTML content (its namespace rebinds the default prefix)
    "xhtml content": (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><title>One</title><id>tag:x,1</id>'
        b'<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Hi</p></div></content></entry></feed>',
        "namespace:rebound",
    ),
    # an element feedparser reads into a field (itunes:summary is a summary) that this reader does not model
    "itunes summary": (_RSS.replace("</item>", "<itunes:summary>Other</itunes:summary></item>").replace(
        "<rss version='2.0'>", "<rss version='2.0' xmlns:itunes='http://www.itunes.com/dtds/podcast-1.0.dtd'>"
    ).encode(), "element:itunes:summary"),
    # a media:title takes part in feedparser's title rules
    "media title": (_RSS.replace("</item>", "<media:title>Other</media:title></item>").replace(
        "<rss version='2.0'>", "<rss version='2.0' xmlns:media='http://search.yahoo.com/mrss/'>").encode(),
        "element:media:title"),
    # feedparser splits "address (name)" its own way
    "author with e-mail": (_RSS.replace("</item>", "<author>jane@example.org (Jane Doe)</author></item>").encode(),
                           "author:e-mail"),
    # feedparser rewrites "&y;" in a link
    "entity-like link": (_RSS.replace("https://example.org/a?x=1&amp;y=2", "page?x=1&amp;y;=2").encode(),
                         "link:entity"),
    # two summaries: feedparser turns the second into content
    "two summaries": (_RSS.replace("</item>", "<description>Again</description></item>").encode(), "twice:summary"),
    # a date format this reader does not read
    "odd date": (_RSS.replace("Mon, 06 Sep 2021 10:00:00 +0200", "Monday 6th September 2021").encode(), "date"),
    # UTF-8 read as Latin-1 upstream: feedparser repairs it
    "mojibake": (_RSS.replace("Caf\u00e9", "Caf\u00c3\u00a9").encode(), "latin-1-mojibake"),
    # more elements than the hardening allows: the hardened path refuses it
    "too many elements": (_RSS.replace(_ITEM, _ITEM * 60_000).encode(), "limits"),
}


@pytest.mark.parametrize("case", sorted(DECLINED))
def test_declined_and_the_fallback_still_decides(case: str) -> None:
    body, reason = DECLINED[case]
    fast, why = fastparse.parse_fast_or_reason(body, "https://example.org/feed")
    assert fast is None
    assert why == reason
    try:
        parsed = parse_feed(body, "https://example.org/feed")
    except ParseError:
        return  # refused by the hardening (a bomb, too many elements): still the parser of record's decision
    reference = parse_feed(body, "https://example.org/feed", fast=False)
    assert (parsed.meta, parsed.entries) == (reference.meta, reference.entries)
    # parse_feed transcodes UTF-16 to UTF-8 first (declaration rewritten), and that body the fast path may serve
    assert parsed.parser == ("lxml" if case.startswith("utf-16") else "feedparser")


def test_fallback_parses_declined_feeds_correctly() -> None:
    parsed = parse_feed(DECLINED["windows-1252 declared"][0], "https://example.org/feed")
    assert parsed.parser == "feedparser" and parsed.entries[0].title == "Caf\u00e9 & co"
    rdf = parse_feed(DECLINED["rss 1.0"][0], "https://example.org/feed")
    assert rdf.parser == "feedparser" and rdf.entries[0].link == "https://example.org/1"
    utf16 = parse_feed(DECLINED["utf-16"][0], "https://example.org/feed", fast=False)
    assert utf16.parser == "feedparser" and utf16.entries[0].title == "Caf\u00e9 & co"
    with pytest.raises(ParseError):
        parse_feed(DECLINED["entity bomb"][0].replace(b"<title>&b;", b"<title>&b;" * 50_000), "https://x.org/")


SERVED = {
    "guid as link": _RSS.replace("<link>https://example.org/a?x=1&amp;y=2</link>", "").replace(
        "<guid isPermaLink='false'>", "<guid>/relative/"),
    "xml:base and lang": _RSS.replace("<item>", "<item xml:base='https://other.example/dir/' xml:lang='de_AT'>")
    .replace("https://example.org/a?x=1&amp;y=2", "page?x=1&amp;y=2"),
    "author": _RSS.replace("</item>", "<author>Jane Doe</author></item>"),
    "bare lang and base": _RSS.replace("<description>", "<description lang='de' base='https://b.example/'>")
    .replace("<item>", "<item lang='fr'>"),
    "atom link with an empty type": _RSS.replace("</item>", "<atom:link rel='alternate' type='' href='/x'/></item>")
    .replace("<rss version='2.0'>", "<rss version='2.0' xmlns:atom='http://www.w3.org/2005/Atom'>"),
    "enclosure and media": _RSS.replace("</item>", "<enclosure url='https://e.example/a.mp3' length='12' "
                                        "type='Audio/MPEG'/><media:content url='https://e.example/v.mp4' medium="
                                        "'video'/><media:thumbnail url='https://e.example/t.jpg'/></item>"),
    "content before description": _RSS.replace("<description>", "<content:encoded>&lt;p&gt;Full&lt;/p&gt;"
                                               "</content:encoded><description>"),
    "categories": _RSS.replace("</item>", "<category domain='x'>A</category><category>A</category>"
                               "<category/><category>B</category></item>"),
    "source": _RSS.replace("</item>", "<source url='https://wire.example/rss'>Wire</source></item>"),
    "dc date and creator": _RSS.replace("<pubDate>Mon, 06 Sep 2021 10:00:00 +0200</pubDate>",
                                        "<dc:date>2021-09-06T10:00:00+02:00</dc:date><dc:creator>A</dc:creator>"
                                        "<dc:creator>B</dc:creator>"),
    "channel meta": _RSS.replace("<title>T</title>", "<title>T</title><link>https://example.org/</link>"
                                 "<language>fr</language><ttl>30</ttl><sy:updatePeriod>daily</sy:updatePeriod>"
                                 "<sy:updateFrequency>4</sy:updateFrequency><image><title>I</title>"
                                 "<url>https://example.org/i.png</url></image>"),
    "atom": "<feed xmlns='http://www.w3.org/2005/Atom' xml:lang='en'><title type='html'>F &amp;amp; G</title>"
            "<link rel='self' href='https://example.org/feed'/><id>urn:uuid:1</id><entry><title>One</title>"
            "<id>/e/1</id><link rel='alternate' type='text/html' href='/one'/><link rel='enclosure' href='/a.mp3'/>"
            "<updated>2021-09-06T10:00:00Z</updated><author><name>Jo</name><email>jo@example.org</email></author>"
            "<summary>Short</summary><content type='html'>&lt;p&gt;Long text&lt;/p&gt;</content>"
            "<category term='t' label='Tee'/></entry><entry><title>Two</title><id>tag:x,2</id>"
            "<summary type='text'>Only &lt;b&gt;summary&lt;/b&gt;</summary></entry></feed>",
}
_NS = ("<rss version='2.0' xmlns:media='http://search.yahoo.com/mrss/' xmlns:dc='http://purl.org/dc/elements/1.1/' "
       "xmlns:content='http://purl.org/rss/1.0/modules/content/' xmlns:sy='http://purl.org/rss/1.0/modules/syndication/'>")


@pytest.mark.parametrize("case", sorted(SERVED))
def test_served_variants_match_feedparser(case: str) -> None:
    body = SERVED[case].replace("<rss version='2.0'>", _NS).encode()
    fast, why = fastparse.parse_fast_or_reason(body, "https://example.org/feed")
    assert fast is not None, why
    assert_same(fast, feedparser_path(body, "https://example.org/feed"), case)


def test_served_feed_matches_feedparser_in_detail() -> None:
    body = _RSS.encode()
    fast = fastparse.parse_fast(body, "https://example.org/feed")
    assert fast is not None
    assert parse_feed(body, "https://example.org/feed").parser == "lxml"
    assert parse_feed(body, "https://example.org/feed", fast=False).parser == "feedparser"
    entry = fast.entries[0]
    assert (entry.title, entry.link, entry.guid) == ("Caf\u00e9 & co", "https://example.org/a?x=1&y=2", "id-1")
    assert entry.published_parsed == datetime(2021, 9, 6, 8, 0)
    assert_same(fast, feedparser_path(body, "https://example.org/feed"), "sample")


@pytest.mark.parametrize("name", ["lxml_reader/rss-full.rss", "lxml_reader/atom-full.atom", "ids/odd-ids.atom"])
def test_project_fixtures_match_feedparser(name: str) -> None:
    from tests.conftest import ROOT

    body = (ROOT / "tests" / "data" / name).read_bytes()
    url = f"https://feeds.example.org/{name}"
    fast = fastparse.parse_fast(body, url)
    assert fast is not None
    assert_same(fast, feedparser_path(body, url), name)
