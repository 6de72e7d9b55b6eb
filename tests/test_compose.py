"""docker-compose.yml proven without a Docker engine: validated, and each service's command run locally."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import yaml

from worker.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
APP_SERVICES = ["migrate", "worker-fetch", "worker-process", "beat"]


def test_compose_has_the_whole_system() -> None:
    assert {"postgres", "redis", "migrate", "worker-fetch", "worker-process", "beat", "flower"} <= set(SERVICES)
    for infra in ("postgres", "redis"):
        assert SERVICES[infra]["healthcheck"]["test"], f"{infra} needs a health check"
    # PostgreSQL keeps its data in a named volume
    volume = SERVICES["postgres"]["volumes"][0].split(":")[0]
    assert volume in COMPOSE["volumes"]


def test_app_services_wait_for_healthy_dependencies_and_the_migration() -> None:
    for name in APP_SERVICES:
        deps = SERVICES[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        if name != "migrate":
            assert deps["redis"]["condition"] == "service_healthy", name
            assert deps["migrate"]["condition"] == "service_completed_successfully", name
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("worker-fetch", "worker-process"):
        assert "healthcheck" in SERVICES[name], name


def test_one_image_for_all_python_services() -> None:
    images = {SERVICES[n]["image"] for n in [*APP_SERVICES, "flower"]}
    assert images == {"${WIREFEED_IMAGE:-wirefeed:latest}"}
    assert all(SERVICES[n]["build"] == "." for n in APP_SERVICES)


def test_every_app_command_is_a_real_wirefeed_command() -> None:
    parser = build_parser()
    for name in ("worker-fetch", "worker-process", "beat"):
        cmd = SERVICES[name]["command"]
        assert cmd[0] in ("worker", "beat"), name
    migrate_cmd = SERVICES["migrate"]["command"][0]
    for part in migrate_cmd.split("&&"):
        argv = shlex.split(part)
        if argv[0] == "python":  # a script of the image's config/ folder (the database logins)
            assert (ROOT / argv[1]).is_file(), argv
            continue
        assert argv[0] == "wirefeed"
        parser.parse_args(argv[1:])  # raises SystemExit if the command does not exist
    assert (ROOT / "config" / "feeds.opml").is_file()


def _env(service: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in SERVICES[service]["environment"].items()}


def test_only_migrate_connects_as_the_owner() -> None:
    for name in ("worker-fetch", "worker-process", "beat"):
        env = _env(name)
        assert env["DATABASE_URL"] == "postgresql://ingest@postgres:5432/wirefeed", name
        assert env["PGPASSWORD"] == "${POSTGRES_INGEST_PASSWORD:-change-me-ingest}", name
    migrate = _env("migrate")
    assert migrate["DATABASE_URL"] == "postgresql://wirefeed@postgres:5432/wirefeed"
    assert "POSTGRES_PASSWORD" in migrate["PGPASSWORD"]
    assert "DATABASE_URL" not in _env("flower") and "PGPASSWORD" not in _env("flower")
    users = [s for s, svc in SERVICES.items() if "POSTGRES_PASSWORD:" in str(svc.get("environment", {}))]
    assert sorted(users) == ["migrate", "postgres"]


def test_redis_and_flower_need_their_passwords() -> None:
    for name in ("worker-fetch", "worker-process", "beat", "flower"):
        # a user name before the password (worker.redaction.redact masks user:password@ and :password@ alike)
        assert _env(name)["REDIS_URL"] == "redis://default:${REDIS_PASSWORD:-change-me-redis}@redis:6379/0", name
    assert '--requirepass "$$REDIS_PASSWORD"' in " ".join(SERVICES["redis"]["entrypoint"])
    assert _env("flower")["FLOWER_BASIC_AUTH"] == "${FLOWER_USER:-admin}:${FLOWER_PASSWORD:-change-me-flower}"


def test_every_secret_compose_reads_is_in_the_env_example() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)(?::-[^}]*)?\}", text))
    example = {line.lstrip("# ").split("=", 1)[0]
               for line in (ROOT / "config" / ".env.example").read_text().splitlines() if "=" in line}
    assert used <= example, used - example
    # a secret's compose default is the example's value: `docker compose up` without a .env is that file
    for name, default in re.findall(r"\$\{([A-Z_]*PASSWORD)(?::-([^}]*))?\}", text):
        assert f"{name}={default}" in (ROOT / "config" / ".env.example").read_text(), name


def test_constraints_pin_every_declared_dependency() -> None:
    """constraints.txt (used by the Dockerfile and .ci/run) pins each dependency pyproject.toml names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(d for deps in project["optional-dependencies"].values() for d in deps)]

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    pinned = {norm(line.split("==")[0]) for line in (ROOT / "constraints.txt").read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    names = {norm(re.split(r"[\[<>=!~ ;]", d, maxsplit=1)[0]) for d in declared}
    assert names <= pinned, f"not in constraints.txt (regenerate it, see its header): {sorted(names - pinned)}"
    assert "wirefeed" not in pinned


def test_docker_compose_validates_the_file_when_the_tool_is_installed() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        # The structural tests above always run; this one adds the reference validator where it exists.
        import pytest

        pytest.skip("docker-compose (Debian package) not installed: reference validation not available")
    r = subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr


def test_migrate_service_command_runs_locally(cli, conn) -> None:
    """The migrate service's command, run here against the test database: schema current, feeds imported."""
    r = cli("migrate")
    assert r.returncode == 0, r.stderr
    r = cli("feeds", "import", str(ROOT / "config" / "feeds.opml"))
    assert r.returncode == 0, r.stderr
    count = conn.execute("SELECT count(*) FROM feeds").fetchone()[0]
    assert count >= 10
    urls = {u for (u,) in conn.execute("SELECT url FROM feeds")}
    assert "https://allafrica.com/tools/headlines/rdf/egypt/headlines.rdf" in urls
    # importing again subscribes nothing new
    again = cli("feeds", "import", str(ROOT / "config" / "feeds.opml"))
    assert "0 new" in again.stdout
    assert conn.execute("SELECT count(*) FROM feeds").fetchone()[0] == count
