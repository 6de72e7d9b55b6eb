"""`docker compose up` as a user runs it, proven end to end: the project's docker-compose.yml and Dockerfile,
with tests/compose/override.yml adding a feed server on the compose network (nothing is fetched from beyond it).

One stack serves the whole module (tests run in file order and share it). Generated feeds make every item a
distinct story, so "exactly once" is exact: one article and one sighting per item served, nothing else.
Select with ``-m compose``; skipped with one line on a machine without a Docker engine or compose CLI.
"""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from typing import Any

import psycopg
import pytest

from tests.compose import stack
from tests.compose.conftest import FEEDS, SERVICES_HEALTHY, Stack

pytestmark = [pytest.mark.compose, pytest.mark.slow, pytest.mark.timeout(900)]

NEW_PER_PHASE = 50  # items added to every feed before a kill: 1,000 more to land


# --- helpers ---------------------------------------------------------------------------------------------

def counts(conn: psycopg.Connection) -> tuple[int, int]:
    row = conn.execute("SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM article_sightings)").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def in_flight(conn: psycopg.Connection, task: str) -> int:
    """Feed tasks started and not yet finished (each task records its start before any work)."""
    row = conn.execute("SELECT count(*) FROM task_attempts WHERE task = %s", (task,)).fetchone()
    return int(row[0]) if row else 0


def assert_exactly_once(s: Stack) -> None:
    """Every item served is one article with one sighting in its feed; nothing else is stored."""
    with s.connect() as conn:
        rows = conn.execute(
            """SELECT f.url, sg.guid, a.url FROM article_sightings sg
               JOIN feeds f ON f.id = sg.feed_id JOIN articles a ON a.id = sg.article_id""").fetchall()
        n_articles, _ = counts(conn)
        linked = conn.execute("SELECT count(*) FROM articles WHERE story_id <> id").fetchone()
    seen = Counter((str(f), str(g), str(u)) for f, g, u in rows)
    expected = s.expected()
    doubled = {k: n for k, n in seen.items() if n > 1}
    assert not doubled, f"items stored more than once: {list(doubled.items())[:5]}"
    assert set(seen) == expected, (f"missing {len(expected - set(seen))} (e.g. {sorted(expected - set(seen))[:3]}), "
                                   f"unexpected {len(set(seen) - expected)}")
    assert n_articles == len(expected), f"{n_articles} articles for {len(expected)} distinct items"
    assert linked == (0,), "distinct generated stories were linked as one"


def wait_landed(s: Stack, timeout: float = 300) -> None:
    """Until every item served is stored (or more rows than items appear: then the check names them)."""
    target = FEEDS * s.items

    def probe() -> tuple[bool, Any]:
        try:
            with s.connect() as conn:
                a, sg = counts(conn)
        except psycopg.OperationalError as exc:
            return False, str(exc).strip().splitlines()[0]
        return (a >= target and sg >= target), {"articles": a, "sightings": sg, "target": target}

    stack.wait_until(f"{target} items to land", probe, timeout)
    assert_exactly_once(s)


def kill_mid_run(s: Stack, service: str, ready: Any, timeout: float = 180) -> int:
    """Poll until ``ready(conn, articles)`` says the run is under way, then SIGKILL ``service``'s container.
    Returns the article count at the kill (fails when the run ended before the kill came)."""
    target = FEEDS * s.items
    deadline = time.monotonic() + timeout
    with s.connect() as conn:
        while True:
            articles, _ = counts(conn)
            assert articles < target, f"the run ended before {service} could be killed: nothing was in flight"
            if ready(conn, articles):
                s.project.kill(service)
                break
            assert time.monotonic() < deadline, f"no run under way for {service} after {timeout:g} s"
            time.sleep(0.05)
        at_kill, _ = counts(conn)
    assert s.project.state(service).startswith("exited"), s.project.state(service)
    assert at_kill < target, "every item had landed by the time the kill came"
    return at_kill


SCHEDULER = "worker-fetch"  # the worker that runs beat's schedule tasks (and logs the give-back)
GIVEN_BACK = re.compile(r'\{[^{}]*"event": "dead_workers_claims_given_back"[^{}]*\}')


def assert_given_back(s: Stack, node: str) -> None:
    """Beat's tick forgot the killed worker (``node``: its Celery name's start) and gave back the claims it held:
    its feeds came back through its stopped heartbeats, not through the claim timeout (600 s, the default here).
    Waited for: the items may all have landed before the dead time (20 s) ran out, when the killed tasks were
    past their commit."""

    def given_back() -> tuple[bool, Any]:
        # the event found anywhere in a line: stdout and stderr interleave, so other text may share its line
        events = [json.loads(m.group(0)) for m in GIVEN_BACK.finditer(s.project.service_logs(SCHEDULER))]
        return any(w.startswith(node) for e in events for w in e["workers"]), events

    stack.wait_until(f"beat to give back the claims of {node}", given_back, 120, interval=2.0)


def http_get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if auth is not None:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# --- the tests, in the order a user would meet them -------------------------------------------------------

def test_migrate_completes_and_every_service_turns_healthy(compose_stack: Stack) -> None:
    states = compose_stack.wait_healthy()
    assert states == {"migrate": "exited 0", **{s: "healthy" for s in SERVICES_HEALTHY}}
    out = compose_stack.project.run("logs", "--no-color", "migrate").stdout
    assert "login ingest (in role wirefeed_ingest)" in out
    assert "login reader (in role wirefeed_reader)" in out
    assert f"imported {FEEDS} feeds" in out


def test_a_thousand_items_land_exactly_once(compose_stack: Stack) -> None:
    assert FEEDS * compose_stack.items >= 1000
    wait_landed(compose_stack)


def test_workers_and_beat_connect_as_the_ingest_login(compose_stack: Stack) -> None:
    with compose_stack.connect() as conn:
        users = {r[0] for r in conn.execute(
            """SELECT usename FROM pg_stat_activity
               WHERE datname = 'wirefeed' AND backend_type = 'client backend' AND pid <> pg_backend_pid()""")}
    assert users == {"ingest"}, users  # the workers' pools; the owner is migrate's alone
    with compose_stack.connect("ingest", "POSTGRES_INGEST_PASSWORD") as ingest:
        assert ingest.execute("SELECT count(*) FROM articles").fetchone()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ingest.execute("CREATE TABLE ingest_cannot_create (id int)")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ingest.execute("DROP TABLE articles")


def test_reader_login_can_select_and_cannot_write(compose_stack: Stack) -> None:
    with compose_stack.connect("reader", "POSTGRES_READER_PASSWORD") as reader:
        (n,) = reader.execute("SELECT count(*) FROM articles").fetchone() or (None,)
        assert n == FEEDS * compose_stack.items
        assert reader.execute("SELECT count(*) FROM stories").fetchone() == (n,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("INSERT INTO feeds (url) VALUES ('https://reader.example/feed')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("UPDATE articles SET title = 'changed'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.execute("SELECT count(*) FROM task_attempts")  # internal tables are not the reader's
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(compose_stack.url("reader", "REDIS_PASSWORD"), connect_timeout=10).close()


def test_prometheus_scrapes_both_workers(compose_stack: Stack) -> None:
    base = f"http://127.0.0.1:{compose_stack.project.host_port('prometheus', 9090)}/api/v1"

    def targets() -> tuple[bool, Any]:
        doc = json.loads(http_get(f"{base}/targets")[1])
        seen = {t["labels"].get("service"): t["health"] for t in doc["data"]["activeTargets"]
                if t["labels"].get("job") == "wirefeed-workers"}
        return seen == {"worker-fetch": "up", "worker-process": "up"}, seen

    stack.wait_until("Prometheus to scrape both workers", targets, 120, interval=2)

    def query(expr: str) -> dict[str, float]:
        doc = json.loads(http_get(f"{base}/query?" + urllib.parse.urlencode({"query": expr}))[1])
        return {r["metric"].get("service", ""): float(r["value"][1]) for r in doc["data"]["result"]}

    # every worker reaches PostgreSQL with its ingest login at scrape time
    up = stack.wait_until("wirefeed_dependency_up from both workers", lambda: (
        len(v := query('wirefeed_dependency_up{dependency="postgresql"}')) == 2, v), 60, interval=2)
    assert up == {"worker-fetch": 1.0, "worker-process": 1.0}
    # the process worker counted the entries it stored
    # (a scrape lags the workers by up to its interval: wait for the count, not for the first sample)
    entries = stack.wait_until("wirefeed_entries_total to count every stored item", lambda: (
        (v := query("sum by (service) (wirefeed_entries_total)")).get("worker-process", 0)
        >= FEEDS * compose_stack.items, v), 90, interval=2)
    assert entries.get("worker-process", 0) >= FEEDS * compose_stack.items


def test_flower_answers_with_its_credentials_only(compose_stack: Stack) -> None:
    url = f"http://127.0.0.1:{compose_stack.project.host_port('flower', 5555)}/"
    user, password = "operator", compose_stack.secrets["FLOWER_PASSWORD"]
    assert http_get(url)[0] == 401
    assert http_get(url, (user, "wrong-" + password))[0] == 401
    status, body = http_get(url, (user, password))
    assert status == 200 and b"Flower" in body


def test_sigkill_of_the_process_worker_mid_run_loses_and_doubles_nothing(compose_stack: Stack) -> None:
    s = compose_stack
    wait_landed(s)
    before = FEEDS * s.items
    s.serve(s.items + NEW_PER_PHASE)
    # under way: some of the new items stored, and a process task running on the worker right now
    at_kill = kill_mid_run(s, "worker-process", lambda conn, a: a > before and in_flight(conn, "process") > 0)
    assert at_kill > before
    s.up()
    wait_landed(s)
    assert_given_back(s, "process@")


def test_sigkill_of_the_fetch_worker_mid_run_loses_and_doubles_nothing(compose_stack: Stack) -> None:
    s = compose_stack
    wait_landed(s)
    delay = s.feeds_dir / "_delay"
    delay.write_text("4")  # every answer of the feed server waits 4 s: fetches stay in flight
    delay.chmod(0o644)
    try:
        s.serve(s.items + NEW_PER_PHASE)
        kill_mid_run(s, "worker-fetch", lambda conn, a: in_flight(conn, "fetch") >= 3)
    finally:
        delay.unlink()
    s.up()
    wait_landed(s)
    assert_given_back(s, "fetch@")


def test_down_then_up_keeps_every_row(compose_stack: Stack) -> None:
    s = compose_stack
    wait_landed(s)
    with s.connect() as conn:
        before = counts(conn)
    s.project.run("down", timeout=300)
    s.up()
    with s.connect() as conn:
        (restarted,) = conn.execute("SELECT now()").fetchone() or (None,)
        assert counts(conn) == before

    def all_polled_again() -> tuple[bool, Any]:
        with s.connect() as conn:
            row = conn.execute("SELECT count(*) FILTER (WHERE last_fetched_at > %s), count(*) FROM feeds",
                               (restarted,)).fetchone()
        return bool(row and row[0] == row[1] == FEEDS), row

    stack.wait_until("every feed to be fetched again after `up`", all_polled_again, 120)
    with s.connect() as conn:
        assert counts(conn) == before
    assert_exactly_once(s)


def test_no_secret_in_logs_health_output_commands_or_image(compose_stack: Stack) -> None:
    """Secrets live in the containers' environment only (where `docker inspect` shows them to whoever may run
    docker, that is root): not in any log, health check output, command line, process title or image."""
    s = compose_stack
    secrets = list(s.secrets.values())

    def leaked(text: str) -> list[str]:
        return [k for k, v in s.secrets.items() if v in text]

    logs = s.project.logs()
    assert "process@" in logs and "fetch@" in logs  # the workers' logs were read
    assert not leaked(logs), "printed in `compose logs`"
    for service, doc in s.project.inspect_all().items():
        outputs = "".join(h["Output"] for h in (doc["State"].get("Health") or {}).get("Log", []))
        assert not leaked(outputs), f"in {service}'s health check output"
        shown = json.dumps([{k: v for k, v in doc["Config"].items() if k != "Env"}, doc["Path"], doc["Args"]])
        assert not leaked(shown), f"in {service}'s command or configuration (`docker ps --no-trunc`)"
        if doc["State"]["Status"] == "running":
            top = stack._run(["docker", "top", doc["Id"], "-o", "pid,args"], check=True).stdout
            assert not leaked(top), f"in a process title of {service}"
    image = stack._run(["docker", "image", "inspect", s.image], check=True).stdout
    history = stack._run(["docker", "history", "--no-trunc", s.image], check=True).stdout
    assert not [v for v in secrets if v in image or v in history]
