"""The backtest's leakage rule on a real season WITHOUT start times (2019: SBRO and Retrosheet only).

Every cutoff is the start of the game's local date and every price is SBRO's untimed open; results
count from the end of their local date -- or, for 2019-05-19 OAK@DET, suspended and finished on
09-06, from the end of that date. Poisoning every result not yet observed and every closing line
must not change a single bet placed before the poison could be observed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import polars as pl
import psycopg
import pytest
from psycopg import sql

from mlbedge.betting.backtest import (
    GAMES_SCHEMA,
    BacktestInputs,
    ModelStrategy,
    market_snapshots,
    run_backtest,
)
from mlbedge.features.io import copy_frame, read_inputs
from mlbedge.features.pipeline import FeatureInputs
from mlbedge.features.registry import registry
from mlbedge.training.targets import get_target, label_frame
from mlbedge.training.trainer import fit_target
from tests.betting.conftest import CUTOFF, FAST, LABELS, POLICY, Recorder, build_window_features

WINDOW = (date(2019, 5, 13), date(2019, 6, 9))
POISON_FROM = date(2019, 5, 27)
SUSPENDED = "20190519-ATH-DET-0"  # finished 2019-09-06: its result is never observed in the window
BET_KEY = ["as_of", "game_id", "market", "side", "book", "line", "odds", "stake", "probability", "edge"]


@dataclass
class Season2019:
    feature_inputs: FeatureInputs
    window: pl.DataFrame
    models: dict[str, Any]


@pytest.fixture(scope="module")
def season_2019(loaded_db_url: str) -> Season2019:
    """A four-week 2019 window and small models of the two SBRO markets trained on 2018."""
    with psycopg.connect(loaded_db_url) as conn:
        feature_inputs = read_inputs(conn, max_season=2019)
        games = copy_frame(
            conn, sql.SQL("(SELECT * FROM curated.games WHERE season IN (2018, 2019)) g"), GAMES_SCHEMA
        )
    window = games.filter(pl.col("date").is_between(*WINDOW)).sort("date", "game_id")
    assert window["start_time_utc"].null_count() == window.height
    train_ids = games.filter(pl.col("season") == 2018)["game_id"].to_list()
    features = build_window_features(feature_inputs, train_ids)
    models = {}
    for name in ("moneyline", "total"):
        target = get_target(name)
        labelled = label_frame(features, games.select(LABELS), target)
        models[name] = fit_target(labelled, target, registry().names, "test", **FAST).to_serving()
    return Season2019(feature_inputs, window, models)


def _inputs(season: Season2019, games: pl.DataFrame, all_games: pl.DataFrame) -> BacktestInputs:
    # The inputs the models were trained on, with the (poisoned) games: every family is built.
    features = build_window_features(
        replace(season.feature_inputs, games=all_games), season.window["game_id"].to_list()
    )
    return BacktestInputs(games, features, market_snapshots(games, cutoff_minutes=CUTOFF), CUTOFF)


def test_bets_of_an_untimed_season_do_not_change_when_unseen_facts_are_poisoned(
    season_2019: Season2019,
) -> None:
    """Rule: every closing line, every result from POISON_FROM on, and the suspended game's result
    poisoned; features rebuilt. Every bet placed up to POISON_FROM is unchanged (stakes to the
    cent: a bankroll that saw a result too early changes every stake after it); later ones move."""
    rng = np.random.default_rng(11)
    window, fi = season_2019.window, season_2019.feature_inputs
    base_recorder = Recorder(ModelStrategy(season_2019.models, POLICY))
    base = run_backtest(_inputs(season_2019, window, fi.games), base_recorder)

    n = window.height
    late = (pl.col("date") >= POISON_FROM) | (pl.col("game_id") == SUSPENDED)
    poisoned = window.with_columns(
        home_ml_close=pl.Series(rng.choice([-250, 110, 240], n)),
        away_ml_close=pl.Series(rng.choice([-230, 115, 210], n)),
        total_close=pl.Series(rng.choice([6.5, 11.5], n)),
        home_score=pl.when(late).then(pl.Series(rng.integers(0, 15, n))).otherwise(pl.col("home_score")),
        away_score=pl.when(late).then(pl.Series(rng.integers(0, 15, n))).otherwise(pl.col("away_score")),
    )
    all_games = fi.games.join(
        poisoned.select("game_id", "home_score", "away_score"), on="game_id", how="left"
    )
    all_games = all_games.with_columns(
        home_score=pl.coalesce("home_score_right", "home_score"),
        away_score=pl.coalesce("away_score_right", "away_score"),
    ).drop("home_score_right", "away_score_right")
    again = run_backtest(
        _inputs(season_2019, poisoned, all_games), Recorder(ModelStrategy(season_2019.models, POLICY))
    )

    before = pl.col("date") <= POISON_FROM
    kept = base.bets.filter(before).select(BET_KEY).sort("as_of", "game_id", "market", "side")
    assert kept.height >= 50 and set(kept["market"]) == {"moneyline", "total"}
    assert again.bets.filter(before).select(BET_KEY).sort("as_of", "game_id", "market", "side").equals(kept)
    assert not base.bets.filter(~before).select(BET_KEY).equals(again.bets.filter(~before).select(BET_KEY))
    # Each round's cutoff is the start of the local date, and its bankroll holds only observed results.
    for context in base_recorder.contexts:
        assert context.features.filter(pl.col("start_known")).is_empty()
        history = context.history
        assert history.is_empty() or history["result_observed_at"].max() <= context.as_of
    suspended = base.bets.filter(pl.col("game_id") == SUSPENDED)
    if suspended.height:
        assert (suspended["result_observed_at"] == datetime(2019, 9, 7, 7, tzinfo=UTC)).all()
