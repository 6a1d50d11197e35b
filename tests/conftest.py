"""Shared fixtures: a fresh database on the machine's real PostgreSQL per test, and the real data.

Nothing here is mocked: storage tests talk to PostgreSQL at MLBEDGE_TEST_PG_URL
(default postgresql://postgres@127.0.0.1:5432/postgres), and read the real files in ../shared.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mlbedge.settings import Settings, get_settings

ADMIN_URL = os.environ.get("MLBEDGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REPO = Path(__file__).resolve().parents[1]


def _find_shared() -> Path:
    for parent in [REPO, *REPO.parents]:
        candidate = parent / "shared"
        if (candidate / "data" / "mlb").is_dir():
            return candidate
    raise RuntimeError("../shared with data/mlb and fixtures/sources is required by the tests")


SHARED = _find_shared()
DATA_DIR = SHARED / "data" / "mlb"
FIXTURES = SHARED / "fixtures" / "sources"


def create_database() -> str:
    """A new empty database on the test server; returns its URL."""
    name = f"mlbedge_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url() -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture
def settings(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Settings pointing at the fresh database, with an isolated MLBEDGE_HOME."""
    monkeypatch.setenv("MLBEDGE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLBEDGE_DATABASE_URL", db_url)
    monkeypatch.setenv("MLBEDGE_DATA_DIR", str(DATA_DIR))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def conn(settings: Settings) -> Iterator[psycopg.Connection]:
    """A migrated connection to the fresh database (autocommit off; tests commit as needed)."""
    from mlbedge.storage.database import connect

    with connect(settings) as connection:
        yield connection


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def loaded_db_url() -> Iterator[str]:
    """A database with every real historical file loaded and linked, shared by a test session.

    Read-only for tests: a test that writes must use its own ``conn``/``db_url`` instead. A child
    run (the mutation checks) is handed its parent's through ``MLBEDGE_TEST_LOADED_DB_URL``.
    """
    handed_down = os.environ.get("MLBEDGE_TEST_LOADED_DB_URL")
    if handed_down:
        yield handed_down
        return
    from mlbedge.games.link import rebuild_games
    from mlbedge.sources.historical.files import historical_files
    from mlbedge.sources.historical.lahman import load_lahman_files
    from mlbedge.sources.historical.pinnacle import load_pinnacle
    from mlbedge.sources.historical.retrosheet import load_retrosheet_files
    from mlbedge.sources.historical.retrosplits import load_retrosplits_files
    from mlbedge.sources.historical.sbro import load_sbro_files
    from mlbedge.storage.migrations import migrate

    url = create_database()
    files = historical_files(DATA_DIR)
    try:
        with psycopg.connect(url) as connection:
            migrate(connection)
            load_sbro_files(connection, files.sbro)
            load_pinnacle(connection, files.pinnacle_games, files.pinnacle_lines)
            load_retrosheet_files(connection, files.retrosheet)
            load_lahman_files(connection, files.lahman)
            load_retrosplits_files(connection, files.retrosplits)
            rebuild_games(connection)
        yield url
    finally:
        drop_database(url)
