"""The page stage on the labelled page set (tests/data/pages): shingle F1 overall, the AllAfrica page exactly."""

from __future__ import annotations

import json

import pytest

from bench.pages_eval import PAGES, load_pages, overall, page_scores
from worker.pages import PageHints, PageResult, extract_page

MIN_F1 = 0.96
MIN_PAGES = 25


@pytest.fixture(scope="module")
def results() -> dict[str, tuple[str, PageResult]]:
    return {p.name: (p.body, extract_page(p.html, p.url)) for p in load_pages()}


def test_set_is_large_and_varied() -> None:
    index = json.loads((PAGES / "pages.json").read_text(encoding="utf-8"))
    assert len(index) >= MIN_PAGES
    assert len({v["language"] for v in index.values()}) >= 8
    assert len({v["site"] for v in index.values()}) >= 20
    for name in index:  # every page has its hand-checked body beside it
        assert (PAGES / f"{name}.txt").read_text(encoding="utf-8").strip()


def test_f1_on_the_labelled_set(results: dict[str, tuple[str, PageResult]]) -> None:
    scores = [page_scores(body, r.text) for body, r in results.values()]
    precision, recall, f1 = overall(scores)
    assert f1 >= MIN_F1, (precision, recall, f1)


def test_allafrica_page_is_exactly_the_six_paragraphs(results: dict[str, tuple[str, PageResult]]) -> None:
    body, r = results["allafrica-cairo"]
    assert r.paragraphs == body.strip().split("\n\n")
    assert len(r.paragraphs) == 6
    assert r.paragraphs[0].startswith("The Chief of Staff of Egypt's Armed Forces")
    assert r.paragraphs[-1] == "The meeting was attended by senior commanders from both armed forces."


def test_allafrica_metadata_and_attribution(results: dict[str, tuple[str, PageResult]]) -> None:
    _, r = results["allafrica-cairo"]
    assert r.ok
    assert r.publisher == "Egypt State Information Service"
    assert r.credit == "Ahram Online"
    assert r.canonical_url == "https://allafrica.com/stories/202509170142.html"
    assert r.original_url is not None and r.original_url.startswith("https://www.sis.gov.eg/Story/208213/")
    assert r.site_name == "allAfrica.com"
    assert r.published_at == "2025-09-17T06:12:00+00:00"
    assert r.language == "en"
    assert "Ahram Online" in r.removed and any(x.startswith("Copyright ©") for x in r.removed)


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [
        # JSON-LD author (a list of people), the canonical link, Open Graph site name
        ("np-cnn-001", "author", "Joan Biskupic"),
        ("np-cnn-001", "site_name", "CNN"),
        # declared language of a Latvian page, author from JSON-LD
        ("np-latvian-article", "language", "lv"),
        ("np-latvian-article", "author", "Anna Ūdre"),
        # a page with no declared language: detected from its text
        ("rd-hukumusume", "language", "ja"),
        # charset declared only 140 KB into the page: read as UTF-8 all the same
        ("np-fox13now-001", "encoding", "utf-8"),
        # a JSON-LD datePublished with a zone abbreviation ("2021-01-03T17:40:00EET"), to UTC
        ("np-latvian-article", "published_at", "2021-01-03T15:40:00+00:00"),
        # a subscribers-only page: its teaser, with the reason
        ("np-japanese-article", "reason", "paywall"),
    ],
)
def test_metadata(results: dict[str, tuple[str, PageResult]], name: str, field: str, value: str) -> None:
    assert getattr(results[name][1], field) == value


def test_no_mojibake_in_a_late_declared_page(results: dict[str, tuple[str, PageResult]]) -> None:
    _, r = results["np-fox13now-001"]
    assert "New Year’s resolution" in r.text and "â€" not in r.text


def test_only_the_paywalled_page_is_judged_bad(results: dict[str, tuple[str, PageResult]]) -> None:
    judged = {name: r.reason for name, (_, r) in results.items() if r.reason is not None}
    assert judged == {"np-japanese-article": "paywall"}


def test_feed_summary_brings_back_a_lead_the_extractor_left_out(results: dict[str, tuple[str, PageResult]]) -> None:
    body, plain = results["np-latvian-article"]
    lead = body.split("\n\n")[0]
    assert lead not in plain.paragraphs  # the extractor alone drops the page's lead block
    page = next(p for p in load_pages(only=["np-latvian-article"]))
    hints = PageHints(title="Norvēģijā pēc zemes nogruvuma pieci bojāgājušie", summary=lead)
    guided = extract_page(page.html, page.url, hints=hints)
    assert guided.paragraphs[0] == lead and guided.paragraphs[1:] == plain.paragraphs
