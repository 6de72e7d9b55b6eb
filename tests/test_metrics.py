"""Metrics scraped from a real prefork worker after real fetches; logs checked in the same run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, _wait_worker_ready, free_port, stop_process, wait_for
from tests.session_guard import run_dir
from worker.ops import metrics

FEEDS = ("sis-gov-eg.rss", "allafrica-egypt.rss", "ahram-online.atom")


@pytest.fixture()
def metrics_worker(env: dict[str, str], tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real prefork worker (2 children) serving metrics on its own port; yields (port, log file)."""
    port = free_port()
    log_path = tmp_path / "worker.log"
    exe = Path(sys.executable).with_name("wirefeed")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "worker", "-Q", "fetch,process", "-c", "2", "--pool", "prefork",
             "-n", f"metrics-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip"],
            env={**env, "WIREFEED_METRICS_PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT, cwd=run_dir(),
        )
        try:
            _wait_worker_ready(env, proc, log_path)
            yield port, log_path
        finally:
            stop_process(proc)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the endpoint as {(name, sorted labels): value}."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    """The sample's value; a series the endpoint does not export fails the test (it never reads as 0)."""
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"{name}{labels} is not exported; exported: {sorted({k[0] for k in samples})}"
    return float(samples[key])


def absent(samples: dict, name: str, **labels: str) -> bool:
    """True when the series is not exported: a labelled counter nothing has counted yet."""
    return (name, tuple(sorted(labels.items()))) not in samples


def _settled(db_url: str, n: int) -> bool:
    with psycopg.connect(db_url) as c:
        row = c.execute("SELECT count(*) FILTER (WHERE claimed_until IS NULL AND last_fetched_at IS NOT NULL) "
                        "FROM feeds").fetchone()
        return row is not None and row[0] == n


def _scrape_with_database(port: int):
    s = scrape(port)
    return s if s.get(("wirefeed_dependency_up", (("dependency", "postgresql"),))) == 1 else None


def test_metrics_after_real_fetches(cli, conn, db_url, fixture_server, metrics_worker) -> None:
    port, log_path = metrics_worker
    for name in (*FEEDS, "missing.xml"):
        assert cli("feeds", "add", f"{fixture_server}/{name}").returncode == 0

    # before any work: the state gauges already answer, the counters are not exported yet. A scrape whose
    # PostgreSQL connection timed out (3 s, on a loaded machine) reports the dependency down: take the
    # first scrape where it answered.
    s = wait_for(lambda: _scrape_with_database(port), timeout=30)
    assert value(s, "wirefeed_feeds", state="healthy") == 4
    assert value(s, "wirefeed_dependency_up", dependency="postgresql") == 1
    assert value(s, "wirefeed_dependency_up", dependency="redis") == 1
    assert absent(s, "wirefeed_fetches_total", outcome="modified")

    assert "enqueued 4" in cli("fetch", "--all").stdout
    wait_for(lambda: _settled(db_url, 4), timeout=60)
    wait_for(lambda: value(scrape(port), "wirefeed_batches_total", outcome="stored") == 3, timeout=30)

    s = scrape(port)
    articles, near = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE story_id <> id) FROM articles").fetchone()
    sightings = conn.execute("SELECT count(*) FROM article_sightings").fetchone()[0]
    assert sightings == 4
    assert value(s, "wirefeed_fetches_total", outcome="modified") == 3
    assert value(s, "wirefeed_fetches_total", outcome="http_404") == 1
    assert value(s, "wirefeed_fetch_duration_seconds_count", result="modified") == 3
    assert value(s, "wirefeed_fetch_duration_seconds_count", result="error") == 1
    assert value(s, "wirefeed_fetch_duration_seconds_bucket", result="error", le="+Inf") == 1
    assert value(s, "wirefeed_batch_duration_seconds_count") == 3
    assert value(s, "wirefeed_parsed_bodies_total", parser="lxml") == 3  # the fixtures are well-formed
    assert absent(s, "wirefeed_parsed_bodies_total", parser="feedparser")
    # every entry has exactly one fate, and the fates agree with the rows stored
    fates = {f: value(s, "wirefeed_entries_total", fate=f) for f in ("new", "near_duplicate", "duplicate")}
    assert sum(fates.values()) == 4
    assert absent(s, "wirefeed_entries_total", fate="updated") and absent(s, "wirefeed_entries_total", fate="skipped")
    assert fates["new"] + fates["near_duplicate"] == articles
    assert fates["near_duplicate"] == near == 1  # the Ahram rewrite joins the Cairo story
    assert fates["duplicate"] == 4 - articles
    assert value(s, "wirefeed_feeds", state="healthy") == 3
    assert value(s, "wirefeed_feeds", state="backing_off") == 1
    assert value(s, "wirefeed_feeds", state="disabled") == 0
    assert value(s, "wirefeed_queue_depth", queue="fetch") == 0
    assert value(s, "wirefeed_queue_depth", queue="process") == 0
    newest = conn.execute("SELECT extract(epoch FROM max(first_seen_at)) FROM articles").fetchone()[0]
    assert value(s, "wirefeed_last_ingest_timestamp_seconds") == pytest.approx(float(newest), abs=1e-3)

    # scheduler lag and due count come from PostgreSQL at scrape time
    conn.execute("UPDATE feeds SET next_fetch_at = now() - interval '1 hour' WHERE url LIKE '%%sis-gov-eg.rss'")
    conn.commit()
    s = scrape(port)
    assert 3600 <= value(s, "wirefeed_scheduler_lag_seconds") < 3700
    assert value(s, "wirefeed_feeds_due") == 1

    # the same feeds again: nothing changed upstream, counters move by exactly that
    assert "enqueued 4" in cli("fetch", "--all").stdout
    wait_for(lambda: value(scrape(port), "wirefeed_fetches_total", outcome="http_404") == 2, timeout=60)
    wait_for(lambda: _settled(db_url, 4), timeout=60)
    s = scrape(port)
    assert value(s, "wirefeed_fetches_total", outcome="not_modified") == 3
    assert value(s, "wirefeed_fetches_total", outcome="modified") == 3
    assert {f: value(s, "wirefeed_entries_total", fate=f) for f in ("new", "near_duplicate", "duplicate")} == fates
    assert conn.execute("SELECT count(*) FROM articles").fetchone()[0] == articles

    # one structured event per fetch and per batch, with the task's id bound
    events = [json.loads(line) for line in log_path.read_text(errors="replace").splitlines()
              if line.startswith("{")]
    fetches = [e for e in events if e.get("event") == "fetch"]
    batches = [e for e in events if e.get("event") == "batch"]
    assert len(fetches) == 8 and len(batches) == 3
    assert all(e["task_id"] and e["feed_id"] and "duration_s" in e for e in fetches + batches)
    assert {e["outcome"] for e in fetches} == {"modified", "not_modified", "http_404"}
    assert sum(e["entries"] for e in batches) == 4
    assert len({e["task_id"] for e in fetches}) == 8


def test_skip_labels_are_bounded() -> None:
    metrics._skip_labels.clear()
    for i in range(100):
        metrics.skip_label(f"reason number {'x' * (i % 50)}{i}: detail")
    labels = {metrics.skip_label(f"fresh {i}: x") for i in range(5)}
    assert labels == {"other"}  # past the cap every new reason is counted as "other"
    metrics._skip_labels.clear()


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("item has no title, no usable link and no text", "item_has_no_title_no_usable_link_and_no_text"),  # plain
        ("unexpected ValueError: year 0 is out of range", "unexpected_valueerror"),  # detail after the colon dropped
        ("", "unknown"),  # nothing to go by
    ],
)
def test_skip_label(reason: str, label: str) -> None:
    metrics._skip_labels.clear()
    assert metrics.skip_label(reason) == label


def test_compose_prometheus_scrapes_every_worker_on_its_metrics_port() -> None:
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    prom = yaml.safe_load((ROOT / "config" / "prometheus.yml").read_text())
    services = compose["services"]
    assert "prometheus" in services and "flower" in services  # Flower stays for task inspection
    (job,) = [j for j in prom["scrape_configs"] if j["job_name"] == "wirefeed-workers"]
    (sd,) = job["dns_sd_configs"]
    workers = [n for n, svc in services.items() if (svc.get("command") or [""])[0] == "worker"]
    assert sorted(sd["names"]) == sorted(workers)
    for name in workers:
        env = services[name]["environment"]
        assert int(env["WIREFEED_METRICS_PORT"]) == sd["port"], name
        assert str(sd["port"]) in services[name]["expose"], name


def _fresh_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **env}, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


def test_worker_start_up_does_not_import_prometheus_client_before_the_metrics_directory() -> None:
    """prometheus_client picks in-memory or shared-file values when it is first imported: nothing a worker
    imports before ``worker_init`` (the app, its tasks and signal handlers, Celery's worker) may import it."""
    done = _fresh_python(
        "import sys, worker.app, worker.tasks, worker.ops.signals, worker.cli.main, celery.apps.worker; "
        "print('prometheus_client' in sys.modules)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_worker_serves_metrics_with_flowers_celery_plugin_installed(env: dict[str, str], tmp_path: Path) -> None:
    """Celery's command line loads installed plugins before ``worker_init``, and Flower's imports
    prometheus_client, which reads its multiprocess directory once, on that first import. ``wirefeed worker``
    sets the directory before Celery starts, so the endpoint serves shared values all the same (the Docker
    image installs Flower; so do the dev extras, so this runs against the real plugin)."""
    from importlib.metadata import entry_points

    assert any(e.value.startswith("flower") for e in entry_points(group="celery.commands")), \
        "Flower's Celery plugin is not installed (pip install -e '.[dev]')"
    port = free_port()
    log_path = tmp_path / "worker.log"
    exe = Path(sys.executable).with_name("wirefeed")
    clean = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(exe), "worker", "-Q", "process", "-c", "1", "--pool", "prefork",
             "-n", f"plugin-{uuid.uuid4().hex[:6]}@%h", "--without-mingle", "--without-gossip"],
            env={**clean, "WIREFEED_METRICS_PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        try:
            _wait_worker_ready(env, proc, log_path)
            text = log_path.read_text(errors="replace")
            assert "metrics_unavailable" not in text, text[-2000:]
            assert ("wirefeed_queue_depth", (("queue", "process"),)) in scrape(port)
        finally:
            stop_process(proc)


def test_metrics_refuse_a_prometheus_client_imported_too_early(tmp_path: Path) -> None:
    done = _fresh_python(
        "import prometheus_client\n"
        "from worker.ops import metrics\n"
        "try:\n    metrics.prepare_multiproc_dir()\nexcept metrics.MetricsTooLate:\n    print('refused')\n"
    )
    assert done.stdout.strip() == "refused", done.stderr
    # set before the import (the documented way), the directory is used
    done = _fresh_python(
        "import prometheus_client\nfrom worker.ops import metrics\nprint(metrics.prepare_multiproc_dir())\n",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
    )
    assert done.stdout.strip() == str(tmp_path), done.stderr
