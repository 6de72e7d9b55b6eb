"""Hostile feed bodies through the real ``wirefeed ingest`` process, each beside a good feed in one batch.

For every body: the command ends in bounded time and bounded memory (the process's own peak RSS, from
``tests/peak.py``), never prints a traceback, names a one-line reason when it refuses the body (and records
it on the feed), and the good feed of the same batch lands in full. Cases that are cleaned rather than refused
also have what was stored checked (no expanded entities, no local file contents, sanitised HTML, ...).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.faults import hostile
from tests.faults.conftest import rss
from tests.netrecorder import ConnectionRecorder
from tests.peak import peak_mb, wirefeed_argv
from tests.session_guard import run_dir

RSS_LIMIT_MB = 600  # the CLI alone peaks near 200 MB (imports); a bomb expanded by feedparser reaches GBs
TIME_LIMIT_S = 60.0


@dataclass
class Run:
    code: int
    seconds: float
    peak_mb: float
    doc: dict
    stderr: str

    def input(self, name: str) -> dict:
        return next(i for i in self.doc["inputs"] if Path(i["input"]).name == name)


def ingest(env: dict[str, str], tmp: Path, *paths: Path) -> Run:
    out, err = (tmp / "stdout").open("w+"), (tmp / "stderr").open("w+")
    t0 = time.monotonic()
    hwm = tmp / "peak"
    hwm.unlink(missing_ok=True)
    p = subprocess.Popen(wirefeed_argv(hwm, "ingest", "--json", *map(str, paths)), env=env, stdout=out,
                         stderr=err, cwd=run_dir())
    p.wait()
    seconds = time.monotonic() - t0
    out.seek(0)
    err.seek(0)
    stderr = err.read()
    text = out.read()
    assert "Traceback" not in stderr, stderr[-3000:]
    doc = json.loads(text) if text.strip() else {}
    return Run(p.returncode, seconds, peak_mb(hwm), doc, stderr)


def case_body(name: str, listener: str | None = None) -> bytes:
    """The hostile body; ``listener`` (a URL) is where its external references point, for the cases that have any."""
    tag = name.replace("_", "-")
    make = getattr(hostile, name)
    body = make(listener) if listener and name in REMOTE_REFERENCES else make()
    return body.replace(b"hostile", tag.encode())


REMOTE_REFERENCES = ("external_entity", "parameter_entity_dtd")  # bodies naming a URL a parser could fetch


def good_feed(tmp: Path) -> Path:
    path = tmp / "good.xml"
    path.write_bytes(rss(4242, 3))
    return path


def stored(db_url: str, name: str) -> list[dict]:
    """What the hostile feed left in ``articles``."""
    with psycopg.connect(db_url) as c, c.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(
            """SELECT a.title, a.summary, a.content_text, a.content_html, a.url, a.published_at, a.published_raw,
                      s.guid
               FROM article_sightings s JOIN articles a ON a.id = s.article_id JOIN feeds f ON f.id = s.feed_id
               WHERE f.url LIKE %s ORDER BY s.guid""", (f"%/{name}.xml",)).fetchall()


def feed_error(db_url: str, name: str) -> tuple[str | None, str | None]:
    with psycopg.connect(db_url) as c:
        row = c.execute("SELECT last_error_kind, last_error FROM feeds WHERE url LIKE %s",
                        (f"%/{name}.xml",)).fetchone()
    return (row[0], row[1]) if row else (None, None)


def all_text(rows: list[dict]) -> str:
    return "\n".join(str(v) for r in rows for v in r.values() if v is not None)


# name → what must hold: "refused" (status error with a reason), "cleaned" (stored, checked below),
# or "either" (refusing or cleaning are both safe; bounds and the good feed are what is asserted).
CASES = [
    ("billion_laughs", "cleaned"),  # nested entities: dropped, never expanded
    ("quadratic_blowup", "either"),  # one 50 KB entity × 40,000 references: never expanded
    ("external_entity", "cleaned"),  # SYSTEM entities (a local file, a URL): never resolved
    ("parameter_entity_dtd", "cleaned"),  # a remote DTD pulled in by a parameter entity: never fetched
    ("deep_nesting", "refused"),  # 100,000 nested elements: refused as a nesting bomb
    ("megabyte_title", "either"),  # a 5 MB title: stored bounded, or refused
    ("duplicate_guids", "cleaned"),  # the same guid twice in one feed: first occurrence kept
    ("invalid_utf8", "cleaned"),
    # ^ bytes that are not UTF-8 in a UTF-8 feed: should be replaced, the valid text around them kept
    ("nul_bytes", "cleaned"),  # NUL bytes: removed (PostgreSQL refuses them in text)
    ("lone_surrogate", "cleaned"),  # &#xD800; &#0; &#x110000;: dropped or replaced
    ("scripts_html", "cleaned"),  # script, event handlers, javascript: URLs, iframes: sanitised away
    ("extreme_dates", "cleaned"),  # year 0, year 9999, garbage: clamped, raw kept
    ("missing_fields", "either"),  # items with no title or no link
    ("not_xml", "refused"),  # binary garbage
]


@pytest.mark.parametrize(("name", "outcome"), CASES)
def test_hostile_body_is_refused_or_cleaned_within_bounds(name: str, outcome: str, env, db_url, conn,
                                                          tmp_path: Path) -> None:
    bad = tmp_path / f"{name}.xml"
    good = good_feed(tmp_path)
    with ConnectionRecorder() as listener:
        bad.write_bytes(case_body(name, listener.url))
        run = ingest(env, tmp_path, bad, good)
    assert listener.connections == []  # a remote DTD or entity is never fetched (the listener records any try)
    assert run.seconds < TIME_LIMIT_S, run
    assert run.peak_mb < RSS_LIMIT_MB, run
    g = run.input("good.xml")
    assert g["status"] == "ok" and g["new_articles"] == 3, g  # the rest of the batch landed
    b = run.input(f"{name}.xml")
    if outcome == "refused":
        assert b["status"] == "error" and run.code == 1, b
    if outcome == "cleaned":
        assert b["status"] == "ok", b
    if b["status"] == "error":
        reason = b["error"]
        assert reason and "\n" not in reason and len(reason) < 400, b  # one line a person can act on
        assert f"{name}.xml" in run.stderr  # named on stderr
        kind, message = feed_error(db_url, name)
        assert kind and message == reason  # and recorded on its feed
        assert stored(db_url, name) == []  # no partial rows
    else:
        assert b["entries"] >= 1, b
    rows = stored(db_url, name)
    text = all_text(rows)
    check = CHECKS.get(name)
    if check is not None:
        check(rows, text)
    print(f"\n{name}: {b['status']} {b.get('error') or ''} | {run.seconds:.1f}s, peak RSS {run.peak_mb:.0f} MB, "
          f"{len(rows)} stored")


def _billion(rows: list[dict], text: str) -> None:
    assert len(rows) == 2
    assert "lollol" not in text and len(text) < 10_000


def _external(rows: list[dict], text: str) -> None:
    assert len(rows) == 2
    assert "root:" not in text and "/bin/" not in text  # /etc/passwd never read
    assert "before" in text and "after" in text


def _param(rows: list[dict], text: str) -> None:
    assert len(rows) == 2


def _title(rows: list[dict], text: str) -> None:
    for r in rows:
        assert len(r["title"]) <= 100_000, len(r["title"])  # bounded, not 5 MB in a title


def _dups(rows: list[dict], text: str) -> None:
    assert len(rows) == 2  # two distinct guids; each repeat dropped
    assert "Same guid" not in text  # first occurrence kept


def _utf8(rows: list[dict], text: str) -> None:
    assert len(rows) == 2
    assert "café" in text and "naïve" in text  # valid text around the bad bytes survives


def _nul(rows: list[dict], text: str) -> None:
    assert len(rows) == 2 and "\x00" not in text
    assert "before" in text and "after" in text


def _surrogate(rows: list[dict], text: str) -> None:
    assert len(rows) == 2
    text.encode("utf-8")  # stored text is valid Unicode (no lone surrogate survived)


def _scripts(rows: list[dict], text: str) -> None:
    assert len(rows) == 2
    low = text.lower()
    for bad in ("<script", "onclick", "onerror", "javascript:", "<iframe", "<style", "document.cookie"):
        assert bad not in low, bad
    assert "hello" in low


def _dates(rows: list[dict], text: str) -> None:
    from datetime import UTC, datetime, timedelta

    assert len(rows) == 3
    for r in rows:
        assert datetime(1990, 1, 1, tzinfo=UTC) < r["published_at"] < datetime.now(UTC) + timedelta(days=2), r


CHECKS = {
    "billion_laughs": _billion, "external_entity": _external, "parameter_entity_dtd": _param,
    "megabyte_title": _title, "duplicate_guids": _dups, "invalid_utf8": _utf8, "nul_bytes": _nul,
    "lone_surrogate": _surrogate, "scripts_html": _scripts, "extreme_dates": _dates,
}


def test_ten_thousand_items_in_one_feed(env, db_url, conn, tmp_path: Path) -> None:
    bad = tmp_path / "many_items.xml"
    bad.write_bytes(case_body("many_items"))
    run = ingest({**env, "WIREFEED_MAX_ENTRIES_PER_FEED": "10000"}, tmp_path, bad, good_feed(tmp_path))
    b = run.input("many_items.xml")
    assert b["status"] == "ok" and b["entries"] == 10_000 and b["new_articles"] == 10_000, b
    assert run.input("good.xml")["new_articles"] == 3
    assert run.peak_mb < RSS_LIMIT_MB, run
    assert run.seconds < 300, run  # one transaction for the whole feed
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM article_sightings").fetchone()[0] == 10_003
    print(f"\nmany_items: 10,000 items in {run.seconds:.1f}s, peak RSS {run.peak_mb:.0f} MB")


def test_body_over_the_size_limit_is_refused(env, db_url, conn, tmp_path: Path) -> None:
    bad = tmp_path / "huge.xml"
    bad.write_bytes(hostile.feed("".join(f"<item><title>t{i}</title><description>{'x' * 1000}</description></item>"
                                         for i in range(2000))))  # ≈ 2 MB
    run = ingest({**env, "WIREFEED_MAX_FEED_BYTES": "1000000"}, tmp_path, bad, good_feed(tmp_path))
    b = run.input("huge.xml")
    assert b["status"] == "error" and "WIREFEED_MAX_FEED_BYTES" in b["error"], b
    assert run.input("good.xml")["new_articles"] == 3
    assert run.peak_mb < RSS_LIMIT_MB


def test_item_with_a_nine_kilobyte_url(env, db_url, conn, tmp_path: Path) -> None:
    bad = tmp_path / "long_url.xml"
    bad.write_bytes(case_body("long_url"))
    run = ingest(env, tmp_path, bad, good_feed(tmp_path))
    assert run.input("good.xml")["new_articles"] == 3
    b = run.input("long_url.xml")
    assert b["status"] == "ok" and b["new_articles"] == 2, b  # the item stored (URL dropped), or skipped
