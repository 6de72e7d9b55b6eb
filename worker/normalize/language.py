"""Item language as ISO 639-1 (pure; the detector's model ships inside py3langid, nothing is downloaded).

The feed's (or item's) declaration is checked against detection on the text: when the text is long
enough and the detector is confident, detection wins (feeds often declare one language for everything);
otherwise the declaration stands. With no declaration, a confident detection on enough text is used.
Detection reads only a prefix of the text (py3langid's cost grows with the bytes it walks), and the model loads
once per process, on first use or in :func:`warm`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["detect_language", "normalize_language", "resolve_language", "warm"]

PREFIX_CHARS = 400  # detection reads this much text
MIN_CHARS_OVERRIDE = 200  # text needed before detection may contradict a declaration
MIN_CHARS_UNDECLARED = 60  # text needed to name a language the feed did not declare
CONFIDENCE_OVERRIDE = 0.9
CONFIDENCE_UNDECLARED = 0.6

_CODE = re.compile(r"^\s*([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*\s*$")
# ISO 639-2/T and /B codes feeds use instead of 639-1, for the languages seen in news feeds.
_THREE_TO_TWO = {
    "eng": "en", "fra": "fr", "fre": "fr", "deu": "de", "ger": "de", "spa": "es", "ita": "it", "por": "pt",
    "nld": "nl", "dut": "nl", "rus": "ru", "ara": "ar", "zho": "zh", "chi": "zh", "jpn": "ja", "kor": "ko",
    "tur": "tr", "pol": "pl", "swe": "sv", "nor": "no", "nob": "nb", "dan": "da", "fin": "fi", "ces": "cs",
    "cze": "cs", "ell": "el", "gre": "el", "heb": "he", "hin": "hi", "urd": "ur", "fas": "fa", "per": "fa",
    "ukr": "uk", "hun": "hu", "ron": "ro", "rum": "ro", "ind": "id", "vie": "vi", "tha": "th", "cat": "ca",
}
_ALIASES = {"iw": "he", "in": "id", "ji": "yi", "jw": "jv"}


def normalize_language(code: str | None) -> str | None:
    """``en-US`` → ``en``, ``ENG`` → ``en``; None when it is not a language code."""
    if not code:
        return None
    m = _CODE.match(code)
    if m is None:
        return None
    tag = m.group(1).lower()
    if len(tag) == 3:
        return _THREE_TO_TWO.get(tag)
    return _ALIASES.get(tag, tag)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    """py3langid's identifier with its shipped model, probabilities normalised (a confidence in 0..1). Loaded
    once per process; the library's own module-level identifier is left alone because it does not normalise."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def warm() -> None:
    """Load the model now rather than on the first detection. A prefork worker's main process calls this
    before it forks (``worker.ops.signals``): its children share the tables instead of each loading its own copy,
    and no child's first task pays for the load."""
    _identifier()


def detect_language(text: str) -> tuple[str | None, float]:
    """(ISO 639-1 code, confidence 0..1) for the first :data:`PREFIX_CHARS` of ``text``."""
    sample = text[:PREFIX_CHARS]
    if not sample.strip():
        return None, 0.0
    lang, conf = _identifier().classify(sample)
    return normalize_language(lang), float(conf)


def resolve_language(declared: str | None, text: str) -> str | None:
    """The item's language: the declaration unless confident detection on enough text says otherwise."""
    decl = normalize_language(declared)
    n = len(text)
    if decl is not None:
        if n < MIN_CHARS_OVERRIDE:
            return decl
        found, conf = detect_language(text)
        if found is not None and found != decl and conf >= CONFIDENCE_OVERRIDE:
            return found
        return decl
    if n < MIN_CHARS_UNDECLARED:
        return None
    found, conf = detect_language(text)
    return found if conf >= CONFIDENCE_UNDECLARED else None
