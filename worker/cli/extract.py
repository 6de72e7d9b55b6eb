"""``wirefeed extract FILE_OR_URL... [--json]``: what wirefeed makes of article pages (body text and metadata).

A URL is fetched as the workers fetch pages: robots.txt first (a disallowed page is never requested), then the
page under ``WIREFEED_MAX_PAGE_BYTES``, the SSRF guard, the deadline, the host's politeness (shared with
running workers) and the User-Agent; with ``WIREFEED_FETCH_PAGES=never`` no URL is fetched. One JSON object per
input per line with ``--json`` (the contract's shape); exit 1 when any input failed. A bad page is an error
line, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from worker.cli.safe_text import json_safe
from worker.cli.safe_text import terminal_safe as safe
from worker.settings import Settings

__all__ = ["add_parser", "cmd_extract"]

_PAGES_OFF = "WIREFEED_FETCH_PAGES=never: no article page is fetched (save the page and give its file)"


def add_parser(sub: Any) -> None:
    ex = sub.add_parser("extract", help="the article in HTML pages (files or URLs): body text without boilerplate, "
                                        "and metadata")
    ex.add_argument("inputs", nargs="+", metavar="FILE_OR_URL")
    ex.add_argument("--json", action="store_true", help="one JSON object per input per line")


def _error_doc(given: str, error: str) -> dict[str, Any]:
    fields = ("url", "title", "text", "author", "published_at", "language", "canonical_url", "original_url",
              "site_name")
    return {"input": given, **dict.fromkeys(fields), "error": error}


class _Fetcher:
    """robots.txt and the page, with the workers' guards; made on the first URL."""

    def __init__(self, settings: Settings) -> None:
        from worker.fetch.politeness import HostPoliteness
        from worker.fetch.robots import Robots

        self.settings = settings
        self.politeness = HostPoliteness.from_settings(settings, max_wait=settings.sync_host_wait)
        self.robots = Robots(settings, client=self.politeness.client, politeness=self.politeness)

    def fetch(self, url: str) -> tuple[bytes, str, str | None] | str:
        """(body, final URL, content type), or the one-line reason there is none."""
        from worker.errors import FetchError, HostBusy
        from worker.fetch.http import fetch_page_body

        try:
            verdict = self.robots.check(url)
            if not verdict.allowed:
                return f"robots: {verdict.why}; the page was not requested"
            out = fetch_page_body(url, settings=self.settings, politeness=self.politeness)
        except (FetchError, HostBusy) as err:
            return f"{getattr(err, 'kind', 'host_busy')}: {err.reason}"
        return out.body or b"", out.final_url, out.content_type


def _url(given: str, settings: Settings, fetchers: dict[str, _Fetcher]) -> dict[str, Any]:
    from worker.pages import extract_page

    if settings.fetch_pages == "never":
        return _error_doc(given, _PAGES_OFF)
    if "f" not in fetchers:
        fetchers["f"] = _Fetcher(settings)
    got = fetchers["f"].fetch(given)
    if isinstance(got, str):
        return {**_error_doc(given, got), "url": given}
    body, final_url, content_type = got
    try:
        result = extract_page(body, final_url, content_type=content_type)
    except Exception as exc:  # a bug must not cost the other inputs their answer
        return _error_doc(given, f"unexpected failure ({type(exc).__name__}: {exc}); please report it")
    return result.contract_json(given)


def _one(given: str, settings: Settings, fetchers: dict[str, _Fetcher]) -> dict[str, Any]:
    from worker.pages import extract_page

    if given.startswith(("http://", "https://")):
        return _url(given, settings, fetchers)
    from worker.errors import InputError
    from worker.fetch.local import read_local_file

    path = Path(given)
    try:
        data = read_local_file(path, settings.max_page_bytes, setting="WIREFEED_MAX_PAGE_BYTES")
    except OSError as exc:
        return _error_doc(given, f"cannot read the file: {exc.strerror or exc}")
    except InputError as err:
        return _error_doc(given, err.reason)
    url = path.resolve().as_uri()
    try:
        result = extract_page(data, None)
    except Exception as exc:  # a bug must not cost the other inputs their answer
        return _error_doc(given, f"unexpected failure ({type(exc).__name__}: {exc}); please report it")
    doc = result.contract_json(given)
    doc["url"] = url
    return doc


def _print_human(doc: dict[str, Any]) -> None:
    print(f"== {safe(doc['input'])}")  # everything below came from the page: printed as text
    for key in ("title", "author", "published_at", "language", "site_name", "canonical_url", "original_url"):
        if doc[key]:
            print(f"{key}: {safe(doc[key])}")
    print()
    print(safe(doc["text"], multiline=True) if doc["text"] else "(no text)")
    print()


def cmd_extract(args: argparse.Namespace, settings: Settings) -> int:
    failed = 0
    fetchers: dict[str, _Fetcher] = {}
    for given in args.inputs:
        doc = _one(given, settings, fetchers)
        if doc["error"] is not None:
            failed += 1
            print(f"error: {safe(given)}: {safe(doc['error'])}", file=sys.stderr)
        if args.json:
            sys.stdout.write(json_safe(json.dumps(doc, ensure_ascii=False)) + "\n")
        elif doc["error"] is None:
            _print_human(doc)
    return 1 if failed else 0
