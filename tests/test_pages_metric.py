"""The shingle F1 of the page evaluation (bench/pages_eval.py): one table row per case."""

from __future__ import annotations

import pytest

from bench.pages_eval import overall, page_scores, shingles

TEN = "one two three four five six seven eight nine ten"


@pytest.mark.parametrize(
    ("expected", "got", "precision", "recall"),
    [
        # identical text: everything matches
        (TEN, TEN, 1.0, 1.0),
        # case and punctuation do not count: the same \w+ tokens
        (TEN, TEN.upper().replace(" ", ", "), 1.0, 1.0),
        # extra text: 7 expected shingles, 7 more junk ones (10 junk words + 3 bridging shingles)
        (TEN, TEN + " a b c d e f g h i j", 7 / 17, 1.0),
        # half the text missing: 2 of 7 shingles found, all of them right
        (TEN, "one two three four five", 1.0, 2 / 7),
        # nothing extracted where a body exists: no vacuous precision
        (TEN, "", 0.0, 0.0),
        # nothing to extract and nothing extracted
        ("", "", 1.0, 1.0),
        # a body shorter than a shingle is one shingle of all its words
        ("short text", "short text", 1.0, 1.0),
        # repeated text counts as often as it is there (multisets): the copy is all false positives
        (TEN, TEN + " " + TEN, 7 / 17, 1.0),
    ],
)
def test_page_scores(expected: str, got: str, precision: float, recall: float) -> None:
    assert page_scores(expected, got) == pytest.approx((precision, recall))


def test_shingles_are_a_multiset_of_word_windows() -> None:
    assert shingles("a b c d a b c d") == {("a", "b", "c", "d"): 2, ("b", "c", "d", "a"): 1,
                                           ("c", "d", "a", "b"): 1, ("d", "a", "b", "c"): 1}


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        # precision and recall are averaged over pages, F1 is their harmonic mean
        ([(1.0, 0.5), (0.5, 1.0)], (0.75, 0.75, 0.75)),
        ([(1.0, 1.0), (0.0, 0.0)], (0.5, 0.5, 0.5)),
        ([(0.9, 0.6)], (0.9, 0.6, 0.72)),
        # no pages, no score
        ([], (0.0, 0.0, 0.0)),
    ],
)
def test_overall(scores: list[tuple[float, float]], expected: tuple[float, float, float]) -> None:
    assert overall(scores) == pytest.approx(expected)
