"""Text from outside (a feed, a page, a server, the database) made safe to print on a terminal. Pure, and
cheap to import (the command line imports it before anything else)."""

from __future__ import annotations

# C0 controls, DEL, C1 controls, and the bidirectional formatting characters (a right-to-left override makes
# a line read differently from what it holds), each shown as its Python escape
_UNSAFE = [*range(0x00, 0x20), *range(0x7F, 0xA0), 0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F),
           *range(0x2066, 0x206A), 0x2028, 0x2029]
_ESCAPES = {c: (f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}") for c in _UNSAFE}
_ESCAPES_MULTILINE = {c: e for c, e in _ESCAPES.items() if c not in (0x09, 0x0A)}


def terminal_safe(value: object, *, multiline: bool = False) -> str:
    """``value`` as a string that prints as itself: control and bidi characters escaped (``\\x1b``, ``\\u202e``).
    ``multiline`` keeps newlines and tabs (an article's text); otherwise they are escaped too."""
    return str(value).translate(_ESCAPES_MULTILINE if multiline else _ESCAPES)


# JSON escapes C0 itself; what it passes raw with ensure_ascii=False: DEL, C1 and the bidi controls
_JSON_ESCAPES = {c: f"\\u{c:04x}" for c in _UNSAFE if c >= 0x7F}


def json_safe(document: str) -> str:
    """A JSON text (from ``json.dumps(..., ensure_ascii=False)``) with DEL, C1 and bidi controls written as
    ``\\uXXXX`` escapes: the same document once parsed, and nothing a terminal acts on when printed."""
    return document.translate(_JSON_ESCAPES)
