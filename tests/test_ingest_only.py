"""A local file given to `wirefeed ingest` is the command line's: its feed is never handed to the workers (they
cannot read the CLI's files). It is disabled with the reason, and the commands say so."""

from __future__ import annotations

import json

import redis

from worker.store.feeds import INGEST_ONLY

RSS = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>Local</title><link>https://local.example.org/</link>'
       b"<item><title>Harbour council meets on the budget</title><link>https://local.example.org/a</link>"
       b"<guid>a</guid><description>The harbour council met on Monday to agree the budget.</description></item>"
       b"</channel></rss>")


def test_a_file_read_by_ingest_is_never_scheduled_for_the_workers(cli, conn, settings, clean_redis, tmp_path) -> None:
    from worker import pipeline

    path = tmp_path / "local.xml"
    path.write_bytes(RSS)
    r = cli("ingest", str(path))
    assert r.returncode == 0, r.stderr
    fid, url, reason = conn.execute("SELECT id, url, disabled_reason FROM feeds").fetchone()
    assert url.startswith("file://") and reason == INGEST_ONLY
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 1

    # due by the clock, yet beat's schedule tick (what wirefeed.schedule_due_feeds runs) claims nothing, and
    # neither `fetch --all` nor `fetch ID` sends it: no message reaches the workers' queue
    conn.execute("UPDATE feeds SET next_fetch_at = now() - interval '1 day'")
    conn.commit()
    assert pipeline.claim_due_feeds(conn, settings) == []
    assert "nothing to fetch" in cli("fetch", "--all").stdout
    assert "nothing to fetch" in cli("fetch", str(fid)).stdout
    assert redis.Redis.from_url(clean_redis).llen("fetch") == 0
    assert conn.execute("SELECT claimed_until FROM feeds").fetchone()[0] is None

    # feeds list and status say why
    listed = json.loads(cli("feeds", "list", "--json").stdout)
    assert [(f["id"], f["disabled_reason"]) for f in listed] == [(fid, INGEST_ONLY)]
    status = json.loads(cli("status", "--json").stdout)
    assert status["feeds"]["top_errors"] == [{"kind": "disabled", "feeds": 1, "example": INGEST_ONLY}]
    # it cannot be enabled for the workers; ingesting the file again still works
    enable = cli("feeds", "enable", str(fid))
    assert enable.returncode == 1 and "ingest-only" in enable.stderr
    path.write_bytes(RSS.replace(b"</channel>", b"<item><title>Second</title><link>https://local.example.org/b"
                                                b"</link><guid>b</guid><description>More news.</description>"
                                                b"</item></channel>"))
    again = cli("ingest", str(path))
    assert again.returncode == 0, again.stderr
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == 2
    assert conn.execute("SELECT disabled_reason FROM feeds").fetchone()[0] == INGEST_ONLY
