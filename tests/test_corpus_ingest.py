"""The whole shared corpus through the real `wirefeed ingest` into PostgreSQL."""

from __future__ import annotations

import json

from tests.test_corpus import corpus_inputs, feedparser_keyed_entries


def test_every_corpus_input_gets_an_outcome_and_entries_are_stored(cli, conn) -> None:
    inputs = corpus_inputs()
    assert len(inputs) > 1200
    r = cli("ingest", "--json", *map(str, inputs), timeout=600)
    assert r.returncode in (0, 1)
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    outcomes = {i["input"]: i for i in doc["inputs"]}
    assert set(outcomes) == {str(p) for p in inputs}  # every input gets an outcome
    for o in outcomes.values():
        assert o["status"] in ("ok", "error")
        if o["status"] == "error":
            assert o["error"] and "\n" not in o["error"]
            assert f"{o['input']}: " in r.stderr
    errors = [o for o in outcomes.values() if o["status"] == "error"]
    assert len(errors) < 0.05 * len(inputs)

    stored = dict(conn.execute(
        "SELECT f.url, count(s.guid) FROM feeds f LEFT JOIN article_sightings s ON s.feed_id = f.id GROUP BY f.url"))
    seen = kept = 0
    json_items = 0
    for path in inputs:
        n_stored = stored.get("file://" + str(path.resolve()), 0)
        if path.suffix == ".json":
            json_items += n_stored
            continue
        keyed = feedparser_keyed_entries(path.read_bytes())
        seen += keyed
        kept += min(n_stored, keyed)
    assert seen > 1500
    assert kept / seen >= 0.95, f"only {kept} of {seen} keyed entries stored"
    assert json_items >= 20  # JSON Feed items are stored too
