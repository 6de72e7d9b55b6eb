"""The ``stack`` fixture: the project's docker-compose.yml (plus tests/compose/override.yml) up for one module.

It builds the image from this checkout under a tag of its own, starts the project under its own name with
fresh random secrets and random host ports, and takes everything down with its volumes afterwards (and the
Docker engine too, when this test started it). A machine without what it needs skips with one line.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.compose import feeds, stack

FEEDS = 20
FIRST_ITEMS = 50  # per feed: 1,000 items in all
SERVICES_HEALTHY = ("postgres", "redis", "worker-fetch", "worker-process", "beat", "flower", "prometheus")


@dataclass
class Stack:
    project: stack.Project
    feeds_dir: Path
    secrets: dict[str, str]
    image: str
    items: int = FIRST_ITEMS  # items per feed the feed server serves now
    _pg_port: int = field(default=0, repr=False)

    def serve(self, items: int) -> None:
        """Serve ``items`` items in every feed (the first ``self.items`` are the ones already served)."""
        feeds.write_feeds(self.feeds_dir, FEEDS, items)
        self.items = items

    def expected(self) -> set[tuple[str, str, str]]:
        return feeds.expected(FEEDS, self.items)

    def refresh_ports(self) -> None:
        self._pg_port = self.project.host_port("postgres", 5432)

    def url(self, user: str, password_var: str) -> str:
        if not self._pg_port:
            self.refresh_ports()
        return f"postgresql://{user}:{self.secrets[password_var]}@127.0.0.1:{self._pg_port}/wirefeed"

    def connect(self, user: str = "wirefeed", password_var: str = "POSTGRES_PASSWORD") -> psycopg.Connection:
        return psycopg.connect(self.url(user, password_var), autocommit=True, connect_timeout=10)

    def up(self) -> None:
        """``up -d`` as a user runs it; returns once every long-running service is healthy."""
        self.project.run("up", "-d", timeout=600)
        self.wait_healthy()
        self.refresh_ports()

    def wait_healthy(self, timeout: float = 300) -> dict[str, str]:
        def probe() -> tuple[bool, dict[str, str]]:
            all_states = self.project.states()
            states = {s: all_states.get(s, "absent") for s in ("migrate", *SERVICES_HEALTHY)}
            if states["migrate"].startswith("exited") and states["migrate"] != "exited 0":
                logs = self.project.run("logs", "--no-color", "migrate").stdout
                raise AssertionError(f"migrate failed ({states['migrate']}):\n{logs}")
            return (states["migrate"] == "exited 0" and all(states[s] == "healthy" for s in SERVICES_HEALTHY),
                    states)

        return stack.wait_until("migrate to exit 0 and every service to be healthy", probe, timeout, interval=2)


def _image_id(tag: str) -> str | None:
    r = stack._run(["docker", "image", "inspect", "-f", "{{.Id}}", tag], timeout=30)
    return r.stdout.strip() if r.returncode == 0 else None


@pytest.fixture(scope="module")
def compose_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    try:
        machine = stack.prepare()
    except stack.Missing as missing:
        pytest.skip(f"compose test: {missing}")
    feeds_dir = Path(tempfile.mkdtemp(prefix="wirefeed-compose-feeds."))
    feeds_dir.chmod(0o755)  # read by the feed server's unprivileged user
    # One image tag per checkout: a concurrent run from another checkout never uses this one's image.
    image = "wirefeed-compose-test:" + hashlib.sha1(str(stack.ROOT).encode()).hexdigest()[:12]
    keys = ("POSTGRES_PASSWORD", "POSTGRES_INGEST_PASSWORD", "POSTGRES_READER_PASSWORD", "REDIS_PASSWORD",
            "FLOWER_PASSWORD")
    secret = {k: secrets.token_hex(12) for k in keys}
    env = {**os.environ, **secret, "FLOWER_USER": "operator", "WIREFEED_IMAGE": image,
           "WIREFEED_TEST_FEEDS": str(feeds_dir),
           "POSTGRES_PORT": "0", "REDIS_PORT": "0", "FLOWER_PORT": "0", "PROMETHEUS_PORT": "0"}
    project = stack.Project(machine, f"wirefeedtest{os.getpid()}", env)
    s = Stack(project, feeds_dir, secret, image)
    s.serve(FIRST_ITEMS)
    failed_before = request.session.testsfailed
    try:
        previous = _image_id(image)
        project.run("build", "migrate", timeout=600)
        if previous and previous != _image_id(image):
            stack._run(["docker", "rmi", previous], timeout=60)  # this checkout's last image; fails if in use
        s.up()
        yield s
    finally:
        try:
            keep = os.environ.get("WIREFEED_TEST_COMPOSE_LOG")  # the whole stack's log, kept for a post-mortem
            if keep:
                Path(keep).write_text(project.run("logs", "--no-color", "-t", check=False, timeout=120).stdout)
            if request.session.testsfailed > failed_before:
                print(project.run("ps", check=False).stdout)
                print("\n".join(project.run("logs", "--no-color", "--tail", "40", check=False,
                                            timeout=120).stdout.splitlines()[-400:]))
        finally:
            project.run("down", "-v", "--remove-orphans", "-t", "10", timeout=300, check=False)
            shutil.rmtree(feeds_dir, ignore_errors=True)
            with contextlib.suppress(Exception):
                machine.close()
