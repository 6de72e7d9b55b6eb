"""Bad pages get a reason and never crash: one small hand-made page per case (worker/pages)."""

from __future__ import annotations

import pytest

from worker.pages import Limits, PageHints, extract_page
from worker.pages.decode import decode_page

STORY = [
    "The city council voted on Tuesday to extend the northern tram line by four kilometres, ending a dispute "
    "that had held up the project for almost three years.",
    "Work on the extension is due to start in the spring, the mayor told reporters after the vote, and the first "
    "trams should run on the new section before the end of next year.",
    "Residents of the northern districts had campaigned for the line since the old bus route was cut, saying the "
    "journey into the centre took more than an hour at peak times.",
    "The council's transport committee estimated the cost at 180 million euros, two thirds of it paid by the "
    "regional government under an agreement signed last month.",
]


def page(body: str, *, title: str = "Council extends the northern tram line", head: str = "",
         article: bool = True) -> bytes:
    og = '<meta property="og:type" content="article">' if article else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>{og}{head}</head>'
            f"<body><header><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></header>{body}"
            "<footer><a href='/about'>About us</a></footer></body></html>").encode()


def article_body(paras: list[str] = STORY) -> str:
    return "<article><h1>Council extends the northern tram line</h1>" + "".join(f"<p>{p}</p>" for p in paras) + \
        "</article>"


HOMEPAGE = page("<main>" + "".join(
    f"<section><h2><a href='/news/{i}'>Headline number {i} about something that happened today in the city</a></h2>"
    f"<a href='/news/{i}'>Read more</a></section>" for i in range(40)) + "</main>", title="City News - Home",
    article=False)


@pytest.mark.parametrize(
    ("data", "content_type", "hints", "reason"),
    [
        # a good article: no reason
        (page(article_body()), "text/html; charset=utf-8", None, None),
        # a PDF served as a page
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "application/pdf", None, "not_html"),
        # an image behind a text/html header: the bytes tell
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64), "text/html", None, "not_html"),
        # JSON from an API link
        (b'{"id": 1, "title": "x"}', "application/json", None, "not_html"),
        # binary garbage with no type at all
        (bytes(range(256)) * 40, None, None, "not_html"),
        # declared HTML but mostly NUL and control bytes
        (b"<html><body>" + b"\x00\x01\x02\x03" * 2000 + b"</body></html>", "text/html", None, "undecodable"),
        # an article template with nothing in it
        (page("<article><h1>Council extends the northern tram line</h1><p>Loading…</p></article>"), None, None,
         "empty"),
        # an error page served with 200
        (page("<main><h1>Page not found</h1><p>Sorry, the page you are looking for does not exist or has been "
              "moved. Try the search box or go back to the home page.</p></main>", title="404 - Page not found",
              article=False), None, None, "soft_404"),
        # a consent interstitial instead of the article
        (page("<div class='consent'><h2>We value your privacy</h2><p>We and our partners use cookies and similar "
              "tracking technologies to store and access information on your device. With your consent we use "
              "cookies for personalised ads and content.</p><p>You can accept all cookies or manage preferences "
              "in the privacy settings at any time.</p><button>Accept all</button></div>", title="Privacy",
              article=False), None, None, "consent_wall"),
        # a paywall stub: one teaser paragraph and a subscription prompt
        (page(article_body(STORY[:1]) + "<div class='wall'><p>Subscribe now to continue reading. Already a "
              "subscriber? Log in.</p></div>"), None, None, "paywall"),
        # a section front: headlines and links, no article
        (HOMEPAGE, None, None, "homepage"),
        # an article, but not the one the feed item is about
        (page(article_body()), None, PageHints(title="Flooding closes the coastal motorway after record rainfall",
                                               summary="Heavy rain overnight flooded the A9 between the two ports, "
                                                       "police said, and drivers were told to avoid the area."),
         "different_story"),
        # the same article with the feed's own title and summary: fine
        (page(article_body()), None, PageHints(title="Council extends the northern tram line",
                                               summary="The city council voted on Tuesday to extend the northern "
                                                       "tram line by four kilometres."), None),
    ],
)
def test_verdicts(data: bytes, content_type: str | None, hints: PageHints | None, reason: str | None) -> None:
    result = extract_page(data, "https://news.example/2026/11/tram", content_type=content_type, hints=hints)
    assert result.reason == reason, (result.detail, result.text[:200])
    if reason is None:
        assert result.text.startswith("The city council voted on Tuesday")
        assert "Council extends the northern tram line" not in result.text  # headline not repeated
    else:
        assert result.detail


def test_huge_page_is_bounded_and_still_extracted() -> None:
    # 200,000 list items after the article: the node cap cuts them before the extractor sees them
    junk = "<ul>" + "<li><a href='/x'>link</a></li>" * 200_000 + "</ul>"
    data = page(article_body() + junk)
    result = extract_page(data, "https://news.example/2026/11/tram", limits=Limits(max_bytes=10_000_000,
                                                                                  max_nodes=5_000))
    assert result.truncated and result.ok
    assert result.text.startswith("The city council voted on Tuesday")


def test_byte_cap_cuts_before_decoding() -> None:
    data = page(article_body() + "<p>" + "x " * 2_000_000 + "</p>")
    result = extract_page(data, None, limits=Limits(max_bytes=200_000))
    assert result.truncated
    assert "four kilometres" in result.text


@pytest.mark.parametrize(
    ("data", "content_type", "encoding", "source", "expected"),
    [
        # UTF-8 with a BOM and no declaration
        (b"\xef\xbb\xbf<html><body><p>caf\xc3\xa9</p></body></html>", None, "utf-8", "bom", "café"),
        # the header's charset
        ("<html><body><p>café</p></body></html>".encode("cp1252"), "text/html; charset=windows-1252", "cp1252",
         "header", "café"),
        # a meta charset after a long head of scripts
        (b"<html><head><script>" + b"x" * 5000 + b"</script><meta charset='shift_jis'></head><body><p>"
         + "日本語".encode("shift_jis") + b"</p></body></html>", None, "shift_jis", "meta", "日本語"),
        # declared latin-1 but the bytes are UTF-8: no mojibake
        ("<html><head><meta charset='iso-8859-1'></head><body><p>Zürich – café</p></body></html>".encode(),
         "text/html", "utf-8", "utf-8 check", "Zürich – café"),
        # nothing declared, not UTF-8: a Latin guess reads as Windows-1252 (é in cp1250 would be č)
        ("<html><body><p>Les élèves ont été très contents de leur été à la mer, déclarait-il.</p></body></html>"
         .encode("cp1252"), None, "cp1252", "detected", "élèves"),
        # nothing declared, Cyrillic Windows-1251: detected
        ("<html><body><p>Московский городской суд в четверг отклонил жалобу защиты на решение о продлении "
         "ареста, сообщили в пресс-службе суда.</p></body></html>".encode("cp1251"), None, "cp1251", "detected",
         "Московский"),
        # an unknown charset label is ignored (and UTF-8 bytes read as such)
        ("<html><head><meta charset='x-nonsense'></head><body><p>naïve</p></body></html>".encode(), None,
         "utf-8", "utf-8 check", "naïve"),
    ],
)
def test_decoding(data: bytes, content_type: str | None, encoding: str | None, source: str, expected: str) -> None:
    decoded = decode_page(data, content_type)
    assert decoded.source == source
    assert encoding is None or decoded.encoding == encoding
    assert expected in decoded.text
