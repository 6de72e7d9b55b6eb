"""``wirefeed extract`` run as a user would, on the committed pages (no database, no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bench.pages_eval import PAGES
from tests.conftest import run_cli

CONTRACT_KEYS = ["input", "url", "title", "text", "author", "published_at", "language", "canonical_url",
                 "original_url", "site_name", "error"]


def _env() -> dict[str, str]:
    return {**os.environ, "WIREFEED_FETCH_PAGES": "never"}


def test_json_one_object_per_input_in_order() -> None:
    inputs = [str(PAGES / "allafrica-cairo.html"), str(PAGES / "np-latvian-article.html")]
    proc = run_cli("extract", "--json", *inputs, env=_env())
    assert proc.returncode == 0, proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["input"] for d in docs] == inputs
    assert all(list(d) == CONTRACT_KEYS and d["error"] is None for d in docs)
    cairo = docs[0]
    assert cairo["text"] == (PAGES / "allafrica-cairo.txt").read_text(encoding="utf-8").strip()
    assert cairo["canonical_url"] == "https://allafrica.com/stories/202509170142.html"
    assert cairo["original_url"].startswith("https://www.sis.gov.eg/Story/208213/")
    assert cairo["url"] == Path(inputs[0]).resolve().as_uri()
    assert docs[1]["language"] == "lv" and docs[1]["author"] == "Anna Ūdre"


def test_failures_are_error_lines_and_exit_1(tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")
    good = str(PAGES / "allafrica-cairo.html")
    inputs = [str(pdf), str(tmp_path / "missing.html"), "https://news.example/story", good]
    proc = run_cli("extract", "--json", *inputs, env=_env())
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    docs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [d["input"] for d in docs] == inputs
    assert docs[0]["error"].startswith("not_html:")
    assert docs[1]["error"].startswith("cannot read the file")
    assert "WIREFEED_FETCH_PAGES=never" in docs[2]["error"]  # pages off: no URL is ever fetched
    assert docs[3]["error"] is None
    assert len(proc.stderr.strip().splitlines()) == 3  # one line per failed input


def test_plain_output_shows_metadata_and_text() -> None:
    proc = run_cli("extract", str(PAGES / "allafrica-cairo.html"), env=_env())
    assert proc.returncode == 0, proc.stderr
    assert "canonical_url: https://allafrica.com/stories/202509170142.html" in proc.stdout
    assert "The meeting was attended by senior commanders from both armed forces." in proc.stdout
    assert "AllAfrica publishes" not in proc.stdout
