"""Fixtures of the pipeline tests: a real 2016 season in PostgreSQL, small real models registered
in a real MLflow server, and the machine's Redis under a key prefix of this session's own.

``season_db``: the SBRO 2016 file and the Pinnacle 2016 games and lines, loaded and linked by the
project's loaders, the season's features built, and one champion per market trained on the games
before :data:`TRAIN_END`. Each test that runs the pipeline copies it (``CREATE DATABASE ...
TEMPLATE``, seconds) so the tests never see each other's writes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest

from mlbedge.settings import Settings
from mlbedge.training.mlflow_server import MlflowServer, start_mlflow_server
from tests.conftest import ADMIN_URL, DATA_DIR, create_database, drop_database

REDIS_URL = os.environ.get("MLBEDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SEASON = 2016
TRAIN_END = date(2016, 7, 15)
DAY_ONE = date(2016, 8, 1)  # the pipeline runs this day, then the next (which settles this one)
DAY_TWO = date(2016, 8, 2)
MARKETS = ("moneyline", "total", "runline")
FAST = {"num_boost_round": 30, "early_stopping_rounds": 10, "num_threads": 1, "calibration_folds": 2}


@dataclass(frozen=True)
class SeasonDb:
    """The template database, the registry and the model prefix of the session."""

    url: str
    name: str
    tracking_uri: str
    prefix: str


def _settings(home: Path, **values: Any) -> Settings:
    return Settings(
        home=home,
        data_dir=DATA_DIR,
        redis_url=REDIS_URL,
        store_backend="redis",
        cutoff_minutes=60,
        rate_limit_requests=100_000,
        serve_models_cache_seconds=0.0,
        recommend_min_edge=0.01,
        # The small session models do not pass the skill gate (the gate's own tests judge it): here
        # every market bets, so the recommend and settle steps have bets to store and settle.
        recommend_skill_gate=False,
        **values,
    )


@pytest.fixture(scope="session")
def pipeline_mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real MLflow server (PostgreSQL backend) for the pipeline tests."""
    backend = create_database()
    try:
        server = start_mlflow_server(
            backend, tmp_path_factory.mktemp("pipeline_mlflow") / "artifacts", timeout=120.0
        )
        try:
            yield server
        finally:
            server.stop()
    finally:
        drop_database(backend)


@pytest.fixture(scope="session")
def season_db(pipeline_mlflow: MlflowServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeasonDb]:
    """The real 2016 season with features and registered champions (a template: never written by tests)."""
    from mlbedge.features.io import build_and_store
    from mlbedge.games.link import rebuild_games
    from mlbedge.sources.historical.pinnacle import load_pinnacle
    from mlbedge.sources.historical.sbro import load_sbro_files
    from mlbedge.storage.migrations import migrate
    from mlbedge.training import registry
    from mlbedge.training.dataset import load_training_data
    from mlbedge.training.targets import get_target
    from mlbedge.training.trainer import fit_target

    url = create_database()
    prefix = f"pipe{uuid.uuid4().hex[:8]}"
    settings = _settings(
        tmp_path_factory.mktemp("pipeline_train"),
        database_url=url,
        mlflow_tracking_uri=pipeline_mlflow.url,
        model_name_prefix=prefix,
    )
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
            load_sbro_files(conn, [DATA_DIR / "sbr" / f"mlb_odds_sbr_{SEASON}.csv"])
            pin = DATA_DIR / "pinnacle_2016"
            load_pinnacle(conn, pin / "pinnacle_mlb2016_games.csv", pin / "pinnacle_mlb2016_lines.csv.gz")
            rebuild_games(conn)
            build_and_store(conn, seasons=[SEASON], full=True, cutoff_minutes=60)
            conn.commit()
            data = load_training_data(conn, seasons=[SEASON], build=False, cutoff_minutes=60)
        for market in MARKETS:
            target = get_target(market)
            frame = data.labelled(target).filter(pl.col("date") < TRAIN_END)
            trained = fit_target(frame, target, data.feature_names, data.feature_set_version, **FAST)
            logged = registry.log_training(trained, settings=settings)
            assert registry.register(logged, trained, settings=settings) == "1"
        yield SeasonDb(url, url.rsplit("/", 1)[1], pipeline_mlflow.url, prefix)
    finally:
        drop_database(url)


def copy_database(template: SeasonDb) -> str:
    """A new database copied from the template (its own name); the caller drops it."""
    name = f"mlbedge_pipe_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.name}"')
    return template.url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pipeline_settings(season_db: SeasonDb, tmp_path: Path) -> Iterator[Callable[..., Settings]]:
    """Settings on a fresh copy of the season, the session's registry and a Redis prefix of its own."""
    from mlbedge.store.redis_store import RedisStore

    url = copy_database(season_db)
    key_prefix = f"mlbedge_test_pipe_{uuid.uuid4().hex[:8]}"

    def make(**overrides: Any) -> Settings:
        home = overrides.pop("home", tmp_path / "home")
        values = {
            "database_url": url,
            "mlflow_tracking_uri": season_db.tracking_uri,
            "model_name_prefix": season_db.prefix,
            "store_key_prefix": key_prefix,
            **overrides,
        }
        return _settings(home, **values)

    try:
        yield make
    finally:
        store = RedisStore.from_url(REDIS_URL, prefix=key_prefix)
        store.clear()
        store.close()
        drop_database(url)
