"""Item language as ISO 639-1 (pure; the detector's model ships inside py3langid, nothing is downloaded).

The feed's (or item's) declaration is checked against detection on the text: when the text is long
enough and the detector is confident, detection wins (feeds often declare one language for everything);
otherwise the declaration stands. With no declaration, a confident detection on enough text is used.
Detection reads only a prefix of the text, and the model loads on first use. It runs py3langid's own model and
arithmetic, with its two slow steps done faster for the same numbers (see :class:`_Classifier`).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np
import xxhash

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
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


# py3langid's features come from a byte automaton whose state, for the model it ships (0.4.0, fingerprint
# below), depends only on the last DFA_CONTEXT bytes read: after any 6 bytes it is the same whatever state it
# started in (tests/test_normalize.py proves it on the installed model by walking every 6-byte string class).
DFA_CONTEXT = 6
DFA_FINGERPRINT = "fe2446c16cda87ab:eeddb25efce8f17a"


def dfa_fingerprint(ident: Any) -> str:
    """Identifies the automaton (transitions and row offsets) of a py3langid identifier."""
    rows = np.asarray(ident.tk_row, dtype=np.int64).tobytes()
    return f"{xxhash.xxh3_64_hexdigest(memoryview(ident.tk_nextmove))}:{xxhash.xxh3_64_hexdigest(rows)}"


_HALF_TO_SINGLE = np.uint32(((1 << 31) - (1 << 28) + (112 << 23)) % (1 << 32))


class _Classifier:
    """py3langid's ``classify`` (``norm_probs=True``), the same numbers about twice as fast. Two steps change:

    - the automaton walk over the text's bytes (a Python loop, one step per byte) becomes DFA_CONTEXT numpy
      steps over all positions at once: position i's state is the walk from the start state over bytes
      i-5..i, which is the state the byte-by-byte walk reaches there (see DFA_CONTEXT);
    - the float16 rows of the weight table are widened to float32 by bit arithmetic (exact for the negative
      normal numbers the table holds, checked on load) instead of numpy's slow float16 cast.

    Features are counted in first-occurrence order, as the library's Counter does, and the float32 matmul,
    softmax and alias folding are the library's own operations in the same order: the result is identical."""

    def __init__(self, ident: Any) -> None:
        self._nm = np.frombuffer(ident.tk_nextmove, dtype=np.uint32)
        self._rowbase = np.asarray(ident.tk_row, dtype=np.int64) << 8
        self._out = np.asarray(ident.tk_output, dtype=np.int64)
        self._ptc = np.ascontiguousarray(ident.nb_ptc).view(np.uint16)
        self._pc = ident.nb_pc
        self._classes = list(ident.nb_classes)
        first: dict[str, int] = {}
        self._alias_pairs: list[tuple[int, int]] = []
        for i, c in enumerate(self._classes):
            if c in first:
                self._alias_pairs.append((first[c], i))
            else:
                first[c] = i

    @staticmethod
    def usable(ident: Any) -> bool:
        """Whether ``ident`` is the model this class reproduces exactly."""
        try:
            if ident.tk_nextmove.itemsize != 4 or ident.nb_ptc.dtype != np.float16 or ident.min_confidence is not None:
                return False
            bits = np.ascontiguousarray(ident.nb_ptc).view(np.uint16)
            exponent = (bits >> 10) & 0x1F
            negative_normal = (bits >= 0x8000) & (exponent != 0) & (exponent != 0x1F)  # (log-probabilities)
            return bool(negative_normal.all()) and dfa_fingerprint(ident) == DFA_FINGERPRINT
        except (AttributeError, TypeError, ValueError):
            return False

    def _features(self, data: bytes) -> np.ndarray:
        d = np.frombuffer(data, dtype=np.uint8)
        n = len(d)
        states = np.zeros(n, dtype=np.int64)
        for back in range(min(DFA_CONTEXT, n) - 1, -1, -1):  # position i reads byte i - back
            states[back:] = self._nm[self._rowbase[states[back:]] + d[: n - back]]
        found = self._out[states]
        return found[found >= 0]

    def _rows(self, idx: np.ndarray) -> np.ndarray:
        """Rows ``idx`` of the float16 table as float32. Every entry is a negative normal number (checked on load):
        half 1|e|m (5 + 10 bits) becomes single 1|e+112|m<<13, i.e. (half << 13) - (1 << 28) + (112 << 23)
        + (1 << 31), one shift and one add modulo 2**32."""
        wide = np.left_shift(self._ptc[idx], 13, dtype=np.uint32)
        wide += _HALF_TO_SINGLE
        return wide.view(np.float32)

    def classify(self, text: str) -> tuple[str, float]:
        if text.isupper():
            text = text.lower()
        data = unicodedata.normalize("NFC", text).encode("utf8", errors="surrogatepass")
        found = self._features(data)
        if len(found):
            # each feature once, with its count, in order of first occurrence (the library's Counter order)
            features, first, counts = np.unique(found, return_index=True, return_counts=True)
            order = np.argsort(first)
            scores = np.log1p(counts[order].astype(np.float32)) @ self._rows(features[order]) + self._pc
        else:
            scores = np.full(len(self._classes), 0.0, dtype=np.float32)
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in self._alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        best = int(scores.argmax())
        return self._classes[best], float(scores[best])


@lru_cache(maxsize=1)
def _classify() -> Callable[[str], tuple[str, float]]:
    ident = _identifier()
    return _Classifier(ident).classify if _Classifier.usable(ident) else ident.classify


def warm() -> None:
    """Load the model now rather than on the first detection. A prefork worker's main process calls this
    before it forks (``worker.ops.signals``): its children share the tables instead of each loading its own copy,
    and no child's first task pays for the load."""
    _classify()


def detect_language(text: str) -> tuple[str | None, float]:
    """(ISO 639-1 code, confidence 0..1) for the first :data:`PREFIX_CHARS` of ``text``."""
    sample = text[:PREFIX_CHARS]
    if not sample.strip():
        return None, 0.0
    lang, conf = _classify()(sample)
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
