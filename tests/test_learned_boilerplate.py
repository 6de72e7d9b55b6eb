"""Boilerplate learned from data: paragraphs that repeat across many items of one feed are dropped,
and the feed remembers them for later fetches."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from worker.models import Article
from worker.normalize.entry import apply_learned_boilerplate
from worker.stories.fingerprint import content_hash, text_key

FOOTER = "This coverage is produced with support from the Example Press Foundation."
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _article(i: int, text: str) -> Article:
    return Article(guid=f"g{i}", link=None, url=f"https://x.example/{i}", title=f"Title {i}", summary=None,
                   content_html=None, content_text=text, author=None, publisher=None, syndicator=None,
                   language="en", published_at=NOW, published_raw=None,
                   content_hash=content_hash(text, f"Title {i}", f"https://x.example/{i}"))


STORIES = [
    "The central bank held its main rate at 27.25 percent on Thursday, citing easing inflation.",
    "A new metro line opened in the capital, linking the eastern suburbs to the city centre.",
    "Wheat imports rose by a tenth in the first quarter as the harvest came in below forecasts.",
    "The football federation named a new coach for the national team after a poor qualifying run.",
]


def test_a_paragraph_in_most_items_is_learned_and_dropped() -> None:
    arts = [_article(i, f"{s}\n\n{FOOTER}") for i, s in enumerate(STORIES)]
    before = [a.content_hash for a in arts]
    learned = apply_learned_boilerplate(arts)
    assert learned == {text_key(FOOTER)}
    assert [a.content_text for a in arts] == STORIES
    assert all(a.content_hash != h for a, h in zip(arts, before, strict=True))  # re-keyed on the clean text
    assert arts[0].content_hash == content_hash(STORIES[0], "Title 0", "https://x.example/0")


def test_nothing_is_learned_from_too_few_items_or_from_long_paragraphs() -> None:
    two = [_article(i, f"{s}\n\n{FOOTER}") for i, s in enumerate(STORIES[:2])]
    assert apply_learned_boilerplate(two) == frozenset()
    assert two[0].content_text.endswith(FOOTER)
    long_para = "A long shared paragraph. " * 30  # over the length bound: real text, never learned
    arts = [_article(i, f"{s}\n\n{long_para}") for i, s in enumerate(STORIES)]
    assert apply_learned_boilerplate(arts) == frozenset()


def test_known_keys_apply_to_a_single_new_item_and_never_empty_it() -> None:
    known = frozenset({text_key(FOOTER)})
    one = [_article(0, f"{STORIES[0]}\n\n{FOOTER}")]
    assert apply_learned_boilerplate(one, known) == known
    assert one[0].content_text == STORIES[0]
    only_footer = [_article(1, FOOTER)]
    apply_learned_boilerplate(only_footer, known)
    assert only_footer[0].content_text == FOOTER  # an item is never emptied


def _feed(items: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>https://learn.example/{abs(hash(t))}</link>"
        f"<description>&lt;p&gt;{s}&lt;/p&gt;&lt;p&gt;{FOOTER}&lt;/p&gt;</description></item>" for t, s in items)
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Learn</title>{body}</channel></rss>'


def test_the_feed_remembers_its_boilerplate_for_later_fetches(cli, conn, tmp_path: Path) -> None:
    feed = tmp_path / "learn.xml"
    items = [(f"Story {i}", s) for i, s in enumerate(STORIES)]
    feed.write_text(_feed(items))
    r = cli("ingest", "--json", str(feed))
    assert r.returncode == 0, r.stderr
    texts = [t for (t,) in conn.execute("SELECT content_text FROM articles ORDER BY id")]
    assert texts == STORIES
    keys = conn.execute("SELECT boilerplate_keys FROM feeds").fetchone()[0]
    assert keys == [text_key(FOOTER)]
    # a later fetch brings one new item: too few to learn from, but the feed's keys still apply
    extra = ("Story 9", "Parliament passed the budget after a night of debate over fuel subsidies.")
    feed.write_text(_feed([*items, extra]))
    r = cli("ingest", "--json", str(feed))
    assert json.loads(r.stdout)["inputs"][0]["new_articles"] == 1
    newest = conn.execute("SELECT content_text FROM articles ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert newest == extra[1]
