"""Normalising (worker/normalize/entry.py): keys, hashes, attribution, bodies, isolation, the fixtures."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest

from tests.conftest import FIXTURES
from worker.errors import EntryError
from worker.models import Article, FeedMeta, RawEntry
from worker.normalize.entry import entry_hash, entry_key, normalize_entries, normalize_entry
from worker.parse.feed import parse_feed

NOW = datetime(2025, 10, 1, 12, 0, tzinfo=UTC)
META = FeedMeta(url="https://feed.example/rss", title="Feed Title", language="en")
EN_TEXT = (
    "The council met on Tuesday to discuss the new budget for the coming year. Members debated the "
    "allocation for schools, roads and public transport, and agreed to publish a revised plan next month."
)
DE_TEXT = (
    "Der Gemeinderat hat am Dienstag über den neuen Haushalt für das kommende Jahr beraten. Die Mitglieder "
    "stritten über die Mittel für Schulen, Straßen und den öffentlichen Nahverkehr und wollen im nächsten "
    "Monat einen überarbeiteten Plan vorlegen."
)


def raw(**kw: object) -> RawEntry:
    base: dict[str, object] = {"guid": None, "link": None}
    base.update(kw)
    return RawEntry(**base)  # type: ignore[arg-type]


def norm(r: RawEntry, meta: FeedMeta = META, **kw: object) -> Article:
    return normalize_entry(r, meta, NOW, **kw)  # type: ignore[arg-type]


KEY_CASES = [
    # the guid when there is one
    (raw(guid="g-1", link="https://ex.com/a"), "g-1"),
    # else the link exactly as given (tracking junk and all)
    (raw(link="https://ex.com/a?utm_source=x"), "https://ex.com/a?utm_source=x"),
    # white space and NUL trimmed
    (raw(guid="  g-2\x00 "), "g-2"),
    # a blank guid falls back to the link
    (raw(guid="   ", link="https://ex.com/b"), "https://ex.com/b"),
]


@pytest.mark.parametrize(("entry", "key"), KEY_CASES)
def test_entry_key(entry: RawEntry, key: str) -> None:
    assert entry_key(entry) == key


def test_entry_key_without_guid_or_link_is_a_stable_content_hash() -> None:
    a = entry_key(raw(title="T", content="body"))
    assert a.startswith("xxh3:")
    assert a == entry_key(raw(title="T", content="body"))
    assert a != entry_key(raw(title="T", content="other body"))


def test_entry_key_bounds_huge_guids() -> None:
    key = entry_key(raw(guid="x" * 5000))
    assert key.startswith("xxh3:") and len(key) < 100


@pytest.mark.parametrize(
    "change",
    [
        {"title": "T2"},  # title edited
        {"link": "https://ex.com/other"},  # link changed
        {"summary": "s2"},  # summary changed
        {"content": "c2"},  # body changed
        {"updated": "2025-01-02T00:00:00Z"},  # updated date moved
        {"authors": ["Someone"]},  # author added
    ],
)
def test_entry_hash_changes_with_the_item(change: dict[str, object]) -> None:
    fields: dict[str, object] = {"guid": "g", "link": "https://ex.com/a", "title": "T", "summary": "s", "content": "c"}
    before = entry_hash(raw(**fields))
    assert before == entry_hash(raw(**fields))
    assert entry_hash(raw(**{**fields, **change})) != before


def test_entry_hash_ignores_fields_that_do_not_matter() -> None:
    fields: dict[str, object] = {"guid": "g", "link": "https://ex.com/a", "title": "T"}
    assert entry_hash(raw(**fields)) == entry_hash(raw(**fields, categories=["x"]))


def test_full_item() -> None:
    a = norm(raw(
        guid="g1",
        link="/news/1?utm_source=rss&id=7#top",
        title="  <b>Budget</b> &amp; schools ",
        summary="<p>Short teaser</p>",
        content=f"<p>{EN_TEXT}</p><script>evil()</script><p><a href='/more'>More</a></p>",
        authors=["jane@ex.com (Jane Doe)", "Bob"],
        published="Wed, 17 Sep 2025 05:00:00 +0000",
        categories=["Politics", "politics", " "],
        enclosures=[{"url": "/img/a.jpg", "type": "image/jpeg", "length": 10}, {"url": "javascript:x"}],
        base_url="https://ex.com/section/",
    ))
    assert a.guid == "g1"
    assert a.link == "/news/1?utm_source=rss&id=7#top"  # raw link kept for the sighting
    assert a.url == "https://ex.com/news/1?id=7"
    assert a.title == "Budget & schools"
    assert a.summary == "Short teaser"
    assert a.content_text == EN_TEXT + "\n\nMore"  # from the content (fullest body), not the summary
    assert a.content_html is not None and "script" not in a.content_html
    assert 'href="https://ex.com/more"' in a.content_html
    assert a.author == "Jane Doe, Bob"
    assert a.publisher == "Feed Title" and a.syndicator is None
    assert a.language == "en"
    assert a.published_at == datetime(2025, 9, 17, 5, 0, tzinfo=UTC)
    assert a.published_raw is None
    assert a.categories == ["Politics"]
    assert a.enclosures == [{"url": "https://ex.com/img/a.jpg", "type": "image/jpeg", "length": 10}]
    assert len(a.content_hash) == 64 and a.entry_hash


def test_summary_used_when_longer_than_content() -> None:
    a = norm(raw(guid="g", title="t", summary=f"<p>{EN_TEXT}</p>", content="<p>Teaser</p>"))
    assert a.content_text == EN_TEXT


def test_plain_text_body_keeps_paragraphs() -> None:
    a = norm(raw(guid="g", title="t", content="one\n\ntwo <not a tag>", content_is_html=False))
    assert a.content_text == "one\n\ntwo <not a tag>"
    assert a.content_html == "<p>one</p><p>two &lt;not a tag&gt;</p>"


ATTRIBUTION_CASES = [
    # <source> names the original outlet; the feed is the syndicator
    ({"source_title": "Reuters"}, "Reuters", "Feed Title"),
    # dc:publisher when there is no <source>
    ({"dc_publisher": "AP"}, "AP", "Feed Title"),
    # <source> beats dc:publisher
    ({"source_title": "Reuters", "dc_publisher": "AP"}, "Reuters", "Feed Title"),
    # nothing: the feed itself is the publisher, no syndicator
    ({}, "Feed Title", None),
    # a source equal to the feed title (case aside) is not syndication
    ({"source_title": "feed title"}, "feed title", None),
]


@pytest.mark.parametrize(("fields", "publisher", "syndicator"), ATTRIBUTION_CASES)
def test_attribution(fields: dict[str, object], publisher: str, syndicator: str | None) -> None:
    a = norm(raw(guid="g", title="t", **fields))
    assert (a.publisher, a.syndicator) == (publisher, syndicator)


LANGUAGE_CASES = [
    # the declaration stands for short text
    ("de", "Kurz", "de"),
    # confident detection on long text overrides a wrong feed declaration
    ("en", DE_TEXT, "de"),
    # declaration agrees with detection
    ("en-US", EN_TEXT, "en"),
    # no declaration: detected
    (None, DE_TEXT, "de"),
    # no declaration and too little text: unknown
    (None, "Hi", None),
]


@pytest.mark.parametrize(("declared", "text", "expected"), LANGUAGE_CASES)
def test_language(declared: str | None, text: str, expected: str | None) -> None:
    meta = FeedMeta(url=META.url, title="F", language=declared)
    assert norm(raw(guid="g", title="t", content=text), meta).language == expected


FR_TEXT = (
    "Le conseil municipal s'est réuni mardi pour discuter du nouveau budget de l'année prochaine. Les membres ont "
    "débattu des crédits pour les écoles, les routes et les transports publics."
)
DETECTION_CASES = [
    # plain prose in three languages
    (EN_TEXT, "en", 0.99),
    (DE_TEXT, "de", 0.99),
    (FR_TEXT, "fr", 0.99),
    # an all-capitals headline is read in lower case
    (EN_TEXT.upper(), "en", 0.99),
    # mixed text: only the first PREFIX_CHARS count, so the German opening decides
    (DE_TEXT + EN_TEXT, "de", 0.99),
    # other scripts
    ("Москва — столица России, крупнейший по численности населения город страны.", "ru", 0.9),
    ("東京都は日本の首都である。", "ja", 0.99),
    ("Ελλάδα: ΣΊΣΥΦΟΣ και η πέτρα", "el", 0.9),
    # nothing to read: no language and no confidence
    ("", None, 0.0),
    (" ", None, 0.0),
    # a lone surrogate does not raise (it is encoded with surrogatepass); too little text to be confident
    ("\ud800 lone surrogate", "fr", 0.0),
]


@pytest.mark.parametrize(("text", "lang", "min_confidence"), DETECTION_CASES)
def test_detect_language(text: str, lang: str | None, min_confidence: float) -> None:
    from worker.normalize.language import detect_language

    found, confidence = detect_language(text)
    assert found == lang
    assert min_confidence <= confidence <= 1.0


def test_language_model_loads_once_per_process() -> None:
    """warm() (called by a prefork worker's main process before it forks) loads the model every later
    detection uses: the children inherit it instead of each loading its own copy."""
    from worker.normalize import language

    language.warm()
    loaded = language._identifier()
    language.detect_language(EN_TEXT)
    language.warm()
    assert language._identifier() is loaded
    assert language._identifier.cache_info().currsize == 1


def test_zoneless_date_uses_feed_default_zone() -> None:
    r = raw(guid="g", title="t", published="2025-01-15T09:00:00")
    assert norm(r, default_tz="Asia/Tokyo").published_at == datetime(2025, 1, 15, 0, 0, tzinfo=UTC)
    meta = FeedMeta(url=META.url, title="F", default_tz="Europe/Berlin")
    assert norm(r, meta).published_at == datetime(2025, 1, 15, 8, 0, tzinfo=UTC)


def test_future_date_is_clamped_with_raw_kept() -> None:
    a = norm(raw(guid="g", title="t", published="Fri, 31 Dec 9999 23:59:59 GMT"))
    assert a.published_at == NOW
    assert a.published_raw == "Fri, 31 Dec 9999 23:59:59 GMT"


def test_missing_title_comes_from_text() -> None:
    a = norm(raw(guid="g", content=f"<p>{EN_TEXT}</p>"))
    assert a.title and EN_TEXT.startswith(a.title.rstrip("…"))


def test_guid_url_is_used_when_link_missing() -> None:
    assert norm(raw(guid="https://ex.com/p?utm_medium=x", title="t")).url == "https://ex.com/p"


def test_non_http_link_gives_no_url() -> None:
    a = norm(raw(guid="g", link="javascript:alert(1)", title="t"))
    assert a.url is None and a.link == "javascript:alert(1)"


def test_unusable_item_raises_entry_error() -> None:
    with pytest.raises(EntryError):
        norm(raw(guid="only-a-guid"))


def test_output_is_nul_free_and_encodable() -> None:
    a = norm(raw(guid="g\x00", link="https://ex.com/\x00a", title="a\x00\ud800b", content="<p>x\x00y\udc00</p>",
                 authors=["A\x00"], categories=["c\x00"]))
    for value in (a.guid, a.title, a.content_text, a.content_html, a.author, a.categories[0], a.url):
        assert value is not None and "\x00" not in value
        value.encode("utf-8")


def test_one_bad_item_does_not_stop_the_rest() -> None:
    bad_type = raw(guid="bad", title=123)  # not a string: an unexpected error inside normalise
    raws = [raw(guid="ok1", title="a"), raw(guid="empty"), bad_type, raw(guid="ok2", title="b")]
    articles, skipped = normalize_entries(raws, META, NOW)
    assert [a.guid for a in articles] == ["ok1", "ok2"]
    assert [k for k, _ in skipped] == ["empty", "bad"]
    assert all(reason and "\n" not in reason for _, reason in skipped)


def test_syndication_fixtures() -> None:
    got: dict[str, Article] = {}
    for name in ("sis-gov-eg.rss", "allafrica-egypt.rss", "ahram-online.atom"):
        path = FIXTURES / name
        parsed = parse_feed(path.read_bytes(), f"file://{path}")
        articles, skipped = normalize_entries(parsed.entries, parsed.meta, NOW)
        assert not skipped
        got.update({a.guid: a for a in articles})
    truth = json.loads((FIXTURES / "truth.json").read_text())
    assert set(got) == set(truth["items"])
    aa = got["https://allafrica.com/stories/202509160123.html"]
    assert aa.url == "https://allafrica.com/stories/202509160123.html"
    assert "utm_" in (aa.link or "")
    assert aa.syndicator == "AllAfrica News: Egypt"
    assert aa.publisher and "AllAfrica" not in aa.publisher
    for a in got.values():
        assert a.language == "en"
        assert a.content_text and "\n\n" in a.content_text
        assert a.published_at.tzinfo is not None


def test_html_nesting_bomb_keeps_its_text_quickly() -> None:
    bomb = "<div>" * 100_000 + "the text" + "</div>" * 100_000
    started = time.process_time()
    a = norm(raw(guid="g", title="t", content=bomb))
    assert time.process_time() - started < 2  # nh3 alone would take about a minute
    assert a.content_text == "the text"
    assert a.content_html == "<p>the text</p>"


def test_absurdly_long_body_is_bounded() -> None:
    a = norm(raw(guid="g", title="t", content="<p>" + "word " * 400_000 + "</p>"))
    assert 0 < len(a.content_text) <= 1_000_000


def test_hash_equals_the_streamed_digest() -> None:
    """normalize._hash joins its parts before hashing: same digest as feeding each part and separator in turn."""
    import random

    import xxhash

    from worker.normalize.entry import _hash

    def streamed(*parts: str | None) -> str:
        h = xxhash.xxh3_128()
        for p in parts:
            if p:
                h.update(p.encode("utf-8", "surrogatepass"))
            h.update(b"\x1f")
        return h.hexdigest()

    rng = random.Random(3)
    pool = ["", None, "a", "é", "\ud800", "x\x1fy", "long text " * 50]
    for _ in range(2000):
        parts = [rng.choice(pool) for _ in range(rng.randint(0, 9))]
        assert _hash(*parts) == streamed(*parts)
