"""The boilerplate layer's page rules (``strip_boilerplate(..., page=True)``) and the sign-off credit: one row
per rule. Without ``page=True`` none of these lines is touched (the feed path stays as it was)."""

from __future__ import annotations

import pytest

from worker.normalize.boilerplate import strip_boilerplate

BODY = [
    "The Chief of Staff of Egypt's Armed Forces met on Tuesday in Cairo with his Libyan counterpart.",
    "Talks focused on strengthening coordination and joint efforts to address shared security challenges.",
]


@pytest.mark.parametrize(
    "paragraphs",
    [
        # an in-body promotion line
        [BODY[0], "Read more: A Controversial Technology Is Creating a Rift Among Scientists", BODY[1]],
        [BODY[0], "READ MORE: Riot is considering changes to the format", BODY[1]],
        # contributors and update notes
        [*BODY, "CNN’s Christine Romans and Emily Jane Fox contributed to this report"],
        [*BODY, "This story has been updated with additional developments."],
        # affiliate disclosure
        [*BODY, "Just a heads up, some of the links on this site are affiliate links, which means we may earn."],
        # a byline at the top, and one at the end with a handle
        ["By Leigh Ann Caldwell", *BODY],
        [*BODY, "-- By Michael Russell Follow @tdmrussell"],
        # a metadata line at the top: author | place | date
        ["Patricio Candia | Palma de Mallorca | 08/01/2014", *BODY],
        # Chinese editor credits
        [*BODY, "（编辑：严玉洁 王辉）"],
        # a sourcing note and a call for readers' photos
        [*BODY, "(Sourcing: much of this list was obtained from the National Conference of State Legislatures)."],
        ["Are you caught in the storm? Please share your videos, pictures and stories with us.", *BODY],
        # a widget placeholder and a share label
        [*BODY, "Loading weather data ..."],
        [BODY[0], "このニュースをシェア", BODY[1]],
        # social handles and links as lines
        [*BODY, "Twitter https://twitter.com/prachatai", "LINE ID = @prachatai"],
        # a trailing "related" block of short headlines
        [*BODY, "More Must-Reads From TIME", "The Struggle to Save Lives", "Is Using the Snooze Button Bad?"],
        [*BODY, "เรื่องที่เกี่ยวข้อง", "ลืออุ้ม อ.สุรชัย ผู้ลี้ภัยหายจากที่พัก 12 วันแล้ว"],
        # a comments section heading and its policy lines
        [*BODY, "Comentar", "El contenido de los comentarios es la opinión de los usuarios.",
         "ultimahora.es se reserva el derecho de eliminar cualquier comentario."],
    ],
)
def test_page_rules(paragraphs: list[str]) -> None:
    assert strip_boilerplate(paragraphs, None, page=True).paragraphs == BODY
    assert strip_boilerplate(paragraphs, None).paragraphs == paragraphs  # feed text: untouched


@pytest.mark.parametrize(
    "paragraphs",
    [
        # "By" opening a real sentence is not a byline
        ["By the end of 2017, the collaboration between the two firms had fully taken shape.", *BODY],
        # a byline-like line in the middle of the text stays
        [*BODY, BODY[0], "By Leigh Ann Caldwell", BODY[1], BODY[0], BODY[1]],
        # a "related" heading with long paragraphs after it starts no links block
        [*BODY, "Most read", BODY[0] * 2, BODY[1] * 2, BODY[0] * 2, BODY[1] * 2, BODY[0] * 2],
        # a sentence that mentions reporting is not a contributor line
        ["Her contributions to this report were acknowledged by the committee in its final findings on Monday, "
         "which ran to three hundred pages and took two years to write.", *BODY],
    ],
)
def test_page_rules_keep_prose(paragraphs: list[str]) -> None:
    assert strip_boilerplate(paragraphs, None, page=True).paragraphs == paragraphs


def test_signoff_before_a_footer_is_the_writers_credit() -> None:
    cleaned = strip_boilerplate([*BODY, "Ahram Online", "Read the original article on Egypt Online."], None)
    assert cleaned.paragraphs == BODY
    assert cleaned.signoff == "Ahram Online"
    assert cleaned.credit == "Egypt Online"  # the footer's outlet, as before
    assert strip_boilerplate(BODY, None).signoff is None
