"""Text rules (worker/html.py): sanitising, HTML → paragraphs, plain text, titles."""

from __future__ import annotations

import pytest

from worker.html import (
    TITLE_MAX,
    clean_title,
    html_to_paragraphs,
    nesting_too_deep,
    sanitize_html,
    scrub,
    text_to_paragraphs,
)

BASE = "https://ex.com/blog/post/"

SANITIZE_CASES = [
    # script element and its content removed
    ("<p>a</p><script>alert(1)</script>", "<p>a</p>"),
    # style element and its content removed
    ("<style>p{color:red}</style><p>a</p>", "<p>a</p>"),
    # iframes removed with their content
    ('<iframe src="https://evil.example/"></iframe><p>a</p>', "<p>a</p>"),
    # event handlers and style attributes dropped
    ('<p onclick="x()" style="color:red">a</p>', "<p>a</p>"),
    # javascript: URLs dropped (mixed case too)
    ('<a href="JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener noreferrer">x</a>'),
    # data: images dropped
    ('<img src="data:image/png;base64,AAAA">', "<img>"),
    # relative href made absolute against the item base
    ('<a href="../other">x</a>', '<a href="https://ex.com/blog/other" rel="noopener noreferrer">x</a>'),
    # relative img src made absolute
    ('<img src="/i/a.png" alt="A">', '<img src="https://ex.com/i/a.png" alt="A">'),
    # ordinary markup kept
    ("<p><b>bold</b> <em>it</em></p><ul><li>x</li></ul>", "<p><b>bold</b> <em>it</em></p><ul><li>x</li></ul>"),
    # unknown tags unwrapped, text kept
    ("<custom-tag>kept</custom-tag>", "kept"),
    # NUL removed
    ("<p>a\x00b</p>", "<p>ab</p>"),
    # forms removed with their controls
    ('<form action="/x"><input name="q"><button>go</button></form><p>a</p>', "<p>a</p>"),
]


@pytest.mark.parametrize(("html", "expected"), SANITIZE_CASES)
def test_sanitize_html(html: str, expected: str) -> None:
    assert sanitize_html(html, BASE) == expected


def test_sanitize_without_http_base_drops_relative_urls() -> None:
    out = sanitize_html('<a href="post.html">x</a><a href="https://ok.example/">y</a>', "file:///tmp/f.xml")
    assert 'href="post.html"' not in out
    assert 'href="https://ok.example/"' in out


PARAGRAPH_CASES = [
    # one paragraph per <p>
    ("<p>One.</p><p>Two.</p>", ["One.", "Two."]),
    # entities decoded, inline markup flattened
    ("<p>Caf&eacute; &amp; <b>bar</b></p>", ["Café & bar"]),
    # a double <br> splits paragraphs, a single one is a line break
    ("first<br>line<br><br>second", ["first\nline", "second"]),
    # text around block elements becomes its own paragraph
    ("<div>intro<p>body</p>tail</div>", ["intro", "body", "tail"]),
    # list items and headings are blocks
    ("<h2>Head</h2><ul><li>a</li><li>b</li></ul>", ["Head", "a", "b"]),
    # white space collapsed, empty blocks dropped
    ("<p>  a \n\t b  </p><p> </p><p>&nbsp;</p>", ["a b"]),
    # script content never reaches the text
    ("<p>a</p><script>var x = 1;</script>", ["a"]),
    # plain text without markup is split on blank lines
    ("para one\nstill one\n\npara two", ["para one still one", "para two"]),
    # Windows-1252 bytes read as ISO-8859-1 (C1 controls) are mapped back
    ("it\x92s", ["it’s"]),
    # table rows are blocks, cells are separated by a space
    ("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td></tr></table>", ["a b", "c"]),
    # empty
    ("", []),
]


@pytest.mark.parametrize(("html", "expected"), PARAGRAPH_CASES)
def test_html_to_paragraphs(html: str, expected: list[str]) -> None:
    assert html_to_paragraphs(html) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a\n\nb", ["a", "b"]),  # blank line separates
        ("a\n   \n\nb", ["a", "b"]),  # blank line with spaces
        ("  lone  ", ["lone"]),  # single line trimmed
        ("a\x00b\x07c", ["abc"]),  # controls removed
    ],
)
def test_text_to_paragraphs(text: str, expected: list[str]) -> None:
    assert text_to_paragraphs(text) == expected


TITLE_CASES = [
    # markup removed (gofeed rss_channel_item_title_escaped_markup)
    ("<b>Bold</b> title", "Bold title"),
    # entities decoded
    ("Tom &amp; Jerry", "Tom & Jerry"),
    # double-escaped entities decoded too
    ("Tom &amp;amp; Jerry", "Tom & Jerry"),
    # numeric references
    ("It&#8217;s here", "It’s here"),
    # a literal "<" that is not a tag stays
    ("a < b", "a < b"),
    # white space and newlines collapsed
    ("  Two\n\tlines  ", "Two lines"),
    # NUL and controls removed
    ("A\x00B\x01C", "ABC"),
    # comments removed
    ("a<!-- x -->b", "a b"),
    # None becomes empty
    (None, ""),
]


@pytest.mark.parametrize(("raw", "expected"), TITLE_CASES)
def test_clean_title(raw: str | None, expected: str) -> None:
    assert clean_title(raw) == expected


def test_clean_title_is_bounded() -> None:
    out = clean_title("word " * 1000)
    assert len(out) <= TITLE_MAX
    assert out.endswith("…")


def test_scrub_removes_lone_surrogates_and_nul() -> None:
    assert scrub("a\ud800b\x00c\ufffe") == "abc"
    # the result encodes as UTF-8 (PostgreSQL accepts it)
    scrub("x\udfffy").encode("utf-8")


@pytest.mark.parametrize(
    ("html", "deep"),
    [
        ("<div>" * 1500 + "x" + "</div>" * 1500, True),  # a nesting bomb (3,000 tags)
        ("<div>x" * 2500, True),  # unclosed, text between
        ("<p>x" * 5000, False),  # paragraphs close each other implicitly
        ("<div><p>a</p></div>" * 3000, False),  # many tags, shallow
        ("<br>" * 5000, False),  # void elements
        ("<div>" * 50, False),  # too few tags to bother scanning
    ],
)
def test_nesting_too_deep(html: str, deep: bool) -> None:
    assert nesting_too_deep(html) is deep
