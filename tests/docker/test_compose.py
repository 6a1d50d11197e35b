"""The Docker Compose stack, checked without a Docker engine.

``docker-compose config`` (Debian package ``docker-compose``) validates and resolves the file; the
tests then read the resolved services and compare the environment of the app services with the
fields of :class:`mlbedge.settings.Settings`. The tool is required: without it these tests fail
(install it with ``apt-get install -y docker-compose``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from typer.main import get_command

from mlbedge.cli.main import app
from mlbedge.settings import Settings, get_settings
from tests.conftest import REPO

DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
SERVICES = {"postgres", "redis", "mlflow", "api", "worker"}
# The settings each app service cannot run without. Unset URLs would quietly start embedded
# servers inside the container; home and data must sit on volumes; the API guards its admin routes.
NEEDS: dict[str, set[str]] = {
    "api": {
        "database_url",
        "redis_url",
        "mlflow_tracking_uri",
        "store_backend",
        "home",
        "data_dir",
        "admin_token",
    },
    "worker": {"database_url", "redis_url", "mlflow_tracking_uri", "store_backend", "home", "data_dir"},
}


def _clean_env() -> dict[str, str]:
    """This process's environment without anything the compose file interpolates."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLBEDGE_", "POSTGRES_", "MLFLOW_", "COMPOSE_", "DOCKER_"))
    }


def run_compose(*args: str) -> subprocess.CompletedProcess[str]:
    """``docker-compose -f docker/compose.yaml <args>``; fails the test when the tool is missing."""
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail(
            "docker-compose is not installed: `apt-get install -y docker-compose` (Debian package); "
            "CI must install it before the tests"
        )
    return subprocess.run(
        [tool, "-f", str(COMPOSE), *args],
        capture_output=True,
        text=True,
        env=_clean_env(),
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    """The compose file resolved with the example environment."""
    done = run_compose("--env-file", str(ENV_EXAMPLE), "config")
    assert done.returncode == 0, f"docker-compose config failed:\n{done.stderr}"
    return yaml.safe_load(done.stdout)


def _env_file() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    return {k.strip(): v.strip() for k, v in pairs}


def test_compose_file_is_valid(config: dict[str, Any]) -> None:
    """Five services, each with a health check; the apps wait for healthy servers; volumes declared."""
    services = config["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no health check"
    for name in ("api", "worker", "mlflow"):
        depends = services[name]["depends_on"]
        assert all(d["condition"] == "service_healthy" for d in depends.values()), name
    assert set(services["api"]["depends_on"]) == {"postgres", "redis", "mlflow"}
    declared = set(config["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("/"):
                assert Path(source).is_file(), f"{name} mounts {source}, which does not exist"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
    assert (DOCKER / "postgres" / "10-mlflow.sql").read_text().count("CREATE DATABASE mlflow") == 1
    assert services["api"]["command"] == ["mlbedge", "serve", "--host", "0.0.0.0", "--port", "8000"]
    assert services["worker"]["command"] == ["mlbedge", "pipeline", "schedule"]
    assert services["api"]["build"]["dockerfile"] == "docker/Dockerfile"
    assert Path(services["api"]["build"]["context"]).resolve() == REPO


def test_every_setting_each_service_needs_is_set(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every MLBEDGE_ variable is a real setting, every needed one is set, and together they point
    at the services of the same file."""
    services = config["services"]
    fields = Settings.model_fields
    for name, needs in NEEDS.items():
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        given = {k.removeprefix("MLBEDGE_").lower(): v for k, v in env.items() if k.startswith("MLBEDGE_")}
        unknown = sorted(set(given) - set(fields))
        assert not unknown, f"{name}: MLBEDGE_ variables that are no setting (typos?): {unknown}"
        missing = sorted(k for k in needs if not given.get(k))
        assert not missing, f"{name}: settings not set: {missing}"

        for key in [k for k in os.environ if k.startswith("MLBEDGE_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        get_settings.cache_clear()
        settings = get_settings()  # validates every value as the app will
        get_settings.cache_clear()

        pg = services["postgres"]["environment"]
        db = urlsplit(settings.database_url or "")
        assert (db.hostname, db.port, db.username, db.password, db.path) == (
            "postgres", 5432, pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"], "/" + pg["POSTGRES_DB"],
        ), name  # fmt: skip
        redis = urlsplit(settings.redis_url or "")
        assert (redis.scheme, redis.hostname, redis.port) == ("redis", "redis", 6379), name
        assert settings.store_backend == "redis"
        mlflow = urlsplit(settings.mlflow_tracking_uri or "")
        command = services["mlflow"]["command"]
        assert (mlflow.hostname, str(mlflow.port)) == ("mlflow", command[command.index("--port") + 1]), name
        assert mlflow.hostname in command[command.index("--allowed-hosts") + 1].split(","), name
        mounts = {v.split(":")[1] for v in services[name]["volumes"]}
        assert str(settings.home) in mounts and str(settings.data_dir) in mounts, name
        if "admin_token" in needs:
            assert settings.admin_token is not None
            assert settings.admin_token.get_secret_value() == _env_file()["MLBEDGE_ADMIN_TOKEN"]
    backend = services["mlflow"]["command"][services["mlflow"]["command"].index("--backend-store-uri") + 1]
    assert urlsplit(backend).scheme == "postgresql+psycopg" and urlsplit(backend).path == "/mlflow"


def test_secrets_are_required(tmp_path: Path) -> None:
    """Without the passwords and the admin token the file does not resolve, and says why."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    done = run_compose("--env-file", str(empty), "config")
    assert done.returncode != 0
    assert "set POSTGRES_PASSWORD in docker/.env" in done.stderr, done.stderr
    only_password = tmp_path / "password.env"
    only_password.write_text("POSTGRES_PASSWORD=x\n")
    done = run_compose("--env-file", str(only_password), "config")
    assert done.returncode != 0 and "set MLBEDGE_ADMIN_TOKEN in docker/.env" in done.stderr, done.stderr


def test_the_api_command_exists() -> None:
    """`mlbedge serve --host --port`, as the api service runs it."""
    serve = get_command(app).commands["serve"]  # type: ignore[attr-defined]
    options = {opt for param in serve.params for opt in getattr(param, "opts", [])}
    assert {"--host", "--port"} <= options


def test_every_service_command_is_a_real_cli_command(config: dict[str, Any]) -> None:
    """Each app service runs an `mlbedge` command that exists (the worker: `pipeline schedule`)."""
    root = get_command(app)
    for name, service in config["services"].items():
        command = service.get("command") or []
        if not command or command[0] != "mlbedge":
            continue
        node = root
        for word in command[1:]:
            if word.startswith("-"):
                break
            assert word in node.commands, f"service {name}: `{' '.join(command)}` is not a command"  # type: ignore[attr-defined]
            node = node.commands[word]  # type: ignore[attr-defined]


def test_image_ships_the_migrations() -> None:
    """The Dockerfile installs the package (non-editable), so its SQL migrations must be package data."""
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "pip install --no-deps ." in dockerfile and "COPY src ./src" in dockerfile
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]["mlbedge"]
    assert "storage/migrations/*.sql" in package_data


OVERRIDE = DOCKER / "compose.test.yaml"


def test_compose_test_override(tmp_path: Path) -> None:
    """`make compose-test`'s override: the historical files read-only at /data for both app services,
    every URL of a live source or public archive on the container's loopback (the worker's schedule
    never reaches the internet from a test), and the images of the servers overridable."""
    env = tmp_path / "test.env"
    env.write_text(
        ENV_EXAMPLE.read_text()
        + f"\nMLBEDGE_COMPOSE_DATA_DIR={tmp_path}\nMLBEDGE_POSTGRES_IMAGE=local/pg:15\nMLBEDGE_REDIS_IMAGE=local/redis:7\n"
    )
    done = run_compose("-f", str(OVERRIDE), "--env-file", str(env), "config")
    assert done.returncode == 0, f"docker-compose config failed:\n{done.stderr}"
    services = yaml.safe_load(done.stdout)["services"]
    urls = sorted(name for name in Settings.model_fields if name.endswith("_base_url"))
    assert urls, "no source URL settings found"
    for name in ("api", "worker"):
        data = [v for v in services[name]["volumes"] if v.split(":")[1] == "/data"]
        assert data == [f"{tmp_path}:/data:ro"], (name, data)
        env_vars = services[name]["environment"]
        for field in urls:
            value = env_vars.get(f"MLBEDGE_{field.upper()}")
            assert value is not None and urlsplit(value).hostname == "127.0.0.1", (name, field, value)
    assert services["postgres"]["image"] == "local/pg:15" and services["redis"]["image"] == "local/redis:7"
    empty = tmp_path / "empty.env"
    empty.write_text(ENV_EXAMPLE.read_text())
    done = run_compose("-f", str(OVERRIDE), "--env-file", str(empty), "config")
    assert done.returncode != 0 and "set MLBEDGE_COMPOSE_DATA_DIR" in done.stderr, done.stderr


def test_images_default_to_the_official_ones(config: dict[str, Any]) -> None:
    """Without overrides the servers are the official images and the app is built on the official
    Python image, the same default in the Dockerfile and in compose.yaml."""
    services = config["services"]
    assert services["postgres"]["image"] == "postgres:16-bookworm"
    assert services["redis"]["image"] == "redis:7-bookworm"
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "ARG PYTHON_BASE=python:3.11-slim-bookworm" in dockerfile
    for name in ("api", "worker", "mlflow"):
        assert services[name]["build"]["args"]["PYTHON_BASE"] == "python:3.11-slim-bookworm", name


def test_dependency_layer_leaves_no_placeholder_build() -> None:
    """The dependency layer installs a placeholder package; its build output must go, or setuptools
    keeps the placeholder's empty, newer ``__init__.py`` over the real one (an image without
    ``mlbedge.__version__``, whose API does not start)."""
    dockerfile = (DOCKER / "Dockerfile").read_text()
    step = dockerfile[dockerfile.index("touch src/mlbedge/__init__.py") : dockerfile.index("COPY src ./src")]
    assert "rm -rf build src" in step
