"""Hostile input against the parsing and normalising layers (issue 17, the input side).

Each pure call runs in a child under kernel limits (:mod:`tests.bounded`: 256 MB of address space beyond what the
child holds after its imports, a few seconds of CPU), so an input over budget ends as a MemoryError or a SIGXCPU
instead of as a slow or swapping test. The end-to-end cases go through ``wirefeed ingest`` beside a good feed
(helpers of :mod:`tests.faults.test_hostile_input`): the good feed lands in full, the hostile one is cleaned or
refused with a one-line reason recorded on its feed.
"""

from __future__ import annotations

from pathlib import Path

from tests.bounded import Cost, run_bounded
from tests.faults import hostile
from tests.faults.test_hostile_input import Run, feed_error, good_feed, ingest, stored

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
