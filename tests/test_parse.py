"""Parsing (worker/parse/feed.py, worker/parse/jsonfeed.py): sniffing, safety before feedparser, field mapping."""

from __future__ import annotations

import json
import time
from datetime import datetime

import pytest

from tests.conftest import CORPUS, FIXTURES
from worker.errors import ParseError
from worker.parse.feed import harden_xml, parse_feed, sniff_format

URL = "https://feeds.example.com/news.xml"


def rss(items: str, channel: str = "<title>Chan</title>", prolog: str = "") -> bytes:
    return (
        f'{prolog}<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        f' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        f' xmlns:media="http://search.yahoo.com/mrss/"><channel>{channel}{items}</channel></rss>'
    ).encode()


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        (b'<?xml version="1.0"?><rss/>', "xml"),  # XML declaration then root
        (b"\xef\xbb\xbf  <feed/>", "xml"),  # BOM and leading spaces (gofeed rss_feed_bom / leading_spaces)
        (b"<!-- c --><!DOCTYPE rss [<!ENTITY a 'b'>]><rss/>", "xml"),  # comment and DOCTYPE in the prolog
        (b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN" "x"><rss/>', "xml"),  # root decides, not DOCTYPE
        (b" {\"version\": \"https://jsonfeed.org/version/1.1\"}", "json"),  # JSON Feed
        (b"<!DOCTYPE html><html><body>hi</body></html>", "html"),  # an HTML page
        (b"<HTML><HEAD>", "html"),  # upper-case HTML
        (b"<!-- only a comment -->", "empty"),  # prolog only (feedparser rss_empty_document)
        (b"GIF89a\x01\x00", "unknown"),  # binary junk
        (b"", "unknown"),  # nothing
    ],
)
def test_sniff_format(body: bytes, kind: str) -> None:
    assert sniff_format(body) == kind


def test_a_prolog_longer_than_4_kb_still_finds_the_root() -> None:
    """A DOCTYPE whose internal subset runs past the first 4 KB is read further, not refused as prolog-only;
    the entities it declares are then substituted as for any other feed."""
    subset = "".join(f'<!ENTITY e{i} "value {i}">' for i in range(400))  # ~10 KB
    body = (f'<?xml version="1.0"?><!DOCTYPE rss [{subset}]><rss version="2.0"><channel><title>T &e7;</title>'
            "<item><title>One &e399;</title><link>https://x.example/1</link></item></channel></rss>").encode()
    assert len(body) > 8192 and sniff_format(body) == "xml"
    feed = parse_feed(body, "https://x.example/feed")
    assert feed.meta.title == "T value 7" and [e.title for e in feed.entries] == ["One value 399"]
    assert sniff_format(b"<!-- " + b"x" * 5000 + b" -->") == "empty"  # still prolog-only when it is


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty body"),  # empty
        (b"  \n\t ", "empty body"),  # white space only
        (b"<!DOCTYPE html><html><head><title>x</title></head><body><p>hi</p></body></html>", "HTML page"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "neither XML nor JSON"),  # binary
        (b"<?xml version='1.0'?><note><to>x</to></note>", "not a feed"),  # XML, not a feed
        (b"<rss><channel></chan", "not a readable feed"),  # broken, nothing readable
        (b"<rss><channel><item><title>broken", "not a readable feed"),  # truncated: only an empty entry shell
        (b'{"version": "https://jsonfeed.org/version/1", "items": [', "invalid JSON"),  # truncated JSON
        (b'{"hello": "world"}', "not a JSON Feed"),  # JSON, not a feed
        (b"[1, 2, 3]", "not a feed"),  # JSON array
        (b"<!-- nothing -->", "without a root element"),  # only a comment
    ],
)
def test_not_a_feed_raises_parse_error(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as err:
        parse_feed(body, URL)
    assert reason in err.value.reason
    assert "\n" not in err.value.reason


def test_body_that_is_a_local_path_is_not_opened() -> None:
    # feedparser opens a local file when handed a path; we always hand it a stream
    with pytest.raises(ParseError):
        parse_feed(b"/etc/passwd", URL)


def test_billion_laughs_is_neutralised_quickly() -> None:
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    body = rss("<item><title>&l9;</title><link>http://ex.com/1</link></item>",
               prolog=f'<!DOCTYPE rss [<!ENTITY l0 "lol">{lol}]>')
    started = time.process_time()  # this process's CPU time: other load on the machine does not count
    parsed = parse_feed(body, URL)
    assert time.process_time() - started < 5  # expanded, the entities would be 10^9 "lol"s
    assert len(parsed.entries) == 1
    assert "lol" not in (parsed.entries[0].title or "")


def test_big_entity_expansion_is_refused() -> None:
    # one 400-byte entity referenced 40,000 times: 16 MB if expanded
    refs = "&big;" * 40_000
    body = rss(f"<item><title>t</title><description>{refs}</description></item>",
               prolog=f'<!DOCTYPE rss [<!ENTITY big "{"x" * 400}">]>')
    with pytest.raises(ParseError, match="expansion"):
        parse_feed(body, URL)


def test_external_entity_is_dropped() -> None:
    body = rss("<item><title>a&xxe;b</title><link>http://ex.com/1</link></item>",
               prolog='<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>')
    parsed = parse_feed(body, URL)
    assert parsed.entries[0].title == "ab"


def test_small_doctype_entity_is_expanded() -> None:
    # feedparser's wellformed/rss/entity_in_doctype.xml
    body = (CORPUS / "feedparser/tests/wellformed/rss/entity_in_doctype.xml").read_bytes()
    parsed = parse_feed(body, URL)
    assert parsed.entries[0].guid == "tag:example.com,2006-05-04:/blog/"


def test_nul_bytes_are_removed() -> None:
    body = rss("<item><title>a\x00b</title><link>http://ex.com/1</link></item>")
    parsed = parse_feed(body, URL)
    assert parsed.entries[0].title == "ab"


@pytest.mark.parametrize(
    "ref",
    ["&#xD800;", "&#55296;", "&#x110000;", "&#99999999;", "&#0;", "&#x1;"],  # surrogates, out of range, controls
)
def test_bad_character_references_do_not_raise(ref: str) -> None:
    body = rss(f"<item><title>a{ref}b</title><link>http://ex.com/1</link></item>")
    parsed = parse_feed(body, URL)
    title = parsed.entries[0].title or ""
    assert title.startswith("a") and title.endswith("b")
    title.encode("utf-8")  # no lone surrogates left
    assert "\x00" not in title


def test_html_entities_and_bare_ampersands_parse_strictly() -> None:
    body = rss("<item><title>Caf&eacute; &nbsp;AT&T &bogus;</title><link>http://ex.com/?a=1&b=2</link></item>")
    parsed = parse_feed(body, URL)
    entry = parsed.entries[0]
    assert entry.title == "Café \xa0AT&T &bogus;"
    assert entry.link == "http://ex.com/?a=1&b=2"
    assert not parsed.warnings  # no fallback to the loose parser


def test_cdata_is_left_alone() -> None:
    body = rss("<item><title>t</title><link><![CDATA[http://ex.com/?a=1&b=2]]></link></item>")
    assert parse_feed(body, URL).entries[0].link == "http://ex.com/?a=1&b=2"


def test_nesting_bomb_is_refused() -> None:
    body = rss("<item><title>t</title>" + "<x>" * 5000 + "</item>")
    with pytest.raises(ParseError, match="nested"):
        parse_feed(body, URL)


def test_harden_xml_transcodes_utf16() -> None:
    doc = '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>Ünï</title></channel></rss>'
    out = harden_xml(doc.encode("utf-16"))
    assert out.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    assert "Ünï".encode() in out


def test_rss_fields_are_mapped() -> None:
    body = rss(
        """<item>
          <title>Hello &amp; welcome</title>
          <link>/news/1?utm_source=rss</link>
          <guid isPermaLink="false">id-1</guid>
          <description>&lt;p&gt;Short&lt;/p&gt;</description>
          <content:encoded><![CDATA[<p>Full body</p>]]></content:encoded>
          <pubDate>Wed, 17 Sep 2025 05:00:00 +0000</pubDate>
          <dc:creator>Jane Doe</dc:creator>
          <dc:publisher>Wire Service</dc:publisher>
          <source url="https://orig.example/rss">Original Outlet</source>
          <category>Politics</category><category>Egypt</category>
          <enclosure url="https://cdn.example/a.mp3" type="audio/mpeg" length="1234"/>
          <media:content url="https://cdn.example/p.jpg" medium="image"/>
        </item>""",
        channel="<title>Chan</title><link>https://ex.com/</link><language>en-gb</language><ttl>30</ttl>",
    )
    parsed = parse_feed(body, URL, "application/rss+xml; charset=utf-8")
    assert parsed.meta.title == "Chan"
    assert parsed.meta.site_url == "https://ex.com/"
    assert parsed.meta.language == "en-gb"
    assert parsed.meta.format == "rss20"
    assert parsed.meta.ttl_minutes == 30
    e = parsed.entries[0]
    assert e.guid == "id-1"
    assert e.link == "https://feeds.example.com/news/1?utm_source=rss"  # resolved against the feed URL
    assert e.title == "Hello & welcome"
    assert e.summary == "<p>Short</p>"
    assert e.content == "<p>Full body</p>"
    assert e.published == "Wed, 17 Sep 2025 05:00:00 +0000"
    assert e.published_parsed == datetime(2025, 9, 17, 5, 0)
    assert e.authors == ["Jane Doe"]
    assert e.dc_publisher == "Wire Service"
    assert e.source_title == "Original Outlet"
    assert e.source_url == "https://orig.example/rss"
    assert e.categories == ["Politics", "Egypt"]
    assert {"url": "https://cdn.example/a.mp3", "type": "audio/mpeg", "length": 1234} in e.enclosures
    assert {"url": "https://cdn.example/p.jpg", "type": "image/*", "length": None} in e.enclosures
    assert e.base_url == URL


def test_atom_fields_are_mapped() -> None:
    body = b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://ex.com/blog/"
      xml:lang="de"><title>Blog</title>
      <entry><id>tag:ex.com,2025:1</id><link rel="alternate" href="post-1"/>
      <title type="html">&lt;b&gt;Hi&lt;/b&gt;</title>
      <updated>2025-01-02T03:04:05Z</updated><published>2025-01-01T00:00:00</published>
      <author><name>A</name></author><author><name>B</name></author>
      <content type="html">&lt;p&gt;Body&lt;/p&gt;</content>
      <source><title>Upstream</title><link href="https://up.example/"/></source></entry></feed>"""
    parsed = parse_feed(body, URL)
    assert parsed.meta.format == "atom10"
    e = parsed.entries[0]
    assert e.guid == "tag:ex.com,2025:1"
    assert e.link == "https://ex.com/blog/post-1"
    assert e.title == "<b>Hi</b>"
    assert e.content == "<p>Body</p>"
    assert e.summary is None  # feedparser's copy of the content is not a summary
    assert e.published == "2025-01-01T00:00:00"
    assert e.updated == "2025-01-02T03:04:05Z"
    assert e.authors == ["A", "B"]
    assert e.source_title == "Upstream"
    assert e.language == "de"
    assert e.base_url == "https://ex.com/blog/"


def test_json_feed_11() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JF",
        "home_page_url": "https://jf.example/",
        "language": "en",
        "items": [
            {
                "id": 42,
                "url": "https://jf.example/42",
                "title": "T",
                "content_html": "<p>Hi</p>",
                "summary": "S",
                "date_published": "2025-01-01T00:00:00Z",
                "authors": [{"name": "X"}],
                "tags": ["a", "b"],
                "attachments": [{"url": "https://jf.example/a.mp3", "mime_type": "audio/mpeg", "size_in_bytes": 9}],
            },
            {"id": "2", "content_text": "plain"},
            "not an object",
        ],
    }
    parsed = parse_feed(json.dumps(doc).encode(), URL)
    assert parsed.meta.format == "json11"
    assert parsed.meta.title == "JF"
    assert len(parsed.entries) == 2
    assert parsed.warnings == ["item 2 is not an object"]
    a, b = parsed.entries
    assert (a.guid, a.link, a.title, a.content, a.summary) == ("42", "https://jf.example/42", "T", "<p>Hi</p>", "S")
    assert a.authors == ["X"] and a.categories == ["a", "b"]
    assert a.enclosures == [{"url": "https://jf.example/a.mp3", "type": "audio/mpeg", "length": 9}]
    assert a.language == "en"
    assert b.content == "plain" and b.content_is_html is False


def test_json_feed_10_author() -> None:
    body = (CORPUS / "gofeed/testdata/parser/json/version_json_10.json").read_bytes()
    parsed = parse_feed(body, URL)
    assert parsed.meta.format == "json10"
    assert parsed.entries


def test_rss_in_json() -> None:
    body = (CORPUS / "rsparser/Tests/RSParserTests/Resources/ScriptingNews.json").read_bytes()
    parsed = parse_feed(body, URL)
    assert parsed.meta.title == "Scripting News"
    assert len(parsed.entries) > 10


def test_windows_1252_declared_as_iso_8859_1() -> None:
    body = b'<?xml version="1.0" encoding="iso-8859-1"?>' + rss("<item><title>It\x92s \xe9t\xe9</title></item>")
    title = parse_feed(body, URL).entries[0].title or ""
    assert "\xe9t\xe9" in title  # é decoded
    # the normaliser maps the stray C1 byte back to the Windows-1252 quote (see test_html)


def test_syndication_fixtures_parse() -> None:
    items = {}
    for name in ("sis-gov-eg.rss", "allafrica-egypt.rss", "ahram-online.atom"):
        path = FIXTURES / name
        parsed = parse_feed(path.read_bytes(), f"file://{path}")
        for e in parsed.entries:
            items[e.guid or e.link] = e
    truth = json.loads((FIXTURES / "truth.json").read_text())
    assert set(items) == set(truth["items"])
    assert len(items) == 4


UTF8_DOC = '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{}</title></channel></rss>'


@pytest.mark.parametrize(
    ("body", "title"),
    [
        # valid UTF-8 is read as is
        (UTF8_DOC.format("Café — news").encode(), "Café — news"),
        # UTF-8 with one stray invalid byte stays UTF-8 (no mojibake), the byte becomes U+FFFD
        (UTF8_DOC.format("Café — news").encode().replace(b"news", b"news \xff"), "Café — news \ufffd"),
        # Windows-1252 declared as UTF-8: no valid multi-byte characters, feedparser's fallback reads it
        (UTF8_DOC.format("Café — news").encode("cp1252"), "Café — news"),
        # ISO-8859-1 declared as such is left to its declaration
        (UTF8_DOC.replace("utf-8", "iso-8859-1").format("Café").encode("latin-1"), "Café"),
    ],
)
def test_encoding_mixups(body: bytes, title: str) -> None:
    assert parse_feed(body, URL).meta.title == title


def test_undeclared_well_known_prefixes_are_declared() -> None:
    # atom:link / media:content / dc:creator without xmlns (gofeed feed_link_-_rss_channel_atom_link.xml)
    body = (
        b'<rss version="2.0"><channel><title>T</title><atom:link href="https://x.example/feed" rel="self"/>'
        b'<item><title>a</title><link>https://x.example/1</link><dc:creator>Bob</dc:creator>'
        b'<media:content url="https://x.example/i.jpg" medium="image"/></item></channel></rss>'
    )
    parsed = parse_feed(body, URL)
    assert parsed.warnings == []  # read by the strict parser
    assert parsed.entries[0].authors == ["Bob"]
    assert parsed.entries[0].enclosures[0]["url"] == "https://x.example/i.jpg"


@pytest.mark.parametrize(
    ("inner", "reason"),
    [
        (b"<a>" * 600_000, "too many elements"),  # element flood: feedparser pays per element
        (b"&" * 2_100_000, "too many entity references"),  # reference flood: one parser event each
    ],
)
def test_floods_are_refused_quickly(inner: bytes, reason: str) -> None:
    body = rss(f"<item><title>t</title>{inner.decode()}</item>")
    started = time.process_time()
    with pytest.raises(ParseError, match=reason):
        parse_feed(body, URL)
    assert time.process_time() - started < 2


WRITTEN_IDS_CASES = [
    # Atom ids and RSS guids in document order; an item without one gives None
    (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id> 1234 </id></entry><entry/></feed>', ["1234", None]),
    (b"<rss><channel><item><guid>a</guid><guid>b</guid></item></channel></rss>", ["b"]),  # the last one wins
    # an id nested deeper (an Atom <source>'s, an image's) is not the item's
    (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><source><id>s</id></source></entry></feed>', [None]),
    # feedparser compares names without case
    (b"<RSS><CHANNEL><ITEM><GUID>x</GUID></ITEM></CHANNEL></RSS>", ["x"]),
    # an element of another namespace is not an id
    (b'<rss xmlns:p="urn:p"><channel><item><p:guid>x</p:guid></item></channel></rss>', [None]),
    # a body feedparser reads loosely is read loosely here too
    (b"<rss><channel><item><guid>x</guid></item><item><guid>y</guid></channel></rss>", ["x", "y"]),
]


@pytest.mark.parametrize(("body", "ids"), WRITTEN_IDS_CASES)
def test_written_ids(body: bytes, ids: list[str | None]) -> None:
    from worker.parse.ids import written_ids

    assert written_ids(body) == ids


RESTORE_CASES = [
    # resolved against the file's folder / xml:base: the written ids come back
    (["file://srv/feeds/1234", "http://example.org/x"], ["1234", "../x"], ["1234", "../x"]),
    # feedparser's own id where nothing was written (RSS 1.0's rdf:about)
    (["http://example.org/1"], [None], ["http://example.org/1"]),
    # the readings do not line up (another count): feedparser's ids stand
    (["a", "b"], ["a"], ["a", "b"]),
    (["a"], None, ["a"]),
    # a written id that cannot have become feedparser's: misaligned, feedparser's ids stand
    (["http://example.org/1", "http://example.org/2"], ["2", "1"], ["http://example.org/1", "http://example.org/2"]),
    # resolution folded a double slash inside the written text
    (['file://d/"http:/x.example/a.mp3'], ['"http://x.example/a.mp3'], ['"http://x.example/a.mp3']),
]


@pytest.mark.parametrize(("parsed", "written", "expected"), RESTORE_CASES)
def test_restore_written_ids(parsed: list[str], written: list[str | None] | None, expected: list[str]) -> None:
    from worker.parse.ids import restore_written_ids

    assert restore_written_ids([{"id": p} for p in parsed], written) == expected
