"""Realistic news feeds for the benchmark, generated with a fixed seed (same bytes on every run).

Shape, after a look at big outlets' full-text feeds: ~50 items and ~230 KB per RSS 2.0 feed; each item has a
title, a link with tracking parameters, a guid, a pubDate, dc:creator, categories, a one-paragraph teaser
and a full body in ``content:encoded`` (CDATA): 6-10 paragraphs with inline links, emphasis, a figure with an
image, sometimes a blockquote, a list, an embedded script or a "read more" footer. One feed in five is Atom
1.0 (``<content type="html">``, escaped markup). About 8% of the items are wire stories shared between
feeds (the same text under another outlet's URL, sometimes with the first paragraph edited), so the
exact- and near-duplicate paths are exercised the way syndication does in real life.

Text is drawn from a fixed 6,000-word pseudo-vocabulary with a Zipf distribution plus common English
function words, so two different stories share few 3-word shingles (as real ones do) and no story is a
near-duplicate of another by accident.

    python -m bench.gen OUT_DIR [--feeds N] [--seed S]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import numpy as np

GENERATOR_VERSION = 2  # bump when the output changes (invalidates cached sets)
ITEMS_PER_FEED = 50
ATOM_EVERY = 5  # feed i is Atom when i % ATOM_EVERY == ATOM_EVERY - 1
WIRE_PER_FEED = 4  # items per feed taken from the shared wire pool

_FUNCTION_WORDS = ("the of and to in a is that for on was with as by at from it his her said has have be are "
                   "were will an not this but they after their been who which more than also its over into")
_SYLLABLE_LIST = ("ba be bi bo bu ca ce co da de di do fa fe fi ga go ha he hi ka ke ko la le li lo lu ma me mi mo "
                  "na ne ni no pa pe pi po ra re ri ro sa se si so ta te ti to va ve vi wa we ya yo za ze zi "
                  "bran cor dan fel gar hol kin lor mar nor pel quin ros sten tor ul ven wil")
_FUNCTION = _FUNCTION_WORDS.split()
_SYLLABLES = _SYLLABLE_LIST.split()
_FUNCTION_SET = frozenset(_FUNCTION)


class _Words:
    """Deterministic word source: content words Zipf-weighted, a function word after every second one.

    Words are drawn in blocks with numpy (a generator seeded from the caller's ``random.Random``), so a
    240 KB feed takes milliseconds to write."""

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        vocab: set[str] = set()
        while len(vocab) < 6000:
            vocab.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4))))
        ordered = sorted(vocab)
        rng.shuffle(ordered)
        self.vocab = np.array(ordered, dtype=object)
        self.function = np.array(_FUNCTION, dtype=object)
        weights = 1.0 / (np.arange(len(ordered)) + 10.0)
        self.p = weights / weights.sum()
        self._streams: dict[int, tuple[list[str], int]] = {}

    def _take(self, rng: random.Random, n: int) -> list[str]:
        key = id(rng)
        words, pos = self._streams.get(key, ([], 0))
        if pos + n > len(words):
            g = np.random.default_rng(rng.getrandbits(64))
            block = max(4096, 2 * n)
            content = self.vocab[g.choice(len(self.vocab), size=(block, 2), p=self.p)]
            func = self.function[g.integers(0, len(self.function), size=(block, 1))]
            words = [*words[pos:], *np.concatenate([content, func], axis=1).ravel().tolist()]
            pos = 0
        self._streams[key] = (words, pos + n)
        return words[pos : pos + n]

    def forget(self, rng: random.Random) -> None:
        self._streams.pop(id(rng), None)

    def sentence(self, rng: random.Random, n: int) -> str:
        s = " ".join(self._take(rng, n + n // 2))
        return s[0].upper() + s[1:] + "."

    def title(self, rng: random.Random) -> str:
        ws = [w for w in self._take(rng, 3 * rng.randint(4, 7)) if w not in _FUNCTION_SET][:11]
        return " ".join(w.capitalize() if i == 0 or rng.random() < 0.3 else w for i, w in enumerate(ws))


_WORDS: _Words | None = None


def _words() -> _Words:
    global _WORDS
    if _WORDS is None:
        _WORDS = _Words(7)
    return _WORDS


def _paragraph(rng: random.Random, site: str) -> str:
    w = _words()
    sents = [w.sentence(rng, rng.randint(8, 16)) for _ in range(rng.randint(2, 5))]
    text = escape(" ".join(sents), quote=False)
    r = rng.random()
    if r < 0.35:  # an inline link, relative or absolute, sometimes tracked
        words = text.split(" ")
        at = rng.randrange(1, max(2, len(words) - 3))
        href = rng.choice([f"/topic/{rng.randint(1, 5000)}", f"https://{site}/{rng.randint(1000, 99999)}.html",
                           f"https://other{rng.randint(1, 99)}.example/a/{rng.randint(1, 10**6)}?utm_source=x"])
        words[at] = f'<a href="{escape(href)}">{words[at]} {words[at + 1]}</a>'
        del words[at + 1]
        text = " ".join(words)
    elif r < 0.5:
        words = text.split(" ")
        at = rng.randrange(0, len(words))
        words[at] = f"<strong>{words[at]}</strong>" if r < 0.42 else f"<em>{words[at]}</em>"
        text = " ".join(words)
    return f"<p>{text}</p>"


def _body(rng: random.Random, site: str, item: int, paras: list[str]) -> str:
    parts = list(paras)
    parts.insert(min(2, len(parts)), (
        f'<figure class="lead"><img src="https://cdn.{site}/img/{item}/{rng.randint(10**5, 10**6)}.jpg" '
        f'width="1200" height="675" alt="{escape(_words().title(rng))}" loading="lazy"/>'
        f"<figcaption>{escape(_words().sentence(rng, 8))} Photo: Agency</figcaption></figure>"))
    r = rng.random()
    if r < 0.15:
        parts.insert(len(parts) // 2, f"<blockquote><p>{escape(_words().sentence(rng, 14))}</p></blockquote>")
    elif r < 0.25:
        li = "".join(f"<li>{escape(_words().sentence(rng, 7))}</li>" for _ in range(rng.randint(3, 5)))
        parts.insert(len(parts) // 2, f"<ul>{li}</ul>")
    if rng.random() < 0.1:
        parts.append('<script type="text/javascript">window.track&&track("read")</script>')
    if rng.random() < 0.3:
        parts.append(f'<p class="more"><a href="https://{site}/newsletter?utm_medium=rss">Sign up for our '
                     f"newsletter</a></p>")
    return "".join(parts)


def _wire_story(n: int) -> tuple[str, list[str]]:
    """Wire story ``n`` (title, paragraphs): the same for every feed that carries it."""
    rng = random.Random(10**9 + n)
    story = _words().title(rng), [_paragraph(rng, "wire.example") for _ in range(rng.randint(6, 10))]
    _words().forget(rng)
    return story


def feed_bytes(index: int, *, seed: int = 42, n_feeds: int = 100, items: int = ITEMS_PER_FEED) -> bytes:
    """Feed ``index`` of a set of ``n_feeds`` (the wire pool grows with the set so the share stays ~8%)."""
    rng = random.Random(f"{seed}:{index}")
    try:
        return _feed_bytes(rng, index, n_feeds, items)
    finally:
        _words().forget(rng)


def _feed_bytes(rng: random.Random, index: int, n_feeds: int, items: int) -> bytes:
    site = f"news{index}.example"
    outlet = f"The Daily {_words().title(rng).split()[0]} {index}"
    atom = index % ATOM_EVERY == ATOM_EVERY - 1
    start = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=index)
    wire_pool = max(8, n_feeds * WIRE_PER_FEED // 3)
    wire_slots = set(rng.sample(range(items), min(WIRE_PER_FEED, items)))
    out: list[str] = []
    for i in range(items):
        when = start + timedelta(minutes=23 * (items - i))
        if i in wire_slots:
            title, paras = _wire_story(rng.randrange(wire_pool))
            paras = list(paras)
            if rng.random() < 0.5:  # the outlet rewrote the opening: a near-duplicate, not an exact copy
                paras[0] = _paragraph(rng, site)
        else:
            title = _words().title(rng)
            paras = [_paragraph(rng, site) for _ in range(rng.randint(6, 10))]
        body = _body(rng, site, i, paras)
        teaser = escape(_words().sentence(rng, rng.randint(14, 24)), quote=False)
        slug = "-".join(title.lower().split()[:6])
        link = f"https://www.{site}/{when:%Y/%m/%d}/{slug}-{i}.html?utm_source=rss&amp;utm_medium=feed&amp;ref={i}"
        cats = rng.sample(["Politics", "World", "Business", "Sport", "Science", "Culture", "Opinion", "Local"],
                          rng.randint(1, 3))
        author = f"Reporter {rng.randint(1, 60)}"
        if atom:
            out.append(
                f"<entry><title>{escape(title)}</title>"
                f'<link rel="alternate" type="text/html" href="{link}"/>'
                f"<id>tag:{site},2026:{index}-{i}</id>"
                f"<published>{when:%Y-%m-%dT%H:%M:%SZ}</published><updated>{when:%Y-%m-%dT%H:%M:%SZ}</updated>"
                f"<author><name>{author}</name></author>"
                + "".join(f'<category term="{c}"/>' for c in cats)
                + f'<summary type="html">{escape("<p>" + teaser + "</p>")}</summary>'
                f'<content type="html">{escape(body)}</content></entry>'
            )
        else:
            out.append(
                f"<item><title>{escape(title)}</title><link>{link}</link>"
                f'<guid isPermaLink="false">{site}-{index}-{i}</guid>'
                f"<pubDate>{when:%a, %d %b %Y %H:%M:%S} +0000</pubDate>"
                f"<dc:creator>{author}</dc:creator>"
                + "".join(f"<category>{c}</category>" for c in cats)
                + f"<description><![CDATA[<p>{teaser}</p>]]></description>"
                f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
            )
    if atom:
        head = (
            '<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">'
            f"<title>{escape(outlet)}</title><link rel=\"alternate\" href=\"https://www.{site}/\"/>"
            f'<link rel="self" href="https://www.{site}/feed.atom"/><id>https://www.{site}/</id>'
            f"<updated>{start + timedelta(minutes=23 * items):%Y-%m-%dT%H:%M:%SZ}</updated>"
        )
        return (head + "".join(out) + "</feed>").encode("utf-8")
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>{escape(outlet)}</title><link>https://www.{site}/</link>"
        f'<atom:link href="https://www.{site}/rss.xml" rel="self" type="application/rss+xml"/>'
        f"<description>Latest news from {escape(outlet)}</description><language>en-gb</language>"
        f"<lastBuildDate>{start + timedelta(minutes=23 * items):%a, %d %b %Y %H:%M:%S} +0000</lastBuildDate>"
        "<ttl>15</ttl>"
    )
    return (head + "".join(out) + "</channel></rss>").encode("utf-8")


def feed_set(directory: Path, n_feeds: int, *, seed: int = 42, offset: int = 0) -> list[Path]:
    """Write feeds ``offset .. offset+n_feeds-1`` into ``directory`` (kept between runs: the content is a pure
    function of the arguments and GENERATOR_VERSION, recorded in a stamp file)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / ".stamp"
    want = f"v{GENERATOR_VERSION} seed={seed} n={n_feeds} offset={offset}"
    paths = [directory / f"feed{offset + i:05d}.{'atom' if (offset + i) % ATOM_EVERY == ATOM_EVERY - 1 else 'xml'}"
             for i in range(n_feeds)]
    if stamp.exists() and stamp.read_text() == want and all(p.exists() for p in paths):
        return paths
    for p in directory.glob("feed*"):
        p.unlink()
    for i, p in enumerate(paths):
        p.write_bytes(feed_bytes(offset + i, seed=seed, n_feeds=offset + n_feeds))
    stamp.write_text(want)
    return paths


def digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="write generated benchmark feeds")
    ap.add_argument("out", type=Path)
    ap.add_argument("--feeds", type=int, default=100)
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args(argv)
    paths = feed_set(args.out, args.feeds, seed=args.seed)
    sizes = [p.stat().st_size for p in paths]
    print(f"{len(paths)} feeds, {sum(sizes) / len(sizes) / 1024:.0f} KB each on average, digest {digest(paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
