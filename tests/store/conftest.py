"""Fixtures of the online-store tests: the machine's real Redis and PostgreSQL, real feature rows.

Redis is the one at MLBEDGE_TEST_REDIS_URL (default redis://127.0.0.1:6379/0); every test works
under its own key prefix and deletes exactly its own keys afterwards (never FLUSHALL). Feature
rows are REAL: the 2016 SBRO season loaded by the project's loader, linked, and run through the
feature pipeline into ``curated.game_features`` of one session database (2,462 games, every
registry feature, with its real mix of floats, small ints and nulls).

The Feast tests (``tests/store/feast``) are collected only where Feast is importable: they run
in their own virtualenv (scripts/feast_env.sh), never as skips in the main one.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
import psycopg
import pytest

from mlbedge.features.io import build_and_store, read_features
from mlbedge.games.link import rebuild_games
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from mlbedge.store.redis_store import RedisStore
from tests.conftest import DATA_DIR, create_database, drop_database

collect_ignore = [] if importlib.util.find_spec("feast") is not None else ["feast"]

REDIS_URL = os.environ.get("MLBEDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SEASON = 2016


@dataclass(frozen=True)
class FeatureDb:
    """The session database holding real 2016 feature rows, and what is in it."""

    url: str
    version: str
    rows: pl.DataFrame


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
def feature_db() -> Iterator[FeatureDb]:
    """Real 2016 features in curated.game_features of a session database. Read only."""
    url = create_database()
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
            load_sbro_files(conn, [DATA_DIR / "sbr" / f"mlb_odds_sbr_{SEASON}.csv"])
            rebuild_games(conn)
            report = build_and_store(conn, seasons=[SEASON], full=True)
            conn.commit()
            rows = read_features(conn, seasons=[SEASON])
        yield FeatureDb(url, report.version, rows)
    finally:
        drop_database(url)


@pytest.fixture
def season_rows(feature_db: FeatureDb) -> pl.DataFrame:
    """The 2016 feature rows (one per game, every registry feature)."""
    return feature_db.rows


def unique_prefix() -> str:
    return f"mlbedge_test_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_store(redis_url: str) -> Iterator:
    """A factory of RedisStores on the real Redis; every store's keys are deleted at teardown."""
    made: list[RedisStore] = []

    def make(prefix: str | None = None, url: str = redis_url, **kwargs: object) -> RedisStore:
        store = RedisStore.from_url(url, prefix=prefix or unique_prefix(), **kwargs)  # type: ignore[arg-type]
        made.append(store)
        return store

    yield make
    for store in made:
        try:
            store.clear()
        finally:
            store.close()


@pytest.fixture
def store(make_store) -> RedisStore:  # type: ignore[no-untyped-def]
    """A RedisStore under a fresh key prefix on the machine's Redis."""
    return make_store()
