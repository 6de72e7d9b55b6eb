"""What the compose test needs from the machine, and a thin handle on one compose project.

``prepare()`` finds, in order: the docker CLI; a compose CLI (the ``docker compose`` v2 plugin, else Debian's
``docker-compose`` v1, whose features are all the test uses); a Docker engine (when none answers and we are
root with ``dockerd`` installed, it starts one, and ``Machine.close`` stops it again); the base images the
compose file and the Dockerfile name (pulled, else made by the stand-in image script for machines without a
registry: ``$WIREFEED_STANDIN_IMAGES``, which ``scripts/test`` sets where the machine has one).
Whatever is missing raises ``Missing`` with one line naming it; the test skips with that line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger("compose-test")
ROOT = Path(__file__).resolve().parents[2]
OVERRIDE = Path(__file__).with_name("override.yml")


class Missing(Exception):
    """Something the compose test needs is not on this machine (the message names it, in one line)."""


def _run(argv: list[str], *, timeout: float = 60, env: dict[str, str] | None = None,
         check: bool = False) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def _engine_answers() -> bool:
    try:
        return _run(["docker", "info"], timeout=20).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _compose_cli() -> list[str]:
    try:
        if _run(["docker", "compose", "version"], timeout=20).returncode == 0:
            return ["docker", "compose"]
    except subprocess.TimeoutExpired:
        pass
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise Missing("no compose CLI: neither the `docker compose` plugin nor `docker-compose` "
                  "(Debian: apt-get install docker-compose)")


def base_images() -> list[str]:
    """The images the stack is built from: the Dockerfile's FROM and every service without a build."""
    images = re.findall(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), flags=re.M)
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    images += [s["image"] for s in services.values() if "build" not in s and "image" in s]
    return sorted(set(images))


def _image_exists(name: str) -> bool:
    return _run(["docker", "image", "inspect", name], timeout=30).returncode == 0


def standin_script() -> Path | None:
    env = os.environ.get("WIREFEED_STANDIN_IMAGES")
    return Path(env) if env and Path(env).is_file() else None


@dataclass
class Machine:
    """The docker tools found, and the engine this test started (if it did)."""

    compose: list[str]
    dockerd: subprocess.Popen[bytes] | None = None
    dockerd_log: Path | None = None

    def close(self) -> None:
        if self.dockerd is None:
            return
        self.dockerd.send_signal(signal.SIGTERM)
        try:
            self.dockerd.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.dockerd.kill()
            self.dockerd.wait(timeout=30)
        self.dockerd = None
        if self.dockerd_log is not None:
            self.dockerd_log.unlink(missing_ok=True)
            self.dockerd_log = None


def _start_dockerd() -> tuple[subprocess.Popen[bytes], Path]:
    log = Path(tempfile.mkstemp(prefix="wirefeed-dockerd.", suffix=".log")[1])
    with log.open("wb") as out:
        proc = subprocess.Popen(["dockerd"], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _engine_answers():
            return proc, log
        time.sleep(0.5)
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=30)
    raise Missing(f"dockerd did not start (see {log})")


def _ensure_images() -> None:
    missing = [i for i in base_images() if not _image_exists(i)]
    for image in list(missing):
        try:
            if _run(["docker", "pull", "-q", image], timeout=300).returncode == 0:
                missing.remove(image)
        except subprocess.TimeoutExpired:
            pass
    if not missing:
        return
    script = standin_script()
    if script is None:
        raise Missing(f"images {', '.join(missing)} cannot be pulled, and no stand-in image script "
                      "(set WIREFEED_STANDIN_IMAGES)")
    if os.geteuid() != 0:
        raise Missing(f"images {', '.join(missing)} cannot be pulled, and the stand-in image script needs root")
    r = _run(["bash", str(script)], timeout=600)
    still = [i for i in missing if not _image_exists(i)]
    if r.returncode != 0 or still:
        raise Missing(f"stand-in images failed ({script}): {(r.stderr or r.stdout).strip().splitlines()[-1:]}")


def prepare() -> Machine:
    if shutil.which("docker") is None:
        raise Missing("no docker CLI (Debian: apt-get install docker.io docker-compose)")
    compose = _compose_cli()
    machine = Machine(compose)
    if not _engine_answers():
        if os.geteuid() != 0 or shutil.which("dockerd") is None:
            raise Missing("no Docker engine answers, and dockerd cannot be started here (needs root and docker.io)")
        machine.dockerd, machine.dockerd_log = _start_dockerd()
    try:
        _ensure_images()
    except BaseException:
        machine.close()
        raise
    return machine


@dataclass
class Project:
    """One compose project: the repository's docker-compose.yml plus the test override, under its own name."""

    machine: Machine
    name: str
    env: dict[str, str]
    files: tuple[Path, ...] = (ROOT / "docker-compose.yml", OVERRIDE)
    _ids: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [*self.machine.compose, "-p", self.name]
        for f in self.files:
            argv += ["-f", str(f)]
        started = time.monotonic()
        try:
            return _run([*argv, *args], timeout=timeout, env=self.env, check=check)
        finally:
            logger.info("compose %s: %.1f s", " ".join(args), time.monotonic() - started)

    def containers(self) -> dict[str, str]:
        """Container id of each service, running or not, from the labels both compose CLIs set (one quick
        docker call: a compose CLI call costs a Python start-up, seconds of CPU on a busy machine)."""
        r = _run(["docker", "ps", "-a", "--filter", f"label=com.docker.compose.project={self.name}",
                  "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}'], check=True)
        found: dict[str, str] = {}
        for line in r.stdout.splitlines():
            cid, service = line.split(" ", 1)
            if service in found:
                raise RuntimeError(f"{service}: more than one container ({found[service]}, {cid})")
            found[service] = cid
        return found

    def container(self, service: str) -> str:
        return self.containers()[service]

    def inspect_all(self) -> dict[str, dict[str, Any]]:
        ids = self.containers()
        docs = json.loads(_run(["docker", "inspect", *ids.values()], check=True).stdout) if ids else []
        by_id = {d["Id"]: d for d in docs}
        return {svc: next(d for i, d in by_id.items() if i.startswith(cid)) for svc, cid in ids.items()}

    def inspect(self, service: str) -> dict[str, Any]:
        return self.inspect_all()[service]

    @staticmethod
    def _state(doc: dict[str, Any]) -> str:
        st = doc["State"]
        if st["Status"] != "running":
            return f"exited {st['ExitCode']}" if st["Status"] == "exited" else str(st["Status"])
        return str(st["Health"]["Status"]) if st.get("Health") else "running"

    def states(self) -> dict[str, str]:
        """Per service: ``exited N`` (or another status) when not running; else ``healthy`` / ``unhealthy``
        / ``starting`` for a service with a health check, ``running`` for one without."""
        return {svc: self._state(doc) for svc, doc in self.inspect_all().items()}

    def state(self, service: str) -> str:
        return self._state(self.inspect(service))

    def host_port(self, service: str, port: int) -> int:
        """The host port published for ``port`` (the test publishes on random ones)."""
        bindings = self.inspect(service)["NetworkSettings"]["Ports"][f"{port}/tcp"]
        return int(bindings[0]["HostPort"])

    def kill(self, service: str) -> None:
        """SIGKILL every process of the service's container at once (a lost host, the OOM killer)."""
        _run(["docker", "kill", "-s", "KILL", self.container(service)], check=True)

    def logs(self) -> str:
        return self.run("logs", "--no-color", timeout=120).stdout

    def service_logs(self, service: str) -> str:
        """One service's whole log (stdout and stderr), through the engine: quick, where a compose CLI call
        costs a Python start-up and grows with every service's log."""
        r = _run(["docker", "logs", self.container(service)], check=True, timeout=60)
        return r.stdout + r.stderr


def wait_until(what: str, probe: Callable[[], tuple[bool, Any]], timeout: float, interval: float = 1.0) -> Any:
    """Poll ``probe()`` (``(done, detail)``) until done; fail naming ``what`` and the last detail seen."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        done, detail = probe()
        if done:
            logger.info("%s: %.1f s", what, time.monotonic() - started)
            return detail
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}; last seen: {detail!r}")
        time.sleep(interval)
