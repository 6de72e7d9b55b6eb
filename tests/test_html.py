"""Text rules (worker/normalize/html.py): sanitising, HTML → paragraphs, plain text, titles."""

from __future__ import annotations

import pytest

from worker.normalize.html import (
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


# --- fast paths: each must give what the general code gives ----------------------------------------------------
TRICKY_TEXTS = [
    "", " ", "plain ascii text", "  two  spaces  ", "tab\there", "line\nbreak", "cr\rlf", "ff\fvt\v", "nbsp\xa0here",
    "ls\u2028ps\u2029ideo\u3000sp", "thin\u2009space", "zero\u200bwidth", "soft\xadhyphen", "nul\x00byte",
    "bell\x07 esc\x1b", "del\x7f", "c1 \x85 \x93quoted\x94", "lone \ud800 surrogate", "nonchar \ufffe \uffff",
    "émoji 🙂 ok", "ΣΊΣΥΦΟΣ", "北京\u3000报道", "\x1c\x1d\x1e\x1f", " \n ", "a\u2009\u2009b",
]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_scrub_fast_checks_agree_with_the_pattern(text: str) -> None:
    from worker.normalize import html

    general = html._BAD_CHARS.sub("", text.translate(html._C1_TO_CP1252)) if html._BAD_CHARS.search(text) else text
    assert scrub(text) == general


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_collapse_fast_check_agrees_with_the_scans(text: str) -> None:
    from worker.normalize import html

    general = " ".join(text.split()) if any(odd in text for odd in html._ODD_SPACE) else text.strip()
    assert html._collapse(text) == general


@pytest.mark.parametrize("text", [
    "\x01\x01a\x01 \x01\n\x01b  c\x01\u2009\x01d",  # empty, blank and exotic-space-only chunks among real ones
    "a\x02\x02b\x01 \x02 \x01c\nd",  # line breaks, a blank chunk holding one
    "\x01\u3000\x01x\xa0y",
])
def test_split_paragraphs_skips_blank_chunks_like_trimming_would(text: str) -> None:
    from worker.normalize import html

    collapse = html._collapse if any(odd in text for odd in html._ODD_SPACE) else str.strip
    text2 = html._BR_RUN.sub(html._BLOCK, text) if html._BR in text else text
    expected = []
    for chunk in text2.split(html._BLOCK):
        para = ("\n".join(line for line in (collapse(seg) for seg in chunk.split(html._BR)) if line)
                if html._BR in chunk else collapse(chunk))
        if para:
            expected.append(para)
    assert html._split_paragraphs(text) == expected


def test_factored_block_names_match_exactly_the_names() -> None:
    """The prefix-factored alternation matches each block element name and nothing else (every name, every
    prefix and one-letter extension of one, and all short strings over the names' letters)."""
    import itertools
    import re

    from worker.normalize import html

    names = set(html._BLOCK_ELEMENTS)
    factored = re.compile(html._BLOCK_NAMES)
    letters = sorted({c for n in names for c in n})
    candidates = set(names) | {n[:i] for n in names for i in range(len(n))}
    candidates |= {n + c for n in names for c in letters}
    candidates |= {"".join(t) for k in (1, 2) for t in itertools.product(letters, repeat=k)}
    for c in candidates:
        assert (factored.fullmatch(c) is not None) == (c in names), c
    for extra in (["a", "ab", "abc", "b"], ["", "x"], ["same", "same"]):
        assert {w for w in extra if re.fullmatch(html._factored(extra), w)} == set(extra)


@pytest.mark.parametrize("text", [*TRICKY_TEXTS, "  Title  ", "A &amp; B", "a <b>bold</b> title", "x" * 1200,
                                  "word " * 250, "Ünïcode title", "tab\tin title"])
def test_clean_line_fast_path_agrees_with_the_steps(text: str) -> None:
    """Printable text without "<", "&" or double spaces skips scrub, unescape and collapse: it must come out as
    those steps would make it."""
    import html as stdlib_html

    from worker.normalize import html
    from worker.normalize.html import clean_line

    for limit in (1000, 50):
        t = scrub(text)
        if "<" in t:
            t = html._TAG_LIKE.sub(" ", t)
        for _ in range(2):
            if "&" not in t:
                break
            t = scrub(stdlib_html.unescape(t))
        t = html._collapse(t)
        if len(t) > limit:
            cut = t[: limit - 1]
            space = cut.rfind(" ")
            if space > limit * 0.8:
                cut = cut[:space]
            t = cut.rstrip() + "…"
        assert clean_line(text, limit) == t
