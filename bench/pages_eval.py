"""Article extraction quality and cost on the labelled page set (``tests/data/pages``), one core.

    python -m bench.pages_eval [--only NAME,...] [--repeat N] [--pages] [--json]

Each page ``NAME.html`` has its hand-checked body ``NAME.txt`` beside it (paragraphs separated by blank lines;
``tests/data/pages/ORIGIN.md`` says where each page comes from and how its body was decided). Every extractor
runs on every page; the score is the shingle F1 of :func:`page_scores` / :func:`overall`, the cost the CPU time
of one call (``time.process_time``, median of ``--repeat`` runs per page; median and p95 over pages).

Extractors compared (names for ``--only``):
- ``trafilatura``: ``trafilatura.extract`` with its defaults (text output, tables and no comments);
- ``trafilatura-precision``: the same with ``favor_precision=True``;
- ``resiliparse``: ``resiliparse.extract.html2text.extract_plain_text(main_content=True)``;
- ``wirefeed``: :func:`worker.pages.extract_page`, the whole stage (decode, bounds, extractor, wirefeed's
  boilerplate and attribution layer, metadata);
- ``wirefeed-guided``: the same, given the page's own title and description as the feed item's hints;
- ``wirefeed-template``: the same with blocks learned from the other pages of the same site (leave one out).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PAGES = Path(__file__).resolve().parent.parent / "tests" / "data" / "pages"
SHINGLE = 4
_WORD = re.compile(r"\w+")


# --- the metric ------------------------------------------------------------------------------------------------

def shingles(text: str, size: int = SHINGLE) -> Counter[tuple[str, ...]]:
    """The multiset of ``size``-word shingles of ``text``'s ``\\w+`` tokens, case-folded. A text shorter than
    ``size`` tokens is one shingle of all its tokens (so a one-line body still counts); no tokens, no shingles."""
    words = [w.casefold() for w in _WORD.findall(text)]
    if len(words) < size:
        return Counter([tuple(words)]) if words else Counter()
    return Counter(tuple(words[i:i + size]) for i in range(len(words) - size + 1))


def page_scores(expected: str, got: str) -> tuple[float, float]:
    """(precision, recall) of ``got`` against ``expected`` for one page, on shingle multisets: tp is the
    multiset intersection, fp what ``got`` has beyond it, fn what ``expected`` has beyond it, each normalised
    by the page's own counts. Nothing extracted where a body exists scores (0, 0), not a vacuous precision of 1;
    an empty body extracted as empty scores (1, 1)."""
    want, have = shingles(expected), shingles(got)
    tp = sum((want & have).values())
    n_have, n_want = sum(have.values()), sum(want.values())
    if n_want == 0:
        return (1.0, 1.0) if n_have == 0 else (0.0, 1.0)
    if n_have == 0:
        return 0.0, 0.0
    return tp / n_have, tp / n_want


def overall(scores: Iterable[tuple[float, float]]) -> tuple[float, float, float]:
    """(precision, recall, F1): precision and recall averaged over pages, F1 their harmonic mean."""
    pairs = list(scores)
    if not pairs:
        return 0.0, 0.0, 0.0
    p = statistics.fmean(s[0] for s in pairs)
    r = statistics.fmean(s[1] for s in pairs)
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


# --- the set -----------------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Page:
    name: str
    html: bytes
    body: str
    url: str | None
    site: str


def load_pages(folder: Path = PAGES, only: Sequence[str] = ()) -> list[Page]:
    """The labelled pages, by name; their URL and site come from ``pages.json``."""
    index = json.loads((folder / "pages.json").read_text(encoding="utf-8"))
    pages = []
    for name, info in sorted(index.items()):
        if only and name not in only:
            continue
        pages.append(Page(name, (folder / f"{name}.html").read_bytes(),
                          (folder / f"{name}.txt").read_text(encoding="utf-8"), info.get("url"), info["site"]))
    return pages


# --- the extractors ----------------------------------------------------------------------------------------------

Extractor = Callable[[Page], str]


def _trafilatura(precision: bool) -> Extractor:
    import trafilatura

    def run(page: Page) -> str:
        return trafilatura.extract(page.html, url=page.url, favor_precision=precision) or ""
    return run


def _resiliparse(page: Page) -> str:
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import bytes_to_str, detect_encoding

    html = bytes_to_str(page.html, detect_encoding(page.html))
    return extract_plain_text(html, main_content=True)


def _wirefeed(mode: str, pages: Sequence[Page]) -> Extractor:
    from worker.pages import PageHints, extract_page
    from worker.pages.template import learn_site_blocks

    learned: dict[str, frozenset[str]] = {}
    if mode == "template":
        for page in pages:
            siblings = [p.html for p in pages if p.site == page.site and p.name != page.name]
            learned[page.name] = learn_site_blocks(siblings)

    def run(page: Page) -> str:
        hints = None
        if mode == "guided":
            from worker.pages.meta import read_metadata_hints

            hints = read_metadata_hints(page.html)
        if mode == "template":
            hints = PageHints(site_blocks=learned[page.name])
        return extract_page(page.html, page.url, hints=hints).text
    return run


def extractors(pages: Sequence[Page]) -> dict[str, Extractor]:
    return {
        "trafilatura": _trafilatura(False),
        "trafilatura-precision": _trafilatura(True),
        "resiliparse": _resiliparse,
        "wirefeed": _wirefeed("plain", pages),
        "wirefeed-guided": _wirefeed("guided", pages),
        "wirefeed-template": _wirefeed("template", pages),
    }


@dataclass(slots=True)
class Run:
    extractor: str
    per_page: dict[str, tuple[float, float, float]]  # name -> (precision, recall, cpu ms)
    precision: float
    recall: float
    f1: float
    cpu_median_ms: float
    cpu_p95_ms: float


def _p95(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def evaluate(name: str, run: Extractor, pages: Sequence[Page], repeat: int = 3) -> Run:
    per_page: dict[str, tuple[float, float, float]] = {}
    for page in pages:
        got, times = "", []
        for _ in range(max(1, repeat)):
            t0 = time.process_time()
            got = run(page)
            times.append((time.process_time() - t0) * 1000)
        p, r = page_scores(page.body, got)
        per_page[page.name] = (p, r, statistics.median(times))
    p, r, f1 = overall((v[0], v[1]) for v in per_page.values())
    cpu = [v[2] for v in per_page.values()]
    return Run(name, per_page, p, r, f1, statistics.median(cpu), _p95(cpu))


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pages_eval", description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated extractors (default: all)")
    ap.add_argument("--pages", action="store_true", help="print each page's precision, recall, F1 and CPU")
    ap.add_argument("--repeat", type=int, default=3, help="runs per page; the median CPU time counts")
    ap.add_argument("--json", action="store_true", help="one JSON document instead of tables")
    args = ap.parse_args(argv)
    pages = load_pages()
    table = extractors(pages)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(table)
    unknown = set(chosen) - set(table)
    if unknown:
        ap.error(f"unknown extractor(s): {', '.join(sorted(unknown))}")
    runs = [evaluate(n, table[n], pages, args.repeat) for n in chosen]
    if args.json:
        print(json.dumps([{k: getattr(r, k) for k in Run.__slots__} for r in runs], indent=2))  # type: ignore[attr-defined]
        return 0
    if args.pages:
        for r in runs:
            print(f"## {r.extractor}")
            for name, (p, rec, ms) in r.per_page.items():
                print(f"  {name:<28} P {p:.3f}  R {rec:.3f}  F1 {_f1(p, rec):.3f}  {ms:7.1f} ms")
    print(f"{len(pages)} pages, {sum(1 for _ in {p.site for p in pages})} sites")
    print(f"{'extractor':<24} {'precision':>9} {'recall':>7} {'F1':>6} {'CPU median':>11} {'CPU p95':>8}")
    for r in runs:
        print(f"{r.extractor:<24} {r.precision:9.3f} {r.recall:7.3f} {r.f1:6.3f} {r.cpu_median_ms:8.1f} ms "
              f"{r.cpu_p95_ms:5.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
