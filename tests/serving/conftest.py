"""Fixtures of the API tests: real data, a real MLflow registry, the machine's Redis and PostgreSQL.

- ``serving_db``: one session database holding the real 2016 season (the SBRO file and the
  Pinnacle games and line snapshots, loaded by the project's loaders, linked into
  ``curated.games``) with every game's features built by the feature pipeline.
- ``mlflow``: a real ``mlflow server`` on loopback (PostgreSQL backend store, artifacts in a temp
  folder), started once per session by :func:`mlbedge.training.mlflow_server.start_mlflow_server`.
- ``registered``: small real models of the three markets, trained through the training module on
  the games before 2016-08-01 and registered in that server (version 1, champion) under a model
  prefix of this session's own. ``register_version`` trains and registers another version.
- ``online``: the session's features materialized into the machine's Redis under a key prefix of
  its own (deleted at the end; nothing else in Redis is touched).
- ``make_settings`` / ``serve``: settings for an app, and an app served by uvicorn on a free
  loopback port in a thread of this process (the real server, lifespan included).

Nothing is mocked. Everything expensive is built once per session; a test that changes the
registry promotes versions under its own model prefix.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import psycopg
import pytest
import uvicorn

from mlbedge.settings import Settings
from mlbedge.training.mlflow_server import MlflowServer, start_mlflow_server
from tests.conftest import DATA_DIR, create_database, drop_database
from tests.redis_server import free_port

REDIS_URL = os.environ.get("MLBEDGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SEASON = 2016
TRAIN_END = date(2016, 8, 1)  # version 1 learns from the games before this date
SECOND_TRAIN_END = date(2016, 7, 1)  # the other version, for the reload tests
SLATE_DAY = date(2016, 8, 2)  # a date served in the tests (15 games, Pinnacle start times)
MARKETS = ("moneyline", "total", "runline")
# Small models: enough for the machinery, quick to fit.
FAST = {"num_boost_round": 30, "early_stopping_rounds": 10, "num_threads": 1, "calibration_folds": 2}
ADMIN_TOKEN = "test-admin-token-\u00e9-42"


@dataclass(frozen=True)
class ServingDb:
    """The session database and what the feature build wrote."""

    url: str
    feature_set_version: str
    features: pl.DataFrame


@pytest.fixture(scope="session")
def serving_db() -> Iterator[ServingDb]:
    """The real 2016 season with its features built. Read only."""
    from mlbedge.features.io import build_and_store, read_features
    from mlbedge.games.link import rebuild_games
    from mlbedge.sources.historical.pinnacle import load_pinnacle
    from mlbedge.sources.historical.sbro import load_sbro_files
    from mlbedge.storage.migrations import migrate

    url = create_database()
    try:
        with psycopg.connect(url) as conn:
            migrate(conn)
            load_sbro_files(conn, [DATA_DIR / "sbr" / f"mlb_odds_sbr_{SEASON}.csv"])
            pin = DATA_DIR / "pinnacle_2016"
            load_pinnacle(conn, pin / "pinnacle_mlb2016_games.csv", pin / "pinnacle_mlb2016_lines.csv.gz")
            rebuild_games(conn)
            report = build_and_store(conn, seasons=[SEASON], full=True, cutoff_minutes=60)
            conn.commit()
            features = read_features(conn, seasons=[SEASON])
        yield ServingDb(url, report.version, features)
    finally:
        drop_database(url)


class StartingMlflow:
    """A real MLflow server starting in a background thread (it takes 10-15 s): the session
    loads data and fits models meanwhile, and :meth:`server` waits for it."""

    def __init__(self, folder: Path) -> None:
        self.backend = create_database()
        self._result: list[MlflowServer | BaseException] = []
        self._thread = threading.Thread(target=self._start, args=(folder,), name="mlflow-start", daemon=True)
        self._thread.start()

    def _start(self, folder: Path) -> None:
        try:
            self._result.append(start_mlflow_server(self.backend, folder / "artifacts", timeout=120.0))
        except BaseException as exc:  # re-raised by server() in the test's thread
            self._result.append(exc)

    def server(self) -> MlflowServer:
        self._thread.join(timeout=150)
        if not self._result:
            raise RuntimeError("mlflow server did not start within 150 s")
        found = self._result[0]
        if isinstance(found, BaseException):
            raise found
        return found


@pytest.fixture(scope="session")
def mlflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StartingMlflow]:
    """A real MLflow tracking server and registry (PostgreSQL backend) for the session."""
    starting = StartingMlflow(tmp_path_factory.mktemp("serving_mlflow"))
    try:
        yield starting
    finally:
        try:
            starting.server().stop()
        finally:
            drop_database(starting.backend)


def base_settings(home: Path, **overrides: Any) -> Settings:
    """Settings of the session's services with an isolated home; ``overrides`` win. Simultaneous
    Kelly samples fewer scenarios than in production: the tests check limits, not its accuracy."""
    values: dict[str, Any] = {
        "recommend_kelly_scenarios": 500,
        "home": home,
        "data_dir": DATA_DIR,
        "redis_url": REDIS_URL,
        "store_backend": "redis",
        "cutoff_minutes": 60,
        "admin_token": ADMIN_TOKEN,
        "rate_limit_requests": 100_000,
        "store_retry_seconds": 0.3,
        "serve_models_cache_seconds": 0.0,
        # The session's small models are judged by the skill gate in the gate's own tests; elsewhere
        # every market bets, so the staking machinery has bets to check.
        "recommend_skill_gate": False,
        **overrides,
    }
    return Settings(**values)


@dataclass
class Logged:
    """One trained and logged model (not yet registered under any particular name)."""

    trained: Any
    logged: Any


@dataclass
class Registered:
    """The session's registry: the model prefix of version 1, and two logged versions per market.

    ``first`` (trained before 2016-08-01) is registered under ``prefix`` as version 1, the
    champion. ``second`` (trained before 2016-07-01: other numbers) is only logged; tests that
    swap models register both under a prefix of their own (:func:`register_as`).
    """

    prefix: str
    tracking_uri: str
    first: dict[str, Logged]
    second: dict[str, Logged]


def train(db: ServingDb, *, train_end: date) -> dict[str, Any]:
    """The three markets fitted on the season's games before ``train_end`` (by the training module)."""
    from mlbedge.training.dataset import load_training_data
    from mlbedge.training.targets import get_target
    from mlbedge.training.trainer import fit_target

    with psycopg.connect(db.url) as conn:
        data = load_training_data(conn, seasons=[SEASON], build=False, cutoff_minutes=60)
    out = {}
    for market in MARKETS:
        target = get_target(market)
        frame = data.labelled(target).filter(pl.col("date") < train_end)
        out[market] = fit_target(frame, target, data.feature_names, data.feature_set_version, **FAST)
    return out


def log_all(models: dict[str, Any], settings: Settings) -> dict[str, Logged]:
    """Log each trained model as an MLflow run (not registered yet)."""
    from mlbedge.training import registry

    return {m: Logged(t, registry.log_training(t, settings=settings)) for m, t in models.items()}


def register_as(models: dict[str, Logged], settings: Settings) -> dict[str, str]:
    """Register each logged model as a new version of ``<settings' prefix>-<market>``."""
    from mlbedge.training import registry

    versions = {}
    for market, item in models.items():
        logged = replace(item.logged, name=registry.model_name(market, settings))
        versions[market] = registry.register(logged, item.trained, settings=settings)
    return versions


@pytest.fixture(scope="session")
def registered(
    mlflow: StartingMlflow, serving_db: ServingDb, tmp_path_factory: pytest.TempPathFactory
) -> Registered:
    """Two trained versions per market in the real registry; the first is the session's champion."""
    first, second = train(serving_db, train_end=TRAIN_END), train(serving_db, train_end=SECOND_TRAIN_END)
    server = mlflow.server()
    prefix = f"srv{uuid.uuid4().hex[:8]}"
    settings = base_settings(
        tmp_path_factory.mktemp("register_home"), mlflow_tracking_uri=server.url, model_name_prefix=prefix
    )
    logged_first, logged_second = log_all(first, settings), log_all(second, settings)
    assert set(register_as(logged_first, settings).values()) == {"1"}
    return Registered(prefix, server.url, logged_first, logged_second)


@dataclass(frozen=True)
class Online:
    """The session's features in Redis: where, and under which key prefix."""

    url: str
    prefix: str


@pytest.fixture(scope="session")
def online(serving_db: ServingDb) -> Iterator[Online]:
    """Every 2016 feature row materialized into the machine's Redis under a prefix of its own."""
    from mlbedge.store.materialize import materialize
    from mlbedge.store.redis_store import RedisStore

    prefix = f"mlbedge_test_srv_{uuid.uuid4().hex[:8]}"
    store = RedisStore.from_url(REDIS_URL, prefix=prefix)
    try:
        with psycopg.connect(serving_db.url) as conn:
            report = materialize(conn, store, seasons=[SEASON])
        assert report.games == serving_db.features.height
        yield Online(REDIS_URL, prefix)
    finally:
        store.clear()
        store.close()


@contextmanager
def stored_rows(name: str, feature_set_version: str, rows: pl.DataFrame) -> Iterator[str]:
    """A Redis key prefix of its own holding only ``rows`` (cleared after): a slate a test chose."""
    from mlbedge.store.redis_store import RedisStore

    prefix = f"mlbedge_test_{name}_{uuid.uuid4().hex[:8]}"
    store = RedisStore.from_url(REDIS_URL, prefix=prefix)
    try:
        store.write_batch(feature_set_version, rows)
        yield prefix
    finally:
        store.clear()
        store.close()


def app_settings(
    db: ServingDb, online: Online, registered: Registered, home: Path, **overrides: Any
) -> Settings:
    """Settings for an app on the session's database, Redis keys and registry (``overrides`` win)."""
    values = {
        "database_url": db.url,
        "store_key_prefix": online.prefix,
        "mlflow_tracking_uri": registered.tracking_uri,
        "model_name_prefix": registered.prefix,
        # Many tests send wrong admin tokens from one address: only the test of that limit sets it.
        "admin_failure_limit": 100_000,
        **overrides,
    }
    return base_settings(home, **values)


@pytest.fixture
def make_settings(
    serving_db: ServingDb, online: Online, registered: Registered, tmp_path: Path
) -> Callable[..., Settings]:
    """:func:`app_settings` with this test's home (``home=`` to choose another)."""

    def make(**overrides: Any) -> Settings:
        home = overrides.pop("home", tmp_path / "home")
        return app_settings(serving_db, online, registered, home, **overrides)

    return make


class ServedApp:
    """An app under uvicorn in a thread of the test process, on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        from mlbedge.serving.app import create_app
        from mlbedge.serving.limits import uvicorn_options

        self.settings = settings
        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            **uvicorn_options(settings),  # the server side as `mlbedge serve` runs it
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    def start(self, timeout: float = 60.0) -> ServedApp:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the API on {self.url} did not start")
            time.sleep(0.02)
        return self

    @property
    def state(self) -> Any:
        return self.app.state.serving

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def serve() -> Iterator[Callable[[Settings], ServedApp]]:
    """Start apps for a test; every one is stopped at teardown."""
    started: list[ServedApp] = []

    def start(settings: Settings) -> ServedApp:
        app = ServedApp(settings).start()
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture
def api(serve: Callable[[Settings], ServedApp], make_settings: Callable[..., Settings]) -> ServedApp:
    """An app on the session's services with version 1 of each market as champion."""
    return serve(make_settings())


def admin_headers(token: str = ADMIN_TOKEN) -> dict[str, bytes]:
    """The Authorization header of an admin request (the token's UTF-8 bytes on the wire)."""
    return {"Authorization": b"Bearer " + token.encode()}
