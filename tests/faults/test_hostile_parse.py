"""Hostile input against the parsing and normalising layers.

Each pure call runs in a child under kernel limits (:mod:`tests.bounded`: 256 MB of address space beyond what the
child holds after its imports, a few seconds of CPU), so an input over budget ends as a MemoryError or a SIGXCPU
instead of as a slow or swapping test. The end-to-end cases go through ``wirefeed ingest`` beside a good feed
(helpers of :mod:`tests.faults.test_hostile_input`): the good feed lands in full, the hostile one is cleaned or
refused with a one-line reason recorded on its feed.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.bounded import Cost, run_bounded
from tests.faults import hostile
from tests.faults.conftest import WIREFEED, rss
from tests.faults.test_hostile_input import Run, feed_error, good_feed, ingest, stored
from tests.session_guard import run_dir

MEM_MB = 256
CLI_PEAK_MB = 190 + MEM_MB  # `wirefeed ingest` peaks near 190 MB with a good feed alone (imports, one batch)


def _parse(body: bytes, cpu_s: float = 5.0) -> Cost:
    cost = run_bounded("tests.bounded:parse_summary", body, "https://hostile.example.org/feed.xml", cpu_s=cpu_s,
                       mem_mb=MEM_MB)
    print(f"\n{cost}")
    return cost


# --- 1. the entity-bomb guard: a DOCTYPE is stripped wherever expat would read it ------------------------------


def test_doctype_after_a_comment_holding_markup_is_stripped_not_expanded() -> None:
    cost = _parse(hostile.commented_doctype_bomb())
    assert cost.finished, cost  # before the fix: 100,000,000 characters of title (~480 MB) hit the limit
    assert cost.error is None, cost
    out = cost.result
    assert out["entries"] == 2 and "xxxxxxxxxx" not in out["title"], out
    assert out["longest_text"] < 10_000, out
    assert cost.peak_growth_mb is not None and cost.peak_growth_mb <= MEM_MB, cost


def test_doctype_visible_only_after_decoding_is_refused() -> None:
    cost = _parse(hostile.encoded_doctype_bomb())
    assert cost.finished, cost
    assert cost.raised("worker.errors.ParseError") and "DOCTYPE" in cost.error[2], cost


def test_references_after_a_commented_cdata_opener_are_still_fixed() -> None:
    from worker.parse.feed import harden_xml

    body = (hostile.HEAD + '<!-- <![CDATA[ --><rss version="2.0"><channel><title>A&nbsp;B &amp; C</title>'
            "<description><![CDATA[keep &nbsp; raw]]></description></channel></rss>").encode()
    out = harden_xml(body)
    assert b"A&#160;B &amp; C" in out  # fixed: the CDATA opener was inside a comment, it opened nothing
    assert b"<![CDATA[keep &nbsp; raw]]>" in out  # a real CDATA section is left alone


def ingest_beside_good(env: dict[str, str], tmp_path: Path, name: str, body: bytes) -> tuple[Run, dict]:
    """``wirefeed ingest`` of ``name``.xml (``body``) and a good feed in one batch; the good one must land."""
    bad = tmp_path / f"{name}.xml"
    bad.write_bytes(body)
    run = ingest(env, tmp_path, bad, good_feed(tmp_path))
    assert run.input("good.xml")["new_articles"] == 3, run.doc
    return run, run.input(bad.name)


def test_commented_doctype_bomb_through_ingest(env, db_url, conn, tmp_path: Path) -> None:
    run, b = ingest_beside_good(env, tmp_path, "commented_doctype_bomb", hostile.commented_doctype_bomb())
    assert b["status"] == "ok" and b["new_articles"] == 2, b
    assert all(len(r["title"] or "") < 1000 for r in stored(db_url, "commented_doctype_bomb"))
    assert run.peak_mb < CLI_PEAK_MB, run
    print(f"\ncommented_doctype_bomb: {run.seconds:.1f}s, peak RSS {run.peak_mb:.0f} MB")


def test_encoded_doctype_bomb_through_ingest_is_refused_with_a_reason(env, db_url, conn, tmp_path: Path) -> None:
    _, b = ingest_beside_good(env, tmp_path, "encoded_doctype_bomb", hostile.encoded_doctype_bomb())
    assert b["status"] == "error" and "DOCTYPE" in b["error"], b
    assert feed_error(db_url, "encoded_doctype_bomb") == ("parse", b["error"])


# --- 5. local files: one reader, the same byte cap as HTTP, regular files only ----------------------------------


def _limit_memory() -> None:  # in the child, before exec: a read without a cap ends in MemoryError, not in swap
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, resource.getrlimit(resource.RLIMIT_AS)[1]))


def fetch_sync(env: dict[str, str], *feed_ids: int) -> subprocess.CompletedProcess[str]:
    """``wirefeed fetch --sync`` of the feeds; a read that hangs shows as TimeoutExpired (the child is killed)."""
    return subprocess.run([str(WIREFEED), "fetch", "--sync", *map(str, feed_ids)], env=env, capture_output=True,
                          text=True, cwd=run_dir(), timeout=60, preexec_fn=_limit_memory)


@pytest.mark.parametrize("kind", ["dev_zero", "fifo", "too_large"])
def test_file_feed_that_is_not_a_bounded_regular_file_is_refused(kind: str, env, db_url, conn,
                                                                  tmp_path: Path) -> None:
    env = {**env, "WIREFEED_MAX_FEED_BYTES": "200000"}
    bad, good = tmp_path / "bad.xml", tmp_path / "good.xml"
    bad.write_bytes(rss(77, 2))
    good.write_bytes(rss(4242, 3))
    run = ingest(env, tmp_path, bad, good)  # both become file:// feeds
    ids = [run.input(p.name)["feed_id"] for p in (bad, good)]
    # ingest leaves its file feeds disabled (ingest-only); the hostile case is a row enabled by hand in SQL,
    # which the fetch path then reads through the same bounded reader
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("UPDATE feeds SET disabled_at = NULL, disabled_reason = NULL WHERE id = ANY(%s)", (ids,))
    bad.unlink()
    if kind == "dev_zero":
        bad.symlink_to("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(bad)  # no writer ever comes: a blocking open or read would wait forever
    else:
        bad.write_bytes(hostile.feed("<item><title>x</title></item>" * 10_000))  # 290 KB > 200,000 bytes
    good.write_bytes(rss(4242, 5))  # two new items
    done = fetch_sync(env, *ids)
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert f"feed {ids[1]}: 5 entries, 2 new" in done.stdout, done.stdout  # the rest of the batch went on
    with psycopg.connect(db_url) as c:
        kind_, error = c.execute("SELECT last_error_kind, last_error FROM feeds WHERE id = %s", (ids[0],)).fetchone()
        history = c.execute("SELECT error_message FROM feed_fetches WHERE feed_id = %s ORDER BY id DESC LIMIT 1",
                            (ids[0],)).fetchone()[0]
    expected = {"dev_zero": "a character device, not a regular file", "fifo": "a FIFO, not a regular file",
                "too_large": "over WIREFEED_MAX_FEED_BYTES=200000"}[kind]
    assert expected in error and error in done.stderr and history == error, (kind_, error, done.stderr)


def test_read_local_file_caps_and_refuses(tmp_path: Path) -> None:
    from worker.errors import InputError, TooLargeError
    from worker.fetch.local import read_local_file

    f = tmp_path / "f.xml"
    f.write_bytes(b"x" * 1000)
    assert read_local_file(f, 1000) == b"x" * 1000
    with pytest.raises(TooLargeError, match="WIREFEED_MAX_PAGE_BYTES=999"):
        read_local_file(f, 999, setting="WIREFEED_MAX_PAGE_BYTES")
    with pytest.raises(InputError, match="a directory, not a regular file"):
        read_local_file(tmp_path, 1000)
    with pytest.raises(FileNotFoundError):
        read_local_file(tmp_path / "missing.xml", 1000)


# --- 7. JSON Feed: a bad field drops that field (or that item), never the feed ----------------------------------


@pytest.mark.parametrize("huge_literal", [False, True])
def test_json_feed_with_unreadable_numbers_keeps_every_item(huge_literal: bool) -> None:
    cost = _parse(hostile.json_bad_numbers(huge_literal))
    # before: ValueError from int("²"), outside the error tree (internal-error retries, then poison); with the
    # 5,000-digit literal, a ParseError for the whole feed
    assert cost.finished and cost.error is None, cost
    out = cost.result
    assert out["parser"] == "jsonfeed" and out["entries"] == 6, out
    assert [t.split()[3] for t in out["entry_titles"]] == ["0", "1", "2", "3", "4", "5"], out


def test_json_feed_with_unreadable_numbers_through_ingest(env, db_url, conn, tmp_path: Path) -> None:
    _, b = ingest_beside_good(env, tmp_path, "json_bad_numbers", hostile.json_bad_numbers())
    assert b["status"] == "ok" and b["new_articles"] == 6, b
    guids = {r["guid"] for r in stored(db_url, "json_bad_numbers")}
    assert len(guids) == 6 and {"hostile-0", "hostile-5"} <= guids, guids


# --- 6. entries per feed: the first WIREFEED_MAX_ENTRIES_PER_FEED in document order, the rest noted -------------


def test_cap_entries_keeps_the_first_in_document_order() -> None:
    from worker.models import FeedMeta, ParsedFeed, RawEntry
    from worker.parse.feed import cap_entries

    entries = [RawEntry(guid=str(i), link=None) for i in range(7)]
    parsed = ParsedFeed(meta=FeedMeta(url="https://e.example/"), entries=entries)
    assert cap_entries(parsed, 7) is None and len(parsed.entries) == 7
    note = cap_entries(parsed, 3)
    assert [e.guid for e in parsed.entries] == ["0", "1", "2"]
    assert note and "7 entries" in note and "WIREFEED_MAX_ENTRIES_PER_FEED=3" in note and note in parsed.warnings


def test_feed_over_the_entry_cap_stores_the_first_entries_and_says_so(env, db_url, conn, tmp_path: Path) -> None:
    env = {**env, "WIREFEED_MAX_ENTRIES_PER_FEED": "300"}
    run, b = ingest_beside_good(env, tmp_path, "many_json_items", hostile.many_json_items(2000))
    assert b["status"] == "ok" and b["entries"] == 300 and b["new_articles"] == 300 and b["capped"] == 1700, b
    assert "2000 entries, only the first 300" in b["note"] and b["note"] in run.stderr
    guids = {r["guid"] for r in stored(db_url, "many_json_items")}
    assert guids == {f"hostile-{i}" for i in range(300)}  # the first 300 in document order
    assert feed_error(db_url, "many_json_items") == ("truncated", b["note"])  # on the feed row ...
    status = subprocess.run([str(WIREFEED), "status", "--json"], env=env, capture_output=True, text=True,
                            cwd=run_dir(), timeout=60)
    top = json.loads(status.stdout)["feeds"]["top_errors"]
    assert {"kind": "truncated", "feeds": 1, "example": b["note"]} in top, top  # ... and in `wirefeed status`
    # a fetched body (with a fetch history row): the note goes into the history too
    from worker.pipeline import process_body
    from worker.settings import Settings
    from worker.store import fetches as fetch_store

    with conn.transaction():
        fetch_id = fetch_store.record_fetch(conn, fetch_store.FetchRecord(
            feed_id=b["feed_id"], url="https://hostile.example.org/feed.json", outcome="modified"))
    rep = process_body(conn, Settings(_env_file=None, **env), b["feed_id"], hostile.many_json_items(2001),
                       url="https://hostile.example.org/feed.json", fetch_id=fetch_id)
    assert rep.status == "ok" and rep.capped == 1701, rep
    with psycopg.connect(db_url) as c:
        row = c.execute("SELECT outcome, entries_seen, error_message FROM feed_fetches WHERE id = %s",
                        (fetch_id,)).fetchone()
    assert row == ("modified", 300, rep.note) and "2001 entries, only the first 300" in rep.note, row


# --- 2. no quadratic scan over attacker text: every input bounded, every comment/script cut in one pass ---------


def _call(target: str, *args: object, cpu_s: float = 5.0) -> Cost:
    cost = run_bounded("tests.bounded:summarize", target, *args, cpu_s=cpu_s, mem_mb=MEM_MB)
    print(f"\n{target}: {cost}")
    assert cost.finished and cost.error is None, cost  # before: killed by SIGXCPU (25 s, 45 s, ~4 s of CPU)
    return cost


def test_title_of_forty_thousand_comment_openers() -> None:
    cost = _call("worker.normalize.html:clean_line", "<!--" * 40_000)
    assert cost.result["len"] <= 1000, cost.result


def test_summary_of_forty_thousand_script_openers() -> None:
    cost = _call("worker.normalize.html:loose_html_to_paragraphs", "<script>" * 40_000 + "<p>after</p>")
    assert cost.result["len"] > 0, cost.result  # unterminated openers are text, not a hidden rest


def test_sniffing_a_megabyte_of_empty_processing_instructions() -> None:
    cost = _call("worker.parse.feed:sniff_format", b"<??>" * 262_144, cpu_s=2.0)
    assert cost.result["head"] == "empty", cost.result


def test_entry_with_every_hostile_field_is_normalised_within_budget() -> None:
    comments = "<!--" * 40_000
    cost = run_bounded("tests.bounded:normalize_summary", comments, "<script>" * 40_000, "a" * 80_000 + "@",
                       comments, comments, cpu_s=5.0, mem_mb=MEM_MB)
    print(f"\n{cost}")
    assert cost.finished and cost.error is None, cost
    assert cost.result["stored"] == 1 and cost.result["lengths"]["author"] <= 500, cost.result


def test_json_feed_items_past_the_cap_are_counted_not_read() -> None:
    from worker.parse.jsonfeed import parse_json_feed

    parsed = parse_json_feed(hostile.many_json_items(50), "https://hostile.example.org/feed.json", max_entries=20)
    assert [e.guid for e in parsed.entries] == [f"hostile-{i}" for i in range(20)] and parsed.unread == 30


def test_a_feed_cap_of_tiny_json_items_stays_within_the_memory_budget(env, db_url, conn, tmp_path: Path) -> None:
    """10 MB of the smallest JSON Feed items: only the first WIREFEED_MAX_ENTRIES_PER_FEED become entries (before:
    all ~630,000 were read and then cut, peak ~490 MB)."""
    body = hostile.tiny_json_items()
    run, b = ingest_beside_good(env, tmp_path, "tiny_json_items", body)
    total = body.count(b'{"id":"')
    assert b["status"] == "ok" and b["entries"] == 1000 and b["capped"] == total - 1000, b
    assert f"{total} entries, only the first 1000" in b["note"]
    assert run.peak_mb < CLI_PEAK_MB, run
    print(f"\ntiny_json_items ({total} items): {run.seconds:.1f}s, peak RSS {run.peak_mb:.0f} MB")


def test_author_of_eighty_kilobytes_on_feedparsers_path() -> None:
    cost = _parse(hostile.quadratic_fields())
    assert cost.finished and cost.error is None, cost  # before: feedparser's e-mail pattern, ~23 s
    assert cost.result["parser"] == "feedparser" and cost.result["entries"] == 2, cost.result


def test_quadratic_fields_through_ingest(env, db_url, conn, tmp_path: Path) -> None:
    run, b = ingest_beside_good(env, tmp_path, "quadratic_fields", hostile.quadratic_fields())
    assert b["status"] == "ok" and b["new_articles"] == 2, b
    rows = stored(db_url, "quadratic_fields")
    assert all(len(r["title"]) <= 1000 and len(r["summary"] or "") <= 2000 for r in rows), rows
    assert run.peak_mb < CLI_PEAK_MB, run
    print(f"\nquadratic_fields: {run.seconds:.1f}s, peak RSS {run.peak_mb:.0f} MB")
