"""Fingerprints for exact and near-duplicate detection (pure, no I/O).

Exact level: :func:`content_hash` over :func:`text_key` (the unique index on ``articles.content_hash``
relies on both staying exactly as they are).

Near-duplicate level:

* :func:`fingerprint` turns a title and a cleaned text into word shingles (hashed to uint64), a MinHash
  signature (numpy, multiply-shift hashing of xxhash'd shingles) and the *candidate keys* stored in
  PostgreSQL: LSH band keys of the signature (near-duplicates by Jaccard), lead keys (a bottom-k sketch of
  the opening words: finds summary-only copies, which LSH misses) and a title key.
* :func:`compare` is the exact verification run on each candidate: Jaccard on the shingle sets, containment
  for a short copy inside a longer article with a similar title, and the template guard: two reports from
  one template about different events (titles, numbers, names, dates substituted in the same places) are
  different stories.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Literal

import numpy as np
import xxhash

_WORD = re.compile(r"\w+", re.UNICODE)
_xxh = xxhash.xxh3_64_intdigest
MIN_WORDS_FOR_TEXT_HASH = 25


def _words(text: str) -> list[str]:
    if not unicodedata.is_normalized("NFKC", text):  # a C-speed check; most texts are already NFKC
        text = unicodedata.normalize("NFKC", text)
    return _WORD.findall(text.casefold())


def text_key(text: str) -> str:
    """The normalised form the content hash is taken over: NFKC, case-folded words joined by spaces."""
    return " ".join(_words(text))


def content_hash(text: str, title: str = "", url: str | None = None) -> str:
    """Exact-duplicate key of an article's text.

    Long texts are keyed by their words alone, so the same report under another title or URL is one
    article. Short texts (teasers, empty bodies) would collide across unrelated items, so the title
    and URL are mixed in.
    """
    # b" ".join(word_bytes(text)) (text_key's words) without a bytes object per word: split only where a run of
    # separators is (its pieces then hold single spaces, and a space at an end from an odd run)
    key = b" ".join([piece for run in _word_runs(text).split(b"  ") if (piece := run.strip(b" "))])
    spaces = key.count(b" ", 0, 512)  # n words have n - 1 spaces; a prefix usually holds enough of them
    if spaces < MIN_WORDS_FOR_TEXT_HASH - 1:
        spaces = key.count(b" ")
        if (spaces + 1 if key else 0) < MIN_WORDS_FOR_TEXT_HASH:
            key = "\x1f".join((text_key(title), url or "", key.decode("utf-8"))).encode("utf-8")
    return hashlib.sha256(key).hexdigest()


# --- tunables (README: "Tuning the story thresholds") -------------------------------------------------------
# The version of the keys: bump it when SHINGLE_WORDS, NUM_PERM, BANDS, ROWS, LEAD_WORDS, LEAD_KEYS or the hashing
# change, then run `wirefeed reindex-stories` (the index rows of an older scheme no longer match new keys).
SCHEME = 1
SHINGLE_WORDS = 3  # words per shingle
NUM_PERM = 128  # MinHash permutations (signature length)
BANDS = 32  # LSH bands of NUM_PERM // BANDS rows: candidate threshold ≈ (1/BANDS)**(1/ROWS) ≈ 0.42
ROWS = NUM_PERM // BANDS
LEAD_WORDS = 40  # opening words sketched for the lead keys
LEAD_KEYS = 2  # bottom-k of the lead's shingle hashes
MIN_WORDS_NEAR = 12  # texts shorter than this are left to the exact levels (and own stories)
JACCARD_LINK = 0.5  # same story when shingle Jaccard reaches this (and the template guard agrees)
CONTAINMENT_LINK = 0.8  # ... or when the shorter text is this much inside the longer one
TITLE_LINK = 0.5  # containment needs titles this similar (word containment) ...
CONTAINMENT_STRONG = 0.9  # ... unless a whole lead of STRONG_MIN_WORDS words or more is (nearly) all inside
STRONG_MIN_WORDS = 30  # the other text (a summary-only copy of a re-titled rewrite)
MAX_CONFLICTS = 1  # template guard: more substituted facts than this => different events ...
DATE_CONFLICT_WEIGHT = 2  # ... a different date counts double (one is enough: another day, another event)
SLOT_MAX_WORDS = 6  # a replaced passage longer than this is a rewrite, not a template slot
ALIGN_MAX_WORDS = 1500  # the guard aligns at most this many words of each text

_rng = np.random.default_rng(0x5717E5)  # fixed: signatures must be stable across processes and releases
_PERM_A = (_rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64) * np.uint64(2) + np.uint64(1)).reshape(-1, 1)
_PERM_B = _rng.integers(0, 2**63, NUM_PERM, dtype=np.uint64).reshape(-1, 1)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_EMPTY_SIG = np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32)
_TITLE_LABEL = re.compile(r"^(?:update[sd]?|updated|breaking|exclusive|watch|video|live|analysis|"
                          r"opinion|factbox|explainer)\b\W*", re.IGNORECASE)


def words(text: str) -> list[str]:
    """The case-folded words shingles are made of (same tokenisation as :func:`text_key`)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


# ASCII bytes that are not word characters become spaces; bytes >= 0x80 (UTF-8 sequences) are kept whole.
_ASCII_WORD = bytes(c if c >= 0x80 or c == 0x5F or chr(c).isalnum() else 0x20 for c in range(256))
_ASCII_BYTES = bytes(range(0x80))


def _non_ascii(data: bytes) -> str:
    """The non-ASCII characters of UTF-8 ``data``, in order (its ASCII bytes deleted, the rest decoded)."""
    return data.translate(None, _ASCII_BYTES).decode("utf-8")


def _nfkc(text: str, chars: set[str]) -> tuple[str, set[str]]:
    """(NFKC of ``text``, its distinct non-ASCII characters), ``chars`` being those of ``text``. Each character
    whose compatibility decomposition is ASCII (the no-break space, "…", "™", ligatures, full-width Latin) is
    first replaced by that decomposition: NFKC composes the per-character full decomposition, which that leaves
    as it was, so NFKC is unchanged; and the text is then often NFKC already, which is checked at C speed
    instead of normalising the whole text at ~25 ns a character."""
    left = set()
    for ch in chars:
        decomposed = unicodedata.normalize("NFKD", ch)
        if decomposed != ch and decomposed.isascii():
            text = text.replace(ch, decomposed)
        else:
            left.add(ch)
    if unicodedata.is_normalized("NFKC", text):
        return text, left
    text = unicodedata.normalize("NFKC", text)
    return text, set(_non_ascii(text.encode("utf-8")))


def word_bytes(text: str) -> list[bytes]:
    """``words(text)`` UTF-8 encoded, several times faster (see :func:`_word_runs`)."""
    return _word_runs(text).split()


def _word_runs(text: str) -> bytes:
    """The UTF-8 words of ``words(text)``, in order, separated by runs of spaces: its ``split()`` is the word list.

    Python's ``\\w`` (str) is exactly ``isalnum()`` or ``_``, and ``casefold`` maps each character on its own
    (and is idempotent), so the work is done per distinct character, with C-speed passes over the text: each
    non-ASCII character whose fold differs is replaced by its fold, each non-ASCII character of the folded text
    that is not a word character by a space (``str.replace`` of one character); then ASCII is lower-cased and
    its separators become spaces on the UTF-8 bytes (``bytes.lower``, ``bytes.translate``). No per-word work."""
    if text.isascii():
        return text.lower().encode("ascii").translate(_ASCII_WORD)
    chars = set(_non_ascii(text.encode("utf-8")))
    if not unicodedata.is_normalized("NFKC", text):
        text, chars = _nfkc(text, chars)
    folded_chars: set[str] = set()
    for ch in chars:
        folded = ch.casefold()
        if folded != ch:
            text = text.replace(ch, folded)
            folded_chars.update(c for c in folded if not c.isascii())
        else:
            folded_chars.add(ch)
    for ch in folded_chars:
        if not ch.isalnum():
            text = text.replace(ch, " ")
    return text.encode("utf-8").lower().translate(_ASCII_WORD)


class _WordHashes(dict[bytes, int]):
    """Word -> xxh3 hash, memoised (news vocabulary is small; cleared when it grows past a bound)."""

    def __missing__(self, word: bytes) -> int:
        if len(self) >= _WORD_CACHE_MAX:
            self.clear()
        v = self[word] = _xxh(word)
        return v


_WORD_CACHE_MAX = 500_000
_word_hashes = _WordHashes()
_SHINGLE_MULT = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9),
                 np.uint64(0xD6E8FEB86659FD93), np.uint64(0xFF51AFD7ED558CCD))


def _raw_shingles(ws: list[bytes], k: int = SHINGLE_WORDS) -> np.ndarray:
    """uint64 hash of each k-word window, in text order (one window of all words if shorter than k)."""
    if not ws:
        return np.empty(0, dtype=np.uint64)
    h = np.fromiter(map(_word_hashes.__getitem__, ws), dtype=np.uint64, count=len(ws))
    k = min(k, len(ws))
    n = len(ws) - k + 1
    acc = h[:n] * _SHINGLE_MULT[0]
    for j in range(1, k):  # position-weighted sum (uint64, wrapping), then one finalising mix
        acc += h[j : j + n] * _SHINGLE_MULT[j % len(_SHINGLE_MULT)]
    acc ^= acc >> np.uint64(29)
    acc *= _MIX1
    acc ^= acc >> np.uint64(32)
    return acc


def minhash(shingles: np.ndarray) -> np.ndarray:
    """uint32[NUM_PERM] MinHash signature: min over shingles of the high 32 bits of a*x+b (mod 2**64)."""
    if shingles.size == 0:
        return _EMPTY_SIG.copy()
    hv = _PERM_A * shingles[None, :]
    hv += _PERM_B
    return (hv.min(axis=1) >> np.uint64(32)).astype(np.uint32)


def _signed(v: int) -> int:
    """An unsigned 64-bit hash as a PostgreSQL bigint."""
    return v - (1 << 64) if v >= (1 << 63) else v


def band_keys(signature: np.ndarray) -> list[int]:
    """One bigint per LSH band: two texts share a band key with probability ≈ 1-(1-J**ROWS)**BANDS."""
    rows = signature.astype("<u4").reshape(BANDS, ROWS)
    return [_signed(_xxh(rows[i].tobytes(), seed=i + 1)) for i in range(BANDS)]


def lead_keys(raw_shingles: np.ndarray) -> list[int]:
    """Bottom-k sketch of the opening words' shingles (``_raw_shingles`` order): a summary-only copy shares
    them with its article, even behind a dateline or with its last sentence cut."""
    lead = np.unique(raw_shingles[: max(1, LEAD_WORDS - SHINGLE_WORDS + 1)])
    return [_signed(_xxh(int(v).to_bytes(8, "little"), seed=1001)) for v in lead[:LEAD_KEYS]]


def title_words(title: str) -> list[str]:
    return words(_TITLE_LABEL.sub("", title.strip()))


def title_key(title: str) -> int | None:
    tw = title_words(title)
    if not tw:
        return None
    return _signed(_xxh(" ".join(tw).encode("utf-8"), seed=2002))


@dataclass(slots=True)
class Fingerprint:
    """Everything the story index needs about one text."""

    shingles: np.ndarray  # sorted unique uint64
    signature: np.ndarray  # uint32[NUM_PERM]
    word_count: int
    band_keys: list[int]  # empty when the text is too short for near-duplicate matching
    lead_keys: list[int]
    title_key: int | None

    @property
    def keys(self) -> list[int]:
        """All candidate keys (bigints) this text is indexed under."""
        out = [*self.band_keys, *self.lead_keys]
        if self.title_key is not None and self.band_keys:
            out.append(self.title_key)
        return out


def fingerprint(title: str, text: str) -> Fingerprint:
    ws = word_bytes(text)
    raw = _raw_shingles(ws)
    sh = np.unique(raw)
    sig = minhash(sh)
    if len(ws) < MIN_WORDS_NEAR:
        return Fingerprint(sh, sig, len(ws), [], [], title_key(title))
    return Fingerprint(sh, sig, len(ws), band_keys(sig), lead_keys(raw), title_key(title))


def signature_bytes(signature: np.ndarray) -> bytes:
    return signature.astype("<u4").tobytes()


def signature_from_bytes(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<u4").astype(np.uint32)


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    return float(np.count_nonzero(sig_a == sig_b)) / NUM_PERM


def estimated_containment(jaccard: float, count_a: int, count_b: int) -> float:
    """|A∩B| / min(|A|,|B|) from an (estimated) Jaccard and the set sizes."""
    small = min(count_a, count_b)
    if small == 0:
        return 0.0
    inter = jaccard * (count_a + count_b) / (1.0 + jaccard)
    return min(1.0, inter / small)


def overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Exact (Jaccard, containment of the smaller in the larger) of two sorted unique shingle arrays."""
    if a.size == 0 or b.size == 0:
        return 0.0, 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter), inter / min(a.size, b.size)


# --- template guard ------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*%?|\w+(?:[-'’]\w+)*", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?:;\"“”(\[]\s*$")
_NAME_PARTS = re.compile(r"[-'’]")
_DATE_WORDS = frozenset((
    # English
    "january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
    "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
    # French
    "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre",
    "décembre", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche",
    # German
    "januar", "jänner", "februar", "märz", "juni", "juli", "oktober", "dezember", "montag", "dienstag",
    "mittwoch", "donnerstag", "freitag", "samstag", "sonntag",
    # Spanish
    "enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "setiembre",
    "octubre", "noviembre", "diciembre", "lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo",
    # Portuguese
    "janeiro", "fevereiro", "março", "maio", "junho", "julho", "setembro", "outubro", "novembro", "dezembro",
    # (not the weekdays "segunda" ... "sexta": they are the ordinals "second" ... "sixth" too)
    # Italian
    "gennaio", "febbraio", "aprile", "maggio", "giugno", "luglio", "settembre", "ottobre", "dicembre",
    "lunedì", "martedì", "mercoledì", "giovedì", "venerdì",
))


@dataclass(frozen=True, slots=True)
class _Tokens:  # frozen: _body_tokens hands the same object to every caller
    raw: list[str]  # as written
    folded: list[str]
    names: set[str]  # folded tokens written capitalised inside a sentence somewhere in the text
    vocab: set[str]


def _capitalised(tok: str) -> bool:
    """Whether any part of a token starts with a capital ("Cairo", "al-Hussein", "O'Neill")."""
    if tok[:1].isupper():
        return True
    return ("-" in tok or "'" in tok or "’" in tok) and any(part[:1].isupper() for part in _NAME_PARTS.split(tok))


def _tokens(text: str, names_from: set[str] | None = None) -> _Tokens:
    text = unicodedata.normalize("NFKC", text)
    if names_from is not None:  # titles: a name is what the article's body writes as one
        raw = _TOKEN.findall(text)
        folded = [t.casefold() for t in raw]
        return _Tokens(raw, folded, {f for f in folded if f in names_from}, set(folded))
    raw = []
    names: set[str] = set()
    last = 0
    for m in _TOKEN.finditer(text):
        tok = m.group()
        # a capitalised token inside a sentence (not after a sentence end or a line break) is a name
        if raw and (tok[0].isupper() or (("-" in tok or "'" in tok or "’" in tok) and _capitalised(tok))):
            gap = text[last : m.start()]
            if "\n" not in gap and not _SENTENCE_END.search(gap):
                names.add(tok.casefold())
        raw.append(tok)
        last = m.end()
    folded = [t.casefold() for t in raw]
    return _Tokens(raw, folded, names, set(folded))


@lru_cache(maxsize=64)
def _body_tokens(text: str) -> _Tokens:
    """``_tokens`` of a body, remembered: an original is verified against each of its copies in turn."""
    return _tokens(text)


def _fact_kind(folded: str, names: set[str]) -> str | None:
    if any(c.isdigit() for c in folded):
        return "number"
    if folded in _DATE_WORDS:
        return "date"
    if folded in names and len(folded) > 1:
        return "name"
    return None


@dataclass(frozen=True, slots=True)
class Conflict:
    """A slot where one text has facts (numbers, dates, names) the other has none of."""

    where: str  # "title" | "text"
    kind: str  # "number" | "date" | "name"
    a: str
    b: str

    def __str__(self) -> str:
        return f"{self.where} {self.kind}: {self.a!r} vs {self.b!r}"


_DATE_JOINERS = frozenset(("de", "del", "di", "of"))  # "16 de septiembre", "16th of September"


def _next_to_date_word(folded: list[str], i: int) -> bool:
    """A number beside a month or weekday ("September 10", "10 September", "10 de septiembre")."""
    if (i > 0 and folded[i - 1] in _DATE_WORDS) or (i + 1 < len(folded) and folded[i + 1] in _DATE_WORDS):
        return True
    return i + 2 < len(folded) and folded[i + 1] in _DATE_JOINERS and folded[i + 2] in _DATE_WORDS


def _slot_facts(folded: list[str], i1: int, i2: int, names: set[str]) -> set[tuple[str, str]]:
    out = set()
    for i in range(i1, i2):
        kind = _fact_kind(folded[i], names)
        if kind == "number" and _next_to_date_word(folded, i):
            kind = "date"
        if kind:
            out.add((folded[i], kind))
    return out


def _conflicts(a: _Tokens, b: _Tokens, vocab_a: set[str], vocab_b: set[str], where: str) -> list[Conflict]:
    out: list[Conflict] = []
    fa, fb = a.folded[:ALIGN_MAX_WORDS], b.folded[:ALIGN_MAX_WORDS]
    for op, i1, i2, j1, j2 in SequenceMatcher(None, fa, fb, autojunk=False).get_opcodes():
        if op != "replace" or max(i2 - i1, j2 - j1) > SLOT_MAX_WORDS:
            # Insertions and deletions are edits (a line added, a paragraph dropped); a long replaced
            # passage is a rewritten sentence or headline. Neither is a template slot filled differently.
            continue
        kinds_a = _slot_facts(fa, i1, i2, a.names)
        kinds_b = _slot_facts(fb, j1, j2, b.names)
        # A conflict: both slots hold facts, they differ, and at least one side's are foreign to the
        # other text (a fact merely moved elsewhere is an edit, not a different event).
        foreign = any(t not in vocab_b for t, _ in kinds_a) or any(t not in vocab_a for t, _ in kinds_b)
        if kinds_a and kinds_b and foreign and {t for t, _ in kinds_a} != {t for t, _ in kinds_b}:
            kinds = {k for _, k in kinds_a | kinds_b}
            kind = "date" if "date" in kinds else "number" if "number" in kinds else "name"
            out.append(Conflict(where, kind, " ".join(a.raw[i1:i2]), " ".join(b.raw[j1:j2])))
    return out


def template_conflicts(title_a: str, text_a: str, title_b: str, text_b: str) -> list[Conflict]:
    """Facts substituted between two texts: where one says 'Libya', 'September 16', '5.25%' the other
    says 'Sudan', 'October 2', '5.5%'. Edits (added or dropped passages) are not conflicts."""
    ta, tb = _body_tokens(text_a), _body_tokens(text_b)
    ha, hb = _tokens(title_a, names_from=ta.names), _tokens(title_b, names_from=tb.names)
    vocab_a, vocab_b = ta.vocab | ha.vocab, tb.vocab | hb.vocab
    return _conflicts(ha, hb, vocab_a, vocab_b, "title") + _conflicts(ta, tb, vocab_a, vocab_b, "text")


def title_similarity(title_a: str, title_b: str) -> float:
    """Word containment of the shorter title in the longer one (labels such as 'Update:' ignored)."""
    wa, wb = set(title_words(title_a)), set(title_words(title_b))
    if not wa or not wb:
        return 0.0
    return len(wa & wb) / min(len(wa), len(wb))


@dataclass(frozen=True, slots=True)
class Verdict:
    same: bool
    method: Literal["near_duplicate", "containment", "distinct"]
    score: float  # the score the decision rests on: Jaccard, or containment
    jaccard: float
    containment: float
    reason: str


def compare(
    title_a: str, text_a: str, title_b: str, text_b: str,
    fp_a: Fingerprint | None = None, fp_b: Fingerprint | None = None,
) -> Verdict:
    """Exact verification of a candidate pair: are these two texts one story?"""
    fp_a = fp_a or fingerprint(title_a, text_a)
    fp_b = fp_b or fingerprint(title_b, text_b)
    jac, con = overlap(fp_a.shingles, fp_b.shingles)
    scores = f"jaccard {jac:.3f}, containment {con:.3f}"
    method: Literal["near_duplicate", "containment"]
    if min(fp_a.word_count, fp_b.word_count) < MIN_WORDS_NEAR:
        return Verdict(False, "distinct", jac, jac, con, f"too short for near-duplicate matching ({scores})")
    if jac >= JACCARD_LINK:
        method, score = "near_duplicate", jac
    elif con >= CONTAINMENT_LINK:
        tsim = title_similarity(title_a, title_b)
        strong = con >= CONTAINMENT_STRONG and min(fp_a.word_count, fp_b.word_count) >= STRONG_MIN_WORDS
        if tsim < TITLE_LINK and not strong:
            return Verdict(False, "distinct", con, jac, con,
                           f"contained but titles differ (title similarity {tsim:.2f}; {scores})")
        method, score = "containment", con
    else:
        return Verdict(False, "distinct", jac, jac, con, f"not similar enough ({scores})")
    conflicts = template_conflicts(title_a, text_a, title_b, text_b)
    weight = sum(DATE_CONFLICT_WEIGHT if c.kind == "date" else 1 for c in conflicts)
    if weight > MAX_CONFLICTS:
        shown = "; ".join(str(c) for c in conflicts[:4])
        return Verdict(False, "distinct", score, jac, con,
                       f"template near miss: {len(conflicts)} facts disagree ({shown}); {scores}")
    note = f"; tolerated: {conflicts[0]}" if conflicts else ""
    return Verdict(True, method, score, jac, con, f"{method}: {scores}{note}")
