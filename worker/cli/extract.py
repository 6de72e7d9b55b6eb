"""``wirefeed extract FILE... [--json]``: what wirefeed makes of article pages (body text and metadata).

Local files only for now: a URL needs the page fetcher (SSRF guard, size and time limits, robots.txt), which is
not built yet, so a URL input gets an error saying so. One JSON object per input per line with ``--json``
(the contract's shape); exit 1 when any input failed. A bad page is an error line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from worker.settings import Settings

__all__ = ["add_parser", "cmd_extract"]

_URL_NOT_YET = ("fetching article pages by URL is not available yet (it needs the page fetcher with robots.txt); "
                "save the page and give its file")


def add_parser(sub: Any) -> None:
    ex = sub.add_parser("extract", help="the article in HTML page files: body text without boilerplate, and metadata")
    ex.add_argument("inputs", nargs="+", metavar="FILE")
    ex.add_argument("--json", action="store_true", help="one JSON object per input per line")


def _error_doc(given: str, error: str) -> dict[str, Any]:
    fields = ("url", "title", "text", "author", "published_at", "language", "canonical_url", "original_url",
              "site_name")
    return {"input": given, **dict.fromkeys(fields), "error": error}


def _one(given: str) -> dict[str, Any]:
    from worker.pages import extract_page

    if given.startswith(("http://", "https://")):
        return _error_doc(given, _URL_NOT_YET)
    path = Path(given)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return _error_doc(given, f"cannot read the file: {exc.strerror or exc}")
    url = path.resolve().as_uri()
    try:
        result = extract_page(data, None)
    except Exception as exc:  # a bug must not cost the other inputs their answer
        return _error_doc(given, f"unexpected failure ({type(exc).__name__}: {exc}); please report it")
    doc = result.contract_json(given)
    doc["url"] = url
    return doc


def _print_human(doc: dict[str, Any]) -> None:
    print(f"== {doc['input']}")
    for key in ("title", "author", "published_at", "language", "site_name", "canonical_url", "original_url"):
        if doc[key]:
            print(f"{key}: {doc[key]}")
    print()
    print(doc["text"] or "(no text)")
    print()


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    failed = 0
    for given in args.inputs:
        doc = _one(given)
        if doc["error"] is not None:
            failed += 1
            print(f"error: {given}: {doc['error']}", file=sys.stderr)
        if args.json:
            sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
        elif doc["error"] is None:
            _print_human(doc)
    return 1 if failed else 0
