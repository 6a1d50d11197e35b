"""Fixtures of the model tests: real features of every season, and a real MLflow server.

- ``features_db_url``: a copy of the session's loaded database (every real historical file) with
  the features of every game built by the feature pipeline. Read-only; ``features_db`` gives a
  private copy to a test that writes.
- ``mlflow_server``: a real ``mlflow server`` on loopback, its backend store a fresh database on
  the machine's PostgreSQL and its artifacts in a temp folder, started lean (job execution off,
  one worker) once per session and stopped at the end. Nothing of MLflow is mocked.
- ``mlflow_settings``: settings pointing at that server, with a model-name prefix of its own so
  tests never see each other's registered models.

Training in these tests is kept small (few seasons, few boosting rounds); the full-size numbers
are measured by ``benchmarks/training_bench.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mlbedge.settings import Settings, get_settings
from mlbedge.training.mlflow_server import MlflowServer, start_mlflow_server
from tests.conftest import ADMIN_URL, DATA_DIR, create_database, drop_database

# Small models: enough rounds for the machinery, few enough to keep the suite quick.
FAST = {"num_boost_round": 40, "early_stopping_rounds": 10, "num_threads": 1}
SERVER_START_TIMEOUT = 120.0


def _clone(template_url: str) -> str:
    name = f"mlbedge_test_{uuid.uuid4().hex[:12]}"
    template = template_url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def features_db_url(loaded_db_url: str) -> Iterator[str]:
    """Every real game with its features built (all seasons). Read only."""
    from mlbedge.features.io import build_and_store

    url = _clone(loaded_db_url)
    try:
        with psycopg.connect(url) as conn:
            build_and_store(conn, full=True, cutoff_minutes=60)
            conn.commit()
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def features_db(features_db_url: str) -> Iterator[str]:
    """A private copy of ``features_db_url`` for a test that writes."""
    url = _clone(features_db_url)
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(scope="session")
def training_data(features_db_url: str):  # type: ignore[no-untyped-def]
    """The stored features and labels of every season (read once)."""
    from mlbedge.training.dataset import load_training_data

    with psycopg.connect(features_db_url) as conn:
        return load_training_data(conn, build=False, cutoff_minutes=60)


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real MLflow tracking server with a PostgreSQL backend store, for the whole session."""
    backend = create_database()
    folder = tmp_path_factory.mktemp("mlflow_server")
    try:
        server = start_mlflow_server(backend, folder / "artifacts", timeout=SERVER_START_TIMEOUT)
        print(f"\nmlflow server answered after {server.startup_seconds:.1f} s")
        try:
            yield server
        finally:
            server.stop()
    finally:
        drop_database(backend)


@pytest.fixture
def mlflow_settings(
    mlflow_server: MlflowServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Settings using the real server, an isolated home and a model-name prefix of this test's own."""
    monkeypatch.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLBEDGE_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("MLBEDGE_MLFLOW_TRACKING_URI", mlflow_server.url)
    monkeypatch.setenv("MLBEDGE_MODEL_NAME_PREFIX", f"t{uuid.uuid4().hex[:8]}")
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def embedded_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings with no tracking URI: MLflow's embedded sqlite store under an isolated home."""
    monkeypatch.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLBEDGE_DATA_DIR", str(DATA_DIR))
    monkeypatch.delenv("MLBEDGE_MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
