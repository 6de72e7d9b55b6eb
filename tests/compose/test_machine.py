"""How the compose test finds (or makes) what it needs, run against stand-in `docker`, `dockerd` and stand-in
image script executables on PATH: the real ones would change this machine's engine and images.

The fake ``docker`` keeps its state in files: the engine answers while ``engine`` exists (the fake
``dockerd`` creates it and removes it on SIGTERM), an image exists while ``images/<name>`` does, a pull
always fails (no registry), and ``docker compose version`` answers only when ``plugin`` exists.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose import stack

FAKE_DOCKER = r"""#!/bin/bash
S="$FAKE_DOCKER_STATE"
case "$1" in
  info) [ -e "$S/engine" ];;
  compose) [ -e "$S/plugin" ];;
  image) [ -e "$S/engine" ] && [ -e "$S/images/${3//\//_}" ];;
  pull) exit 1;;
  *) exit 2;;
esac
"""
FAKE_DOCKERD = r"""#!/bin/bash
trap 'rm -f "$FAKE_DOCKER_STATE/engine"; exit 0' TERM
touch "$FAKE_DOCKER_STATE/engine"
while true; do sleep 0.1; done
"""
FAKE_STANDIN = r"""#!/bin/bash
for i in IMAGES; do
  touch "$FAKE_DOCKER_STATE/images/${i//\//_}"
done
echo called >> "$FAKE_DOCKER_STATE/standin-calls"
"""


def _exe(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)


@pytest.fixture()
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A PATH holding only the fakes (plus what bash needs); yields the state directory."""
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    (state / "images").mkdir(parents=True)
    for tool in ("bash", "sleep", "touch", "rm"):
        (bin_dir / tool).symlink_to(subprocess.run(["bash", "-c", f"command -v {tool}"], capture_output=True,
                                                   text=True, check=True).stdout.strip())
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("FAKE_DOCKER_STATE", str(state))
    monkeypatch.setenv("WIREFEED_STANDIN_IMAGES", str(tmp_path / "standin-images"))
    yield state


def _install(fake: Path, *tools: str) -> None:
    bin_dir = fake.parent / "bin"
    texts = {"docker": FAKE_DOCKER, "dockerd": FAKE_DOCKERD, "docker-compose": "#!/bin/bash\nexit 0\n"}
    for tool in tools:
        if tool == "standin-images":  # makes every base image the compose file and Dockerfile name
            _exe(fake.parent / "standin-images", FAKE_STANDIN.replace("IMAGES", " ".join(stack.base_images())))
        else:
            _exe(bin_dir / tool, texts[tool])


@pytest.mark.parametrize(("tools", "missing"), [
    # nothing at all: the first thing named is the docker CLI
    ((), "no docker CLI"),
    # the CLI but neither compose plugin nor docker-compose
    (("docker",), "no compose CLI"),
    # a compose CLI, no engine, no dockerd to start
    (("docker", "docker-compose"), "no Docker engine answers, and dockerd cannot be started here"),
    # an engine that can be started, but the images neither pull nor have a stand-in script
    (("docker", "docker-compose", "dockerd"), "cannot be pulled, and no stand-in image script"),
])
def test_what_is_missing_is_named_in_one_line(fake: Path, tools: tuple[str, ...], missing: str) -> None:
    if os.geteuid() != 0 and "dockerd" in tools:
        pytest.skip("starting dockerd is only tried as root")
    _install(fake, *tools)
    with pytest.raises(stack.Missing) as err:
        stack.prepare()
    assert missing in str(err.value)
    assert "\n" not in str(err.value)
    assert not (fake / "engine").exists(), "a dockerd the test started must be stopped again"


@pytest.mark.skipif(os.geteuid() != 0, reason="starting dockerd is only tried as root")
def test_starts_dockerd_makes_stand_in_images_and_stops_what_it_started(fake: Path) -> None:
    _install(fake, "docker", "docker-compose", "dockerd", "standin-images")
    machine = stack.prepare()
    try:
        assert machine.compose == ["docker-compose"]
        assert machine.dockerd is not None and (fake / "engine").exists()
        assert (fake / "standin-calls").read_text() == "called\n"
    finally:
        machine.close()
    assert not (fake / "engine").exists() and machine.dockerd is None


def test_uses_a_running_engine_and_present_images_as_they_are(fake: Path) -> None:
    _install(fake, "docker", "dockerd", "standin-images")
    (fake / "plugin").touch()
    (fake / "engine").touch()
    for image in stack.base_images():
        (fake / "images" / image.replace("/", "_")).touch()
    machine = stack.prepare()
    machine.close()
    assert machine.compose == ["docker", "compose"]  # the v2 plugin when both exist
    assert machine.dockerd is None and (fake / "engine").exists()  # not ours: left running
    assert not (fake / "standin-calls").exists()
