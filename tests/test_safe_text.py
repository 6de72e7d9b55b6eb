"""``terminal_safe``: text from outside prints as itself; nothing in it acts on the terminal."""

from __future__ import annotations

from worker.cli.safe_text import terminal_safe


def test_controls_and_bidi_are_escaped() -> None:
    assert terminal_safe("a\x1b]0;t\x07b") == r"a\x1b]0;t\x07b"
    assert terminal_safe("\x00\x7f\x85\x9b") == r"\x00\x7f\x85\x9b"
    assert terminal_safe("\u202eexe.txt\u2066\u061c") == r"\u202eexe.txt\u2066\u061c"
    assert terminal_safe("one\ntwo\tthree") == r"one\x0atwo\x09three"


def test_multiline_keeps_newlines_and_tabs_only() -> None:
    assert terminal_safe("one\ntwo\tthree\r\x1b[2J", multiline=True) == "one\ntwo\tthree" + r"\x0d\x1b[2J"


def test_ordinary_text_is_unchanged() -> None:
    text = "Café — «Nachrichten» 東京 عربي [bold]not markup[/] 100%"
    assert terminal_safe(text) == text
    assert terminal_safe(42) == "42"


def test_json_safe_escapes_what_a_terminal_acts_on_and_keeps_the_document() -> None:
    import json

    from worker.cli.safe_text import json_safe

    doc = {"title": "Story \u202egnp.exe \x9b2J \x1b]0;t\x07 Ūdre 東京", "n": 1}
    raw = json.dumps(doc, ensure_ascii=False)
    assert "\u202e" in raw and "\x9b" in raw  # what ensure_ascii=False lets through
    out = json_safe(raw)
    assert not any(0x7F <= ord(c) < 0xA0 or c == "\u202e" or ord(c) < 0x20 for c in out), out
    assert json.loads(out) == doc  # the same document, escaped
    assert "Ūdre 東京" in out  # readable text stays as it is
