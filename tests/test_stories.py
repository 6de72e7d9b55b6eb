"""Stories in PostgreSQL: candidate index, links with reasons, the fixtures' truth, concurrency."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from datetime import UTC, datetime

import psycopg
import pytest

from tests.conftest import FIXTURES
from tests.test_dedupe import CAIRO, CAIRO_TITLE, DOCS, REWRITE, SUDAN, SUDAN_TITLE, _story
from worker.models import Article
from worker.pipeline_stories import assign_stories, refresh_stories
from worker.store import stories as story_store
from worker.stories.fingerprint import SCHEME, content_hash, fingerprint


def make_article(title: str, text: str, url: str) -> Article:
    return Article(
        guid=url, link=url, url=url, title=title, summary=None, content_html=None, content_text=text,
        author=None, publisher=None, syndicator=None, language="en",
        published_at=datetime(2025, 9, 16, 12, tzinfo=UTC), published_raw=None,
        content_hash=content_hash(text, title, url),
    )


def insert(conn: psycopg.Connection, a: Article) -> int:
    """The row as the pipeline leaves it before assign_stories: story_id NULL."""
    row = conn.execute(
        """INSERT INTO articles (url, title, content_text, published_at, content_hash)
           VALUES (%s, %s, %s, %s, %s) RETURNING id""",
        (a.url, a.title, a.content_text, a.published_at, a.content_hash),
    ).fetchone()
    assert row is not None
    return int(row[0])


def ingest(conn: psycopg.Connection, docs: list[tuple[str, str, str]]) -> dict[str, int]:
    """Insert and assign a batch (one transaction); returns url -> article id."""
    with conn.transaction():
        new = []
        for title, text, url in docs:
            a = make_article(title, text, url)
            new.append((insert(conn, a), a))
        links = assign_stories(conn, new)
    assert set(links) == {aid for aid, _ in new}
    return {a.url or "": aid for aid, a in new}


def story_of(conn: psycopg.Connection) -> dict[int, int]:
    return dict(conn.execute("SELECT id, story_id FROM articles").fetchall())


def link(conn: psycopg.Connection, article_id: int) -> dict[str, object]:
    cur = conn.execute("SELECT * FROM article_links WHERE article_id = %s", (article_id,))
    cols = [d.name for d in cur.description or []]
    row = cur.fetchone()
    assert row is not None, f"no article_links row for {article_id}"
    return dict(zip(cols, row, strict=True))


def test_cairo_rewrite_summary_and_near_miss(conn: psycopg.Connection) -> None:
    ids = ingest(conn, [(CAIRO_TITLE, "\n\n".join(CAIRO), "https://sis/1")])
    ids |= ingest(conn, [(SUDAN_TITLE, "\n\n".join(SUDAN), "https://sis/2")])
    ids |= ingest(conn, [
        ("Update: " + CAIRO_TITLE, "\n\n".join(REWRITE), "https://ahram/1"),
        (CAIRO_TITLE, CAIRO[0], "https://summary/1"),
    ])
    s = story_of(conn)
    orig, sudan, rewrite, summary = (ids[u] for u in ("https://sis/1", "https://sis/2", "https://ahram/1",
                                                      "https://summary/1"))
    assert s[orig] == orig and s[rewrite] == orig and s[summary] == orig
    assert s[sudan] == sudan
    lr, ls, lsu = link(conn, rewrite), link(conn, summary), link(conn, sudan)
    assert (lr["linked_to"], lr["method"]) == (orig, "near_duplicate") and 0.5 <= float(lr["score"]) <= 1  # type: ignore[arg-type]
    assert (ls["linked_to"], ls["method"]) == (orig, "containment") and float(ls["score"]) >= 0.8  # type: ignore[arg-type]
    assert (lsu["linked_to"], lsu["method"], lsu["story_id"]) == (None, "new", sudan)
    assert f"article {orig}" in str(lsu["reason"])  # the consumer sees which earlier article was considered
    assert link(conn, orig)["method"] == "new"
    view = conn.execute("SELECT story_id, article_count FROM stories ORDER BY story_id").fetchall()
    assert view == [(orig, 3), (sudan, 1)]


def test_copies_within_one_batch_link_to_the_first(conn: psycopg.Connection) -> None:
    ids = ingest(conn, [
        (CAIRO_TITLE, "\n\n".join(CAIRO), "https://a/1"),
        ("Update: " + CAIRO_TITLE, "\n\n".join(REWRITE), "https://b/1"),
        (SUDAN_TITLE, "\n\n".join(SUDAN), "https://c/1"),
    ])
    s = story_of(conn)
    assert s[ids["https://b/1"]] == ids["https://a/1"] == s[ids["https://a/1"]]
    assert s[ids["https://c/1"]] == ids["https://c/1"]


def test_corpus_clusters_in_the_database(conn: psycopg.Connection) -> None:
    """The whole labelled corpus, one document per batch: stories equal the labelled families."""
    ids: dict[str, int] = {}
    for key, (title, text) in DOCS.items():
        ids[key] = ingest(conn, [(title, text, f"https://corpus/{key}")])[f"https://corpus/{key}"]
    s = story_of(conn)
    by_family: dict[str, set[int]] = {}
    for key, aid in ids.items():
        by_family.setdefault(_story(key), set()).add(s[aid])
    assert all(len(v) == 1 for v in by_family.values()), by_family  # recall: each family is one story
    story_ids = [next(iter(v)) for v in by_family.values()]
    assert len(story_ids) == len(set(story_ids))  # precision: no two families share a story


def test_short_text_is_its_own_story(conn: psycopg.Connection) -> None:
    ids = ingest(conn, [("Brief", "Short teaser.", "https://x/1"), ("Brief", "Short teaser!", "https://x/2")])
    s = story_of(conn)
    assert s[ids["https://x/1"]] == ids["https://x/1"] and s[ids["https://x/2"]] == ids["https://x/2"]
    assert "too short" in str(link(conn, ids["https://x/2"])["reason"])


def test_lookup_uses_the_band_index(conn: psycopg.Connection) -> None:
    ingest(conn, [(CAIRO_TITLE, "\n\n".join(CAIRO), "https://sis/1")])
    conn.execute("ANALYZE article_bands")
    conn.execute("SET enable_seqscan = off")  # tiny table: make the planner show the plan it uses at scale
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN " + story_store.CANDIDATES_SQL, {"keys": [1, 2, 3], "per_key": 20, "exclude": "{}"}).fetchall())
    conn.execute("RESET enable_seqscan")
    assert "article_bands_key_idx" in plan


@pytest.mark.parametrize("via_assign", [False, True])  # refresh_stories(), or assign_stories(changed=...)
def test_refresh_replaces_the_index_rows(conn: psycopg.Connection, via_assign: bool) -> None:
    ids = ingest(conn, [(SUDAN_TITLE, "\n\n".join(SUDAN), "https://sis/2")])
    aid = ids["https://sis/2"]
    before = set(conn.execute("SELECT band_key FROM article_bands WHERE article_id = %s", (aid,)).fetchall())
    changed = make_article(CAIRO_TITLE, "\n\n".join(CAIRO), "https://sis/2")
    with conn.transaction():
        conn.execute("UPDATE articles SET title = %s, content_text = %s WHERE id = %s",
                     (changed.title, changed.content_text, aid))
        if via_assign:
            assert assign_stories(conn, [], changed=[(aid, changed)]) == {}
        else:
            assert refresh_stories(conn, [(aid, changed)]) == {aid: None}
    after = set(conn.execute("SELECT band_key FROM article_bands WHERE article_id = %s", (aid,)).fetchall())
    expected = {(k,) for k in fingerprint(changed.title, changed.content_text).keys}
    assert after == expected and before - after  # the old text's keys are gone, the new text's are there
    keys = conn.execute("SELECT keys FROM article_fingerprints WHERE article_id = %s", (aid,)).fetchone()
    assert keys is not None and {(k,) for k in keys[0]} == expected
    # a later copy of the new text now finds the refreshed article
    ids2 = ingest(conn, [("Update: " + CAIRO_TITLE, "\n\n".join(REWRITE), "https://ahram/1")])
    assert story_of(conn)[ids2["https://ahram/1"]] == aid


def test_a_big_batch_claims_its_keys_without_advisory_locks(conn: psycopg.Connection) -> None:
    """Claims are rows, not entries of the shared lock table: a 50-article batch (~1,750 keys) claims them
    all, takes no advisory lock, and leaves no claim behind once it commits."""
    docs = [(t, x, f"https://big/{k}") for k, (t, x) in DOCS.items()]
    claimed = []
    real_claim = story_store.claim_keys

    def spy(c: psycopg.Connection, keys: object) -> list[int]:
        out = real_claim(c, keys)  # type: ignore[arg-type]
        claimed.extend(out)
        held.extend(r[0] for r in c.execute("SELECT band_key FROM story_claims").fetchall())
        return out

    held: list[int] = []
    story_store.claim_keys = spy  # type: ignore[assignment]
    try:
        with conn.transaction():
            new = [(insert(conn, a), a) for a in (make_article(*d) for d in docs)]
            assign_stories(conn, new)
            locks = conn.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
            ).fetchone()
    finally:
        story_store.claim_keys = real_claim  # type: ignore[assignment]
    expected = {k for _, a in new for k in fingerprint(a.title, a.content_text).keys}
    assert len(expected) > 256 and set(claimed) == expected and sorted(held) == sorted(expected)
    assert locks == (0,)
    assert conn.execute("SELECT count(*) FROM story_claims").fetchone() == (0,)


def test_a_batch_waits_for_an_uncommitted_claim_on_a_shared_key(conn: psycopg.Connection, db_url: str) -> None:
    """The claim is what serialises: while one transaction holds a key, another claiming it blocks until the
    first commits; a disjoint key does not block."""
    with psycopg.connect(db_url) as first, psycopg.connect(db_url) as second:
        story_store.claim_keys(first, [11, 22])
        second.execute("SET lock_timeout = '300ms'")
        story_store.claim_keys(second, [33])  # no shared key: no wait
        with pytest.raises(psycopg.errors.LockNotAvailable):
            story_store.claim_keys(second, [22, 44])
        second.rollback()
        first.commit()  # committed claims would be a bug; this one is released below
        first.execute("DELETE FROM story_claims")
        first.commit()
        second.execute("SET lock_timeout = '300ms'")
        assert story_store.claim_keys(second, [22, 44]) == [22, 44]
        second.rollback()


# --- the shared fixtures, through the real pipeline -----------------------------------------------------------
def test_syndication_fixtures_truth(conn: psycopg.Connection, settings: object) -> None:
    from worker.pipeline import ingest_file

    truth = json.loads((FIXTURES / "truth.json").read_text())
    files = ["sis-gov-eg.rss", "allafrica-egypt.rss", "ahram-online.atom"]
    for _ in range(2):
        for name in files:
            report = ingest_file(conn, settings, FIXTURES / name)  # type: ignore[arg-type]
            assert report.status == "ok", report.error
    rows = conn.execute(
        "SELECT s.guid, a.id, a.story_id FROM article_sightings s JOIN articles a ON a.id = s.article_id"
    ).fetchall()
    assert len(rows) == 4
    got = {guid: (aid, sid) for guid, aid, sid in rows}
    items = truth["items"]
    assert set(got) == set(items)
    may_merge = {frozenset(p) for p in truth["may_merge"]}
    for g1 in items:
        for g2 in items:
            same_story = items[g1]["story"] == items[g2]["story"]
            assert (got[g1][1] == got[g2][1]) is same_story, (g1, g2)
            if items[g1]["article"] == items[g2]["article"]:
                assert got[g1][0] == got[g2][0]
            elif frozenset((items[g1]["article"], items[g2]["article"])) not in may_merge:
                assert got[g1][0] != got[g2][0], (g1, g2)
    cairo = {got[g][0] for g, v in items.items() if v["story"] == "cairo"}
    assert len(cairo) == 2  # the wrapped verbatim copy is the original's row (see tests/test_ingest.py)
    reasons = conn.execute("SELECT article_id, method, linked_to, reason FROM article_links").fetchall()
    assert len(reasons) == len({aid for aid, _ in got.values()})  # every stored article has its decision
    rewrite_id = got["tag:english.ahram.org.eg,2025:552211"][0]
    assert any(aid == rewrite_id and m == "near_duplicate" and lt is not None for aid, m, lt, _ in reasons)


# --- concurrency: parallel processes, one story ---------------------------------------------------------------
def _worker(db_url: str, n: int, barrier: object, use_locks: bool, out: object) -> None:
    from worker.pipeline_stories import assign_stories as assign
    from worker.store import stories as st

    if not use_locks:
        st.claim_keys = lambda conn, keys: []  # type: ignore[assignment]
    paras = list(CAIRO)
    desk = ["morning", "evening", "weekend", "foreign", "regional", "online", "night", "sports"][n]
    paras.append(f"This copy was edited by the {desk} desk.")  # distinct text: not an exact duplicate
    a = make_article(CAIRO_TITLE, "\n\n".join(paras), f"https://outlet{n}.example/cairo")
    with psycopg.connect(db_url) as conn:
        aid = insert(conn, a)
        barrier.wait()  # type: ignore[attr-defined]
        links = assign(conn, [(aid, a)])
        if use_locks:
            time.sleep(0.3)  # hold the transaction open: the others' claims must wait for this commit
        else:
            barrier.wait()  # type: ignore[attr-defined]  # every process has looked up before anyone commits
        conn.commit()
    out.put((aid, links[aid].story_id))  # type: ignore[attr-defined]


def _run_parallel(db_url: str, n: int, use_locks: bool) -> list[tuple[int, int]]:
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(db_url, i, barrier, use_locks, out)) for i in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return [out.get(timeout=5) for _ in range(n)]


@pytest.mark.slow
def test_parallel_copies_make_one_story(conn: psycopg.Connection, db_url: str) -> None:
    results = _run_parallel(db_url, 6, use_locks=True)
    stored = story_of(conn)
    assert len({stored[aid] for aid, _ in results}) == 1
    (sid,) = {sid for _, sid in results}
    assert sid in stored and stored[sid] == sid  # the story is the id of the copy that was assigned first
    methods = dict(conn.execute("SELECT article_id, method FROM article_links").fetchall())
    assert methods.pop(sid) == "new" and set(methods.values()) == {"near_duplicate"} and len(methods) == 5


@pytest.mark.slow
def test_without_locks_the_race_is_real(conn: psycopg.Connection, db_url: str) -> None:
    """The control: the same race with the key claims switched off splits the story, so the test above
    proves the claims, not luck."""
    results = _run_parallel(db_url, 6, use_locks=False)
    stored = story_of(conn)
    assert len({stored[aid] for aid, _ in results}) > 1


def test_members_listing(conn: psycopg.Connection) -> None:
    ids = ingest(conn, [(CAIRO_TITLE, "\n\n".join(CAIRO), "https://sis/1")])
    ingest(conn, [("Update: " + CAIRO_TITLE, "\n\n".join(REWRITE), "https://ahram/1")])
    members = story_store.story_members(conn, "https://ahram/1")
    assert [m.article_id for m in members] == [ids["https://sis/1"], ids["https://sis/1"] + 1]
    assert members[1].method == "near_duplicate" and members[1].linked_to == ids["https://sis/1"]
    assert story_store.story_members(conn, 999999) == []



def test_story_command(conn: psycopg.Connection, cli: object) -> None:  # conn: tables emptied first
    """``wirefeed story URL`` lists the cluster with outlets, methods, scores and reasons."""
    files = [str(FIXTURES / n) for n in ("sis-gov-eg.rss", "allafrica-egypt.rss", "ahram-online.atom")]
    assert cli("ingest", *files).returncode == 0  # type: ignore[operator]
    url = "https://english.ahram.org.eg/NewsContent/1/1234/552211/Egypt/Politics-/.aspx"
    out = cli("story", url, "--json")  # type: ignore[operator]
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    methods = [m["method"] for m in doc["members"]]
    assert methods == ["new", "near_duplicate"] and doc["members"][1]["linked_to"] == doc["story_id"]
    text = cli("story", str(doc["story_id"]))  # type: ignore[operator]
    assert text.returncode == 0 and "near_duplicate 0.7" in text.stdout and "State Information Service" in text.stdout
    missing = cli("story", "https://nowhere.example/x")  # type: ignore[operator]
    assert missing.returncode == 1 and "no article" in missing.stderr


def test_daily_prune_removes_the_index_rows_of_deleted_articles(conn: psycopg.Connection, settings: object) -> None:
    """article_bands has no foreign key (it would cost a lookup per key on every insert): the rows of a deleted
    article stay until the daily task removes them; the other articles' rows are kept."""
    from worker.tasks import prune_story_index

    ids = ingest(conn, [(CAIRO_TITLE, "\n\n".join(CAIRO), "https://sis/1"),
                        (SUDAN_TITLE, "\n\n".join(SUDAN), "https://sis/2")])
    gone, kept = ids["https://sis/2"], ids["https://sis/1"]
    bands = dict(conn.execute("SELECT article_id, count(*) FROM article_bands GROUP BY 1").fetchall())
    assert bands[gone] > 0 and bands[kept] > 0
    conn.execute("DELETE FROM articles WHERE id = %s", (gone,))  # cascades to fingerprints and links
    conn.commit()
    assert prune_story_index() == bands[gone]
    after = dict(conn.execute("SELECT article_id, count(*) FROM article_bands GROUP BY 1").fetchall())
    assert after == {kept: bands[kept]}
    assert prune_story_index() == 0


def test_reindex_command_rebuilds_old_and_missing_fingerprints(conn: psycopg.Connection, cli: object) -> None:
    """After a fingerprint change (SCHEME bumped) every stored article is re-indexed under its new keys and
    keeps its story; an article with no fingerprint gets a story decision; a second run has nothing to do."""
    ids = ingest(conn, [(CAIRO_TITLE, "\n\n".join(CAIRO), "https://sis/1"),
                        ("Update: " + CAIRO_TITLE, "\n\n".join(REWRITE), "https://ahram/1"),
                        (SUDAN_TITLE, "\n\n".join(SUDAN), "https://sis/2")])
    orig, rewrite, sudan = ids["https://sis/1"], ids["https://ahram/1"], ids["https://sis/2"]
    stories_before = story_of(conn)
    # an old scheme for two articles (their index rows replaced by junk keys), no fingerprint at all for one
    conn.execute("UPDATE article_fingerprints SET scheme = 0, keys = '{7,8}' WHERE article_id IN (%s, %s)",
                 (orig, rewrite))
    conn.execute("DELETE FROM article_bands WHERE article_id IN (%s, %s)", (orig, rewrite))
    conn.execute("INSERT INTO article_bands (band_key, article_id) VALUES (7, %s), (8, %s)", (orig, rewrite))
    conn.execute("DELETE FROM article_links WHERE article_id = %s", (sudan,))
    conn.execute("DELETE FROM article_bands WHERE article_id = %s", (sudan,))
    conn.execute("DELETE FROM article_fingerprints WHERE article_id = %s", (sudan,))
    conn.commit()

    r = cli("reindex-stories", "--json", "--batch", "2")  # type: ignore[operator]
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"reindexed": 2, "assigned": 1}
    for aid, (title, text) in ((orig, (CAIRO_TITLE, CAIRO)), (rewrite, ("Update: " + CAIRO_TITLE, REWRITE)),
                               (sudan, (SUDAN_TITLE, SUDAN))):
        keys = {k for (k,) in conn.execute("SELECT band_key FROM article_bands WHERE article_id = %s", (aid,))}
        assert keys == set(fingerprint(title, "\n\n".join(text)).keys)
    assert conn.execute("SELECT count(*) FROM article_fingerprints WHERE scheme = %s", (SCHEME,)).fetchone() \
        == (3,)
    assert story_of(conn) == stories_before  # stories are kept
    assert link(conn, sudan)["method"] == "new"
    again = cli("reindex-stories")  # type: ignore[operator]
    assert again.returncode == 0 and "nothing to re-index" in again.stdout
    forced = cli("reindex-stories", "--all", "--json")  # type: ignore[operator]
    assert json.loads(forced.stdout) == {"reindexed": 3, "assigned": 0} and story_of(conn) == stories_before
