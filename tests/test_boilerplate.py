"""Syndication wrappers and learned boilerplate (pure): one table row per rule."""

from __future__ import annotations

import pytest

from worker.normalize.boilerplate import repeated_paragraphs, strip_boilerplate
from worker.stories.fingerprint import text_key

BODY = [
    "The Chief of Staff of Egypt's Armed Forces met on Tuesday in Cairo with his Libyan counterpart.",
    "Talks focused on strengthening coordination and joint efforts to address shared security challenges.",
]
AA_COPYRIGHT = (
    "Copyright © 2025 Egypt State Information Service. All rights reserved. Distributed by AllAfrica Global Media "
    "(allAfrica.com). To contact the copyright holder directly for corrections — or for permission to republish "
    "or make other authorized use of this material, click here."
)
AA_ABOUT = (
    "AllAfrica publishes around 600 reports a day from more than 120 news organizations and over 500 other "
    "institutions and individuals, representing a diversity of positions on every topic."
)


@pytest.mark.parametrize(
    ("before", "after", "credit"),
    [
        # AllAfrica: header credit line, "Read the original", copyright, about-us
        (["Egypt State Information Service (Cairo)", *BODY, "Read the original article on Egypt State Information "
          "Service.", AA_COPYRIGHT, AA_ABOUT], BODY, "Egypt State Information Service"),
        # header with a date line above it, in one paragraph (as a text export writes it)
        (["16 September 2025\nEgypt State Information Service (Cairo)", *BODY], BODY,
         "Egypt State Information Service"),
        # a date-only first paragraph, then the credit line
        (["Tuesday, 16 September 2025", "Premium Times (Abuja)", *BODY], BODY, "Premium Times"),
        # "Tagged:" footer carrying more text after it
        ([*BODY, "Tagged:\nEgypt, Libya"], BODY, None),
        # WordPress feed footer names the site
        ([*BODY, "The post Egypt and Libya discuss security appeared first on Daily News Egypt."], BODY,
         "Daily News Egypt"),
        # "originally appeared on" credit
        ([*BODY, "This article originally appeared on The Conversation."], BODY, "The Conversation"),
        # "republished from ... under a Creative Commons license"
        ([*BODY, "This article is republished from The Conversation under a Creative Commons license."], BODY,
         "The Conversation"),
        # Reuters credits in brackets
        ([*BODY, "(Reporting by Ahmed Mohamed Hassan; Editing by Alex Richardson)"], BODY, None),
        # AP contributors line and copyright
        ([*BODY, "Associated Press writer Samy Magdy in Cairo contributed to this report.",
          "Copyright 2025 The Associated Press. All rights reserved."], BODY, None),
        # newsletter and social lines
        ([*BODY, "Sign up for our free morning newsletter to get the day's news in your inbox.",
          "Follow us on Twitter and Facebook"], BODY, None),
        # a bare sign-off line just before the removed footers goes with them
        ([*BODY, "Ahram Online", "Read the original article on Egypt Online."], BODY, "Egypt Online"),
        # "Source:" credit
        ([*BODY, "Source: Reuters"], BODY, "Reuters"),
        # "Sign up" or "Source:" opening a real sentence is not a footer
        (["Sign up rates for the scheme rose by a fifth in the third quarter, officials said.", *BODY],
         ["Sign up rates for the scheme rose by a fifth in the third quarter, officials said.", *BODY], None),
        ([*BODY, "Source: a senior official, speaking on condition of anonymity, said talks would resume."],
         [*BODY, "Source: a senior official, speaking on condition of anonymity, said talks would resume."], None),
        # a credit footer naming something too long to be an outlet: removed, no credit
        ([*BODY, "Read the original article on the website of the ministry that published this statement "
          "first thing on Monday morning."], BODY, None),
        # a show-notes line with brackets is not a credit line
        (["Casey argues for day/month/year instead of year/month/day (ISO 8601)", *BODY],
         ["Casey argues for day/month/year instead of year/month/day (ISO 8601)", *BODY], None),
        (["Pre-show: Affluent bezelles (Overcast: bezelle, correction)", *BODY],
         ["Pre-show: Affluent bezelles (Overcast: bezelle, correction)", *BODY], None),
        # a cut-off last sentence before "Read more" stays; "Read more" goes
        ([*BODY, "Fortunately, I stil…", "Read more"], [*BODY, "Fortunately, I stil…"], None),
        # names with connectors are credit lines
        (["Ministry of Foreign Affairs and International Cooperation (Nairobi)", *BODY], BODY,
         "Ministry of Foreign Affairs and International Cooperation"),
        # nothing to remove: text untouched, no credit
        (BODY, BODY, None),
        # a sentence that merely mentions copyright is not a footer
        (["The court ruled that the copyright of the song belonged to its composer, Ali Hassan.", *BODY],
         ["The court ruled that the copyright of the song belonged to its composer, Ali Hassan.", *BODY], None),
        # a first paragraph with brackets but a sentence in it is not a credit line
        (["Egypt (officially the Arab Republic of Egypt) is a country.", *BODY],
         ["Egypt (officially the Arab Republic of Egypt) is a country.", *BODY], None),
        # blank paragraphs are dropped, surrounding whitespace trimmed
        (["  ", f"  {BODY[0]}  ", "", BODY[1]], BODY, None),
    ],
)
def test_rules(before: list[str], after: list[str], credit: str | None) -> None:
    cleaned = strip_boilerplate(before, "AllAfrica News: Egypt")
    assert cleaned.paragraphs == after
    assert cleaned.credit == credit
    assert len(cleaned.removed) == len([p for p in before if p.strip()]) - len(after)


def test_never_empties_an_item() -> None:
    only_footer = ["Read the original article on Example News."]
    cleaned = strip_boilerplate(only_footer, None)
    assert cleaned.paragraphs == only_footer and cleaned.removed == [] and cleaned.credit is None


def test_credit_matching_the_feed_is_spelled_like_the_feed() -> None:
    cleaned = strip_boilerplate([*BODY, "The post X appeared first on daily news egypt."], "Daily News Egypt")
    assert cleaned.credit == "Daily News Egypt"


def test_learned_paragraphs_are_removed() -> None:
    footer = "Get the latest headlines on our WhatsApp channel every morning at seven."
    items = [[f"Story {i} happened in town {i}.", f"Details of story {i}.", footer] for i in range(6)]
    learned = repeated_paragraphs(items)
    assert learned == {text_key(footer)}
    cleaned = strip_boilerplate(items[0], "Town Times", learned=learned)
    assert cleaned.paragraphs == items[0][:2] and cleaned.removed == [footer]
    # without the learned set the line stays (no generic rule matches it)
    assert strip_boilerplate(items[0], "Town Times").paragraphs == items[0]


@pytest.mark.parametrize(
    ("lists", "min_items", "min_share", "expected"),
    [
        # in 3 of 4 items: learned
        ([["a b", "x"], ["a b", "y"], ["a b", "z"], ["w"]], 3, 0.5, {"a b"}),
        # in 2 of 4 items: below min_items
        ([["a b", "x"], ["a b", "y"], ["z"], ["w"]], 3, 0.5, set()),
        # in 3 of 10 items: below the share
        ([["a b"], ["a b"], ["a b"], *[[str(i)] for i in range(7)]], 3, 0.5, set()),
        # repeated inside one item counts once
        ([["a b", "a b", "a b"], ["x"], ["y"]], 2, 0.3, set()),
        # case and punctuation do not split a repeat
        ([["Subscribe now!"], ["subscribe NOW"], ["Subscribe, now."]], 3, 0.5, {"subscribe now"}),
        # no items
        ([], 3, 0.5, set()),
    ],
)
def test_repeated_paragraphs(lists: list[list[str]], min_items: int, min_share: float, expected: set[str]) -> None:
    assert repeated_paragraphs(lists, min_items=min_items, min_share=min_share) == expected


# --- fast paths: each must give what the plain rules give ------------------------------------------------------
def _first_chars(items: object) -> tuple[set[str], bool]:
    """ASCII characters a match of parsed pattern ``items`` can start with (case-insensitively, a superset where
    a class is involved), and whether the match can be empty (read from the parse tree of ``re``)."""
    import re._constants as c

    ascii_chars = {chr(i) for i in range(128)}
    categories = {c.CATEGORY_SPACE: r"\s", c.CATEGORY_NOT_SPACE: r"\S", c.CATEGORY_DIGIT: r"\d",
                  c.CATEGORY_NOT_DIGIT: r"\D", c.CATEGORY_WORD: r"\w", c.CATEGORY_NOT_WORD: r"\W"}

    def cased(ch: str) -> set[str]:
        return {x for x in ascii_chars if x.lower() == ch.lower()}

    def one(op: object, av: object) -> tuple[set[str], bool]:
        if op is c.AT:
            return set(), True
        if op is c.LITERAL:
            return cased(chr(av)), False  # type: ignore[arg-type]
        if op is c.IN:
            out: set[str] = set()
            for iop, iav in av:  # type: ignore[attr-defined]
                if iop is c.NEGATE:
                    return set(ascii_chars), False
                if iop is c.LITERAL:
                    out |= cased(chr(iav))
                elif iop is c.RANGE:
                    out |= {x for i in range(iav[0], iav[1] + 1) if i < 128 for x in cased(chr(i))}
                elif iop is c.CATEGORY:
                    out |= {x for x in ascii_chars if __import__("re").match(categories[iav], x)}
                else:
                    return set(ascii_chars), False
            return out, False
        if op in (c.NOT_LITERAL, c.ANY):
            return set(ascii_chars), False
        if op is c.SUBPATTERN:
            return seq(av[3])  # type: ignore[index]
        if op is c.BRANCH:
            parts = [seq(b) for b in av[1]]  # type: ignore[index]
            return set().union(*(p[0] for p in parts)), any(p[1] for p in parts)
        if op in (c.MAX_REPEAT, c.MIN_REPEAT):
            chars, empty = seq(av[2])  # type: ignore[index]
            return chars, empty or av[0] == 0  # type: ignore[index]
        raise AssertionError(f"unhandled {op}")

    def seq(parsed: object) -> tuple[set[str], bool]:
        out: set[str] = set()
        for op, av in parsed:  # type: ignore[attr-defined]
            chars, empty = one(op, av)
            out |= chars
            if not empty:
                return out, False
        return out, True

    return seq(items)


def test_rule_first_letters_are_those_of_the_patterns() -> None:
    """Each rule's declared first letters are exactly the ASCII letters its pattern can start with, so trying
    only the rules a paragraph's first letter allows finds every match."""
    import re
    import re._parser

    from worker.normalize import boilerplate

    for letters, pattern in boilerplate._CREDIT_RULES + boilerplate._FOOTER_RULES:
        chars, _ = _first_chars(re._parser.parse(pattern, re.IGNORECASE))
        assert {ch.lower() for ch in chars if ch.isalpha()} == set(letters), pattern


HEAD_CASES = [
    "Read the original article on Example News.", "READ THE FULL STORY AT Example", "The post X appeared first on Y.",
    "This article originally appeared on The Conversation.", "Originally published on Example.", "Source: Reuters",
    "Published by Example Daily", "Copyright 2025 Example", "© 2025 Example", "(c) Example", "AllAfrica publishes",
    "Tagged: a, b", "Tags: x", "Related stories", "Read more", "See also:", "More from Example:", "Topics: y",
    "Filed under: z", "(Reporting by A; Editing by B)", " Reporting by A", "Additional reporting by C",
    "Associated Press writer A contributed.", "AP reporters B and C contributed to this report.",
    "Subscribe now for updates", "Sign up: free", "Click here to read", "Tap here to open", "Follow us on X",
    "Like us on Facebook", "Join Example on Telegram today", "Share this article", "Print", "Email:", "Advertisement",
    "Sponsored", "The views expressed here are the author's.", "Views expressed in this piece", "Get our free app",
    "Download the app now", "The government said on Tuesday that it would review the budget.", "Talks went on.",
    "ſource: Reuters", "ſubscribe now", "K is for Kelvin", "İstanbul", "«Read more»", "1. Read more", "x",
]


@pytest.mark.parametrize("p", HEAD_CASES)
def test_rules_by_first_letter_match_like_all_rules(p: str) -> None:
    from worker.normalize import boilerplate

    every = boilerplate._HEAD_RULES.match(p)
    rx = boilerplate._HEAD_BY_LETTER.get(p[0], boilerplate._HEAD_RULES)
    some = rx.match(p) if rx is not None else None

    def seen(m: object) -> tuple[str | None, str | None] | None:
        if m is None:
            return None
        return m.lastgroup, (None if m.lastgroup == "footer" else boilerplate._credit(m))  # type: ignore[attr-defined]

    assert seen(every) == seen(some)
    assert (every is None) == (p in ("The government said on Tuesday that it would review the budget.",
                                     "Talks went on.", "K is for Kelvin", "İstanbul", "«Read more»", "1. Read more",
                                     "x"))


@pytest.mark.parametrize(
    ("paragraphs", "removed"),
    [
        # a phrase rule firing in one paragraph while another holds the words only in upper case
        (["Copyright Example. ALL RIGHTS RESERVED.", "Some text."], ["Copyright Example. ALL RIGHTS RESERVED."]),
        (["Story text here.", "Example Media. All Rights Reserved."], ["Example Media. All Rights Reserved."]),
        (["Story text here.", "Distributed by AllAfrica Global Media."], ["Distributed by AllAfrica Global Media."]),
        (["Story text here.", "Want more? REGISTER for our daily briefing."],
         ["Want more? REGISTER for our daily briefing."]),
        # the words across two paragraphs are not a phrase in either
        (["Story text: all rights", "reserved for later."], []),
        # long paragraphs cannot match the bounded phrase rules
        (["Story text here.", "All rights reserved " + "x" * 300], []),
    ],
)
def test_phrase_rules_gated_by_the_whole_text(paragraphs: list[str], removed: list[str]) -> None:
    assert strip_boilerplate(paragraphs, None).removed == removed


@pytest.mark.parametrize("line", ["Premium Times (Abuja)", "Premium Times (Abuja)  ", "Premium Times (Abuja)\n",
                                  "Premium Times (Abuja) now", "Premium Times"])
def test_header_credit_prefilter(line: str) -> None:
    """A line not ending in ')' (trailing white space aside) never matches the header-credit pattern."""
    from worker.normalize import boilerplate

    m = boilerplate._HEADER_CREDIT.match(line)
    if not line.rstrip().endswith(")"):
        assert m is None and boilerplate._header_credit(line) is None
    else:
        assert boilerplate._header_credit(line) == (boilerplate._norm_outlet(m.group("outlet")) if m else None)


def test_phrase_rule_bounds_and_ascii_projection() -> None:
    """A rule's declared longest paragraph covers its pattern's widest match (plus a final newline "$" allows),
    and the only non-ASCII characters that lower-case to ASCII letters are those the words cannot hold."""
    import re
    import re._parser
    import sys

    from worker.normalize import boilerplate

    for words, rx, longest in boilerplate._PHRASE_RULES:
        widest = re._parser.parse(rx.pattern, rx.flags).getwidth()[1]
        assert longest is None or widest + 1 <= longest
        for w in words:
            assert w.isascii() and w == w.lower()
            assert b"k" not in w and not w.endswith(b"i")  # Kelvin sign → "k"; "İ" → "i" + U+0307
    to_ascii = {c for c in map(chr, range(0x80, sys.maxunicode + 1))
                if not 0xD800 <= ord(c) <= 0xDFFF and any(x.isascii() for x in c.lower())}
    assert to_ascii == {"\u0130", "\u212a"}


@pytest.mark.parametrize("p", [
    "Ünïcode — ALL RIGHTS RESERVED.", "© Ünïcode. All rights reserved", "İ all rights reserved",
    "\u212a all rights reserved", "Sign up for the ‘Daily’ newsletter", "ſubscribe to updates",
])
def test_phrase_footer_projection_equals_lowering(p: str) -> None:
    from worker.normalize import boilerplate

    low = p.lower()
    expected = any(any(w.decode() in low for w in words) and rx.match(p) is not None
                   for words, rx, _ in boilerplate._PHRASE_RULES)
    assert boilerplate._phrase_footer(p, boilerplate._PHRASE_RULES) == expected
