"""Real data for the backtest tests, built once per session.

- ``season_2016``: the real 2015-2016 games (SBRO, Pinnacle line snapshots, Retrosheet) from the
  session's loaded database, features built by the feature pipeline, small models of the three
  markets trained on 2015, and backtest inputs for a 2016 window (June 20 - July 31, ~600 games).
- ``run_2016``: that window backtested once with :class:`ModelStrategy` (stakes to the cent),
  every context recorded.
- ``cli_backtest``: the DESIGN.md command run for real: a fresh database, ``mlbedge data load``
  of every historical file, then ``mlbedge backtest --train-seasons 2010-2019 --test-season 2020
  --json --report`` with small models, logging to MLflow's embedded store under its own home.

Models are kept small (few boosting rounds) so the whole suite stays quick; the full-size numbers
are measured by ``benchmarks/backtest_bench.py``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from mlbedge.betting.backtest import (
    GAMES_SCHEMA,
    BacktestInputs,
    BacktestResult,
    Context,
    ModelStrategy,
    market_snapshots,
    run_backtest,
)
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.features.io import copy_frame, read_inputs
from mlbedge.features.pipeline import FeatureInputs, build_features
from mlbedge.features.registry import registry
from mlbedge.research.forecasts import predictions_frame
from mlbedge.settings import get_settings
from mlbedge.sources.historical.files import historical_files
from mlbedge.training.targets import get_target, label_frame
from mlbedge.training.trainer import fit_target
from tests.conftest import DATA_DIR, create_database, drop_database

CUTOFF = 60
WINDOW = (date(2016, 6, 20), date(2016, 7, 31))
FAST = {"num_boost_round": 30, "early_stopping_rounds": 10, "num_threads": 1, "calibration_folds": 2}
# Stakes to the cent: a bankroll that saw a result too early shows in every stake after it.
POLICY = StakingPolicy(stake_unit=0.01)
LABELS = (
    "game_id", "home_score", "away_score", "home_ml_open", "away_ml_open", "home_ml_close", "away_ml_close",
    "total_open", "total_close", "over_odds_open", "under_odds_open", "over_odds_close", "under_odds_close",
    "home_rl", "home_rl_odds", "away_rl_odds",
)  # fmt: skip


def build_window_features(inputs: FeatureInputs, game_ids: list[str]) -> pl.DataFrame:
    """Feature rows of ``game_ids`` from ``inputs`` (every earlier game feeds their history)."""
    return build_features(inputs, cutoff_minutes=CUTOFF, game_ids=game_ids)


@dataclass
class Season2016:
    feature_inputs: FeatureInputs
    window: pl.DataFrame
    models: dict[str, Any]
    inputs: BacktestInputs
    predictions: pl.DataFrame


@pytest.fixture(scope="session")
def season_2016(loaded_db_url: str) -> Season2016:
    """Real 2016 window inputs and small models of every market trained on 2015."""
    with psycopg.connect(loaded_db_url) as conn:
        feature_inputs = read_inputs(conn, max_season=2016)
        games = copy_frame(
            conn, sql.SQL("(SELECT * FROM curated.games WHERE season IN (2015, 2016)) g"), GAMES_SCHEMA
        )
    window = games.filter(pl.col("date").is_between(*WINDOW)).sort("date", "game_id")
    train_ids = games.filter(pl.col("season") == 2015)["game_id"].to_list()
    features = build_window_features(feature_inputs, train_ids + window["game_id"].to_list())
    labels = games.select(LABELS)
    models = {}
    for name in ("moneyline", "total", "runline"):
        target = get_target(name)
        labelled = label_frame(features.filter(pl.col("season") == 2015), labels, target)
        models[name] = fit_target(labelled, target, registry().names, "test", **FAST).to_serving()
    window_features = features.filter(pl.col("game_id").is_in(window["game_id"].implode()))
    snapshots = market_snapshots(window, pinnacle_lines=feature_inputs.pinnacle_lines, cutoff_minutes=CUTOFF)
    return Season2016(
        feature_inputs=feature_inputs,
        window=window,
        models=models,
        inputs=BacktestInputs(window, window_features, snapshots, CUTOFF),
        predictions=predictions_frame(models, window_features, labels),
    )


class Recorder:
    """Wraps a strategy and keeps every context it is given."""

    def __init__(self, strategy: Any) -> None:
        self.strategy = strategy
        self.contexts: list[Context] = []

    def __call__(self, context: Context) -> pl.DataFrame:
        self.contexts.append(context)
        return self.strategy(context)


@dataclass
class Run2016:
    result: BacktestResult
    contexts: list[Context]


@pytest.fixture(scope="session")
def run_2016(season_2016: Season2016) -> Run2016:
    """The 2016 window backtested with the small models, contexts recorded."""
    recorder = Recorder(ModelStrategy(season_2016.models, POLICY))
    result = run_backtest(season_2016.inputs, recorder)
    return Run2016(result, recorder.contexts)


# ----------------------------------------------------------------------------------------------
# the CLI, for real


@dataclass
class CliRun:
    database_url: str
    home: Path
    json_path: Path
    report_path: Path
    output: str
    seconds: float

    @property
    def doc(self) -> dict[str, Any]:
        return json.loads(self.json_path.read_text())


def invoke(args: list[str], env: dict[str, str]) -> str:
    """Run ``mlbedge ARGS`` in this process with ``env`` set; the exit code must be 0."""
    from mlbedge.cli.main import app

    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        patch.delenv("MLBEDGE_MLFLOW_TRACKING_URI", raising=False)
        get_settings.cache_clear()
        try:
            result = CliRunner().invoke(app, args, catch_exceptions=False)
        finally:
            get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="session")
def cli_backtest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CliRun]:
    """``mlbedge data load`` of every file into a fresh database, then the DESIGN.md backtest command."""
    url = create_database()
    folder = tmp_path_factory.mktemp("cli_backtest")
    home = folder / "home"
    env = {"MLBEDGE_DATABASE_URL": url, "MLBEDGE_HOME": str(home), "MLBEDGE_DATA_DIR": str(DATA_DIR)}
    files = historical_files(DATA_DIR)
    assert files.pinnacle_games is not None and files.pinnacle_lines is not None
    try:
        invoke(["data", "load", "sbro", *map(str, files.sbro)], env)
        invoke(["data", "load", "pinnacle", str(files.pinnacle_games), str(files.pinnacle_lines)], env)
        invoke(["data", "load", "retrosheet", *map(str, files.retrosheet)], env)
        json_path, report_path = folder / "out.json", folder / "r.html"
        started = time.perf_counter()
        output = invoke(
            ["backtest", "--train-seasons", "2010-2019", "--test-season", "2020", "--json", str(json_path),
             "--report", str(report_path), "--rounds", "40", "--home", str(home)],
            env,
        )  # fmt: skip
        yield CliRun(url, home, json_path, report_path, output, time.perf_counter() - started)
    finally:
        drop_database(url)
