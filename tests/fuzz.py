"""Fuzz bodies for the pure layers, run by :mod:`tests.test_fuzz` in a child process under limits.

Inputs are built from the pieces hostile feeds and pages are made of (prologs, DOCTYPEs and entities, comments,
CDATA, tags, references, JSON Feed items, invalid bytes) and from runs of one piece repeated thousands of times,
the shape that turns a careless scan quadratic. Every call must either return or raise an error of the project's
tree (:class:`worker.errors.WirefeedError`); the child's limits turn an input over budget into a failure:

- CPU: a profiling timer (``ITIMER_PROF``, process CPU time) armed for :data:`CPU_BUDGET_S` around each call
  raises :class:`CpuBudgetExceeded`; ``RLIMIT_CPU`` kills the child if a call never returns to Python;
- memory: ``RLIMIT_AS`` is what the child holds after its imports plus :data:`MEM_BUDGET_MB`, so an input that
  needs more ends in a MemoryError.

Deterministic: ``derandomize=True`` (the examples follow from the test's source), no example database, and a
fixed number of examples per target (:data:`EXAMPLES`), so a run costs the same every time.
"""

from __future__ import annotations

import contextlib
import resource
import signal
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.errors import WirefeedError

CPU_BUDGET_S = 2.0
MEM_BUDGET_MB = 256
RUN_CHARS = 160_000  # longest run of one repeated piece
EXAMPLES = {"parse": 300, "normalize": 200, "extract": 100}


class CpuBudgetExceeded(Exception):
    """One call used more than :data:`CPU_BUDGET_S` seconds of CPU."""


def _on_prof(signum: int, frame: Any) -> None:
    raise CpuBudgetExceeded(f"one call used more than {CPU_BUDGET_S} s of CPU")


@contextlib.contextmanager
def cpu_budget() -> Iterator[None]:
    signal.setitimer(signal.ITIMER_PROF, CPU_BUDGET_S)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)


def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` within the CPU budget; errors of the project's tree are an accepted outcome."""
    with cpu_budget():
        try:
            return fn(*args, **kwargs)
        except WirefeedError:
            return None


def limit_process(mem_mb: int = MEM_BUDGET_MB) -> None:
    """Apply the child's limits (after its imports): address space, a CPU backstop, the profiling-timer handler."""
    status = Path("/proc/self/status").read_text().splitlines()
    vm = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    resource.setrlimit(resource.RLIMIT_AS, (vm + mem_mb * 2**20, hard))
    resource.setrlimit(resource.RLIMIT_CPU, (300, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    signal.signal(signal.SIGPROF, _on_prof)


def _settings(name: str) -> Any:
    return settings(max_examples=EXAMPLES[name], derandomize=True, database=None, deadline=None,
                    suppress_health_check=list(HealthCheck), print_blob=False)


# --- pieces -----------------------------------------------------------------------------------------------------

_XML_PIECES = [
    '<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.0" encoding="utf-7"?>', "<?xml?>", "<??>", "<?",
    "<!DOCTYPE rss [", '<!ENTITY a "aaaaaaaaaa">', '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">',
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">', '<!ENTITY x SYSTEM "file:///etc/passwd">', "]>", "<!DOCTYPE rss>",
    "<!--", "-->", "<![CDATA[", "]]>", '<rss version="2.0">', "</rss>", "<channel>", "</channel>", "<item>",
    "</item>", "<title>", "</title>", "<link>", "</link>", "<guid>", "</guid>", "<description>", "</description>",
    "<author>", "</author>", "<pubDate>", "</pubDate>", '<feed xmlns="http://www.w3.org/2005/Atom">', "</feed>",
    "<entry>", "</entry>", '<link href="/x"/>', "<atom:link/>", "<media:content url='u'/>", "&a;", "&b;", "&c;",
    "&x;", "&amp;", "&lt;", "&nbsp;", "&#0;", "&#xD800;", "&#x110000;", "&#12345678901234567890;", "&", "<", ">",
    "<x>", "<script>", "</script>", "<p>", "jane@example.org", "a@", "Mon, 02 Mar 2026 10:00:00 +0000",
    "2026-03-02T10:00:00Z", "0000-00-00", "https://e.example/a", "\x00", "\ufeff", "\u00b2", "\U0001f600", " ", "\n",
]
_JSON_PIECES = [
    '{"version": "https://jsonfeed.org/version/1.1", "items": [', "]}", '{"id": ', '"x"', "1", "1e999", '"\u00b2"',
    "1" * 40, '"size_in_bytes": ', '"attachments": [{"url": "u", "size_in_bytes": ', "}]", "}", ", ", "[", "{",
    '"title": ', '"content_html": "<p>x</p>"', '"authors": [{"name": ', "null", "true", '"date_published": ',
    '"rss": {"channel": {"item": [', "]}}",
]
_HTML_PIECES = [
    "<!doctype html>", "<html>", "</html>", "<head>", "</head>", "<title>", "</title>", "<body>", "</body>",
    "<article>", "</article>", "<p>", "</p>", "<div>", "</div>", "<br>", "<script>", "</script>", "<style>",
    "</style>", "<!--", "-->", "<meta charset='utf-8'>", '<meta property="og:title" content="T">',
    '<meta name="author" content="A">', '<link rel="canonical" href="/c">', '<time datetime="2026-03-02">',
    "<h1>", "</h1>", "<a href='javascript:x'>", "</a>", "<table>", "<tr>", "<td>", "<li>", "&nbsp;", "&#0;", "&",
    "<", ">", "'", '"', "(c) AFP", "\u00a9 Reuters", " ", "\n", "\t", "By Jane Doe", "All rights reserved",
    "Subscribe to our newsletter", "The harbour council met on Monday to discuss the budget.",
]


def _runs(pieces: list[str]) -> st.SearchStrategy[str]:
    """One piece, or a run of one piece repeated up to 40,000 times or :data:`RUN_CHARS` characters (the shape of
    quadratic scans: a careless scan of 40,000 openers costs tens of seconds, a linear one milliseconds)."""
    piece = st.sampled_from(pieces) | st.text(max_size=20)
    times = st.sampled_from([1000, 10_000, 40_000]) | st.integers(2, 40_000)
    return st.one_of(piece, st.builds(_repeat, st.sampled_from(pieces), times))


def _repeat(piece: str, times: int) -> str:
    """``piece`` repeated ``times`` times, at most ~160,000 characters (a long piece is repeated less)."""
    return piece * min(times, max(2, RUN_CHARS // max(1, len(piece))))


def _documents(pieces: list[str], max_chunks: int = 12) -> st.SearchStrategy[str]:
    return st.lists(_runs(pieces), max_size=max_chunks).map("".join)


def _encode(text: str, noise: bytes) -> bytes:
    return text.encode("utf-8", "surrogatepass") + noise


# Most bodies start as a feed would, so they get past sniffing into the parsers (the lxml reader, hardening and
# feedparser, the JSON Feed reader); some are pieces only.
_XML_HEADS = [
    "", '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>F</title><item><title>',
    '<?xml version="1.0"?><!-- <x> <![CDATA[ --><!DOCTYPE rss [<!ENTITY a "x">]><rss version="2.0"><channel><item>'
    "<description>", '<feed xmlns="http://www.w3.org/2005/Atom"><title>F</title><entry><title>',
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"><item><title>',
]
_XML_TAILS = ["", "</title></item></channel></rss>", "</description></item></channel></rss>",
              "</title></entry></feed>", "</title></item></rdf:RDF>"]
_JSON_KEYS = ["id", "url", "title", "content_html", "content_text", "summary", "date_published", "date_modified",
              "authors", "author", "tags", "attachments", "size_in_bytes", "image", "language", "external_url", "name"]
_odd_values = st.sampled_from(["\u00b2", "1" * 5000, " 12 ", "-1", "<!--" * 500, "2026-03-02T10:00:00Z", ""])
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | _odd_values,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(_JSON_KEYS), inner, max_size=6),
    max_leaves=12)
_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | _odd_values
_attachment = st.fixed_dictionaries({"url": st.just("https://fuzz.example.org/a.mp3"),
                                     "size_in_bytes": _odd_values | st.integers() | st.floats()},
                                    optional={"mime_type": _scalars})
_json_item = st.fixed_dictionaries(
    {"id": _scalars, "attachments": st.lists(_attachment | _json_values, min_size=1, max_size=3)},
    optional={**{k: _json_values for k in _JSON_KEYS if k not in ("id", "attachments", "authors")},
              "authors": st.lists(st.fixed_dictionaries({}, optional={"name": _scalars, "url": _scalars}),
                                  max_size=3)})
_json_items = st.lists(_json_item | st.dictionaries(st.sampled_from(_JSON_KEYS), _json_values, max_size=8),
                       max_size=20)


def _json_feed(items: list[Any], raw: str, version: str) -> str:
    import json

    text = json.dumps({"version": version, "title": "F", "items": items})
    return text[:-2] + raw + text[-2:] if raw else text  # raw pieces land inside the items list


xml_bodies = st.builds(lambda head, doc, tail, noise: _encode(head + doc + tail, noise), st.sampled_from(_XML_HEADS),
                       _documents(_XML_PIECES), st.sampled_from(_XML_TAILS), st.binary(max_size=8))
json_bodies = st.one_of(
    st.builds(_encode, _documents(_JSON_PIECES), st.binary(max_size=4)),
    st.builds(lambda items, raw, version: _encode(_json_feed(items, raw, version), b""), _json_items,
              st.just("") | _documents(_JSON_PIECES, max_chunks=3),
              st.sampled_from(["https://jsonfeed.org/version/1.1", "1"])))
html_bodies = st.builds(_encode, _documents(_HTML_PIECES), st.binary(max_size=8))
field_text = st.one_of(st.none(), _documents(_XML_PIECES + _HTML_PIECES, max_chunks=6))


# --- the targets ----------------------------------------------------------------------------------------------


@_settings("parse")
@given(body=st.one_of(xml_bodies, json_bodies), content_type=st.sampled_from(
    [None, "application/rss+xml", "text/xml", "application/xml; charset=iso-8859-1", "text/html; charset=utf-7"]))
def fuzz_parse(body: bytes, content_type: str | None) -> None:
    from worker.parse.feed import parse_feed

    call(parse_feed, body, "https://fuzz.example.org/feed.xml", content_type)


@_settings("normalize")
@given(title=field_text, summary=field_text, content=field_text, link=field_text, author=field_text,
       published=field_text, category=field_text, is_html=st.booleans())
def fuzz_normalize(title: str | None, summary: str | None, content: str | None, link: str | None,
                   author: str | None, published: str | None, category: str | None, is_html: bool) -> None:
    from worker.models import FeedMeta, RawEntry
    from worker.normalize.entry import normalize_entry

    raw = RawEntry(guid=link, link=link, title=title, summary=summary, content=content, content_is_html=is_html,
                   authors=[author] if author else [], published=published, categories=[category] if category else [],
                   base_url="https://fuzz.example.org/")
    call(normalize_entry, raw, FeedMeta(url="https://fuzz.example.org/feed.xml", title=title), datetime(
        2026, 3, 2, tzinfo=UTC))


@_settings("extract")
@given(body=html_bodies, content_type=st.sampled_from([None, "text/html", "text/html; charset=utf-16",
                                                        "application/pdf"]))
def fuzz_extract(body: bytes, content_type: str | None) -> None:
    from worker.pages import extract_page

    call(extract_page, body, "https://fuzz.example.org/2026/03/02/story", content_type=content_type)


TARGETS = {"parse": fuzz_parse, "normalize": fuzz_normalize, "extract": fuzz_extract}


def main(name: str) -> None:
    # every import before the limits: what the child holds then is the baseline of the memory budget
    from worker.normalize.entry import normalize_entry
    from worker.pages import extract_page
    from worker.parse.feed import parse_feed

    # warm every lazy load (language model, parsers) so it does not count against one input's budget
    feed = parse_feed(b'<rss version="2.0"><channel><title>t</title><item><title>The harbour council</title>'
                      b"<description>The council met on Monday to discuss the budget.</description></item>"
                      b"</channel></rss>", "https://w.example/")
    normalize_entry(feed.entries[0], feed.meta, datetime(2026, 3, 2, tzinfo=UTC))
    extract_page(b"<html><body><p>The harbour council met on Monday.</p></body></html>", "https://w.example/a")
    limit_process()
    TARGETS[name]()
    print(f"fuzz {name}: {EXAMPLES[name]} examples within {CPU_BUDGET_S} s CPU and {MEM_BUDGET_MB} MB each")


if __name__ == "__main__":
    main(sys.argv[1])
