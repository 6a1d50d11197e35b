"""Walk-forward on the real games: folds by date, splits that never cut a date, and no leakage.

The leakage rules, each a test whose docstring states it:
- no test-season game is in its model's training, early-stopping or calibration data;
- every training game is dated before its test window (minus the gap);
- the test labels cannot reach the model: flipping every label of the test season leaves the
  test predictions bit-identical.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from mlbedge.training.targets import get_target
from mlbedge.training.walk_forward import (
    check_time_ordered,
    day_fold,
    run_walk_forward,
    season_folds,
    time_blocks,
    time_ordered_split,
)
from tests.training.conftest import FAST

TEST_SEASONS = [2014, 2015]


def test_season_folds_expanding_sliding_and_gap(training_data) -> None:
    frame = training_data.features
    first_2015 = frame.filter(pl.col("season") == 2015)["date"].min()
    last_2015 = frame.filter(pl.col("season") == 2015)["date"].max()
    first_2013 = frame.filter(pl.col("season") == 2013)["date"].min()

    (expanding,) = season_folds(frame, [2015])
    assert (expanding.test_start, expanding.test_end) == (first_2015, last_2015)
    assert expanding.train_start is None and expanding.train_end == first_2015

    (sliding,) = season_folds(frame, [2015], window="sliding", train_seasons=2, gap_days=10)
    assert sliding.train_start == first_2013
    assert sliding.train_end == first_2015 - timedelta(days=10)
    train_seasons = frame.filter(sliding.train_mask(frame["date"]))["season"].unique().sort().to_list()
    assert train_seasons == [2013, 2014]

    (by_days,) = season_folds(frame, [2015], window="sliding", train_days=365)
    assert by_days.train_start == first_2015 - timedelta(days=365)

    with pytest.raises(ValueError, match="test season 1999 has no games"):
        season_folds(frame, [1999])
    with pytest.raises(ValueError, match="sliding window needs"):
        season_folds(frame, [2015], window="sliding")


def test_day_fold_holds_out_the_last_days() -> None:
    fold = day_fold(date(2016, 9, 1), test_days=28, train_days=400, gap_days=2)
    assert fold.test_start == date(2016, 8, 4) and fold.test_end == date(2016, 8, 31)
    assert fold.train_end == date(2016, 8, 2) and fold.train_start == date(2015, 6, 29)


def test_inner_splits_never_cut_a_date(training_data) -> None:
    dates = training_data.features.filter(pl.col("season") <= 2011)["date"].to_numpy()
    fit, valid = time_ordered_split(dates, 0.2)
    assert fit.size + valid.size == dates.size
    assert dates[fit].max() < dates[valid].min()
    assert 0.15 < valid.size / dates.size < 0.25

    blocks = time_blocks(dates, 4)
    assert len(blocks) == 4
    assert np.array_equal(np.concatenate(blocks), np.arange(dates.size))
    for earlier, later in itertools.pairwise(blocks):
        assert dates[earlier].max() < dates[later].min()

    with pytest.raises(ValueError, match="sorted by date"):
        check_time_ordered(dates[::-1])


def _walk(training_data, labelled):
    targets = [get_target("moneyline"), get_target("total")]
    folds = season_folds(training_data.features.filter(pl.col("season") <= 2015), TEST_SEASONS)
    return run_walk_forward(labelled, targets, folds, training_data.feature_names, model_params=FAST)


@pytest.fixture(scope="module")
def labelled(training_data) -> dict[str, pl.DataFrame]:
    keep = pl.col("season") <= 2015
    return {name: training_data.labelled(name).filter(keep) for name in ("moneyline", "total")}


@pytest.fixture(scope="module")
def walked(training_data, labelled):
    return _walk(training_data, labelled)


def test_no_test_game_in_training_or_early_stopping_data(walked, training_data) -> None:
    """Rule: no game of a test season is in its model's training, early-stopping or calibration data,
    and every game a model saw is dated before its test window."""
    dates = dict(zip(training_data.features["game_id"], training_data.features["date"], strict=True))
    assert len(walked.runs) == 2 * len(TEST_SEASONS)
    for run in walked.runs:
        test = set(run.test_games)
        assert test, run.fold.name
        seen = set(run.train_games)
        for part in (run.fit_games, run.early_stopping_games, run.calibration_games):
            assert set(part) <= seen
        assert not test & seen, f"{run.target} {run.fold.name}: test games in training data"
        assert run.early_stopping_games, "early stopping used a validation set"
        assert max(dates[g] for g in seen) < run.fold.test_start
        assert min(dates[g] for g in test) >= run.fold.test_start
        season = int(run.fold.name)
        assert {dates[g].year for g in test} == {season}
        # The early-stopping games are the latest of the training window, after every fitted one
        # of the first pass (the refit then uses all of them, still before the test window).
        assert min(dates[g] for g in run.early_stopping_games) > max(
            dates[g] for g in run.train_games if g not in set(run.early_stopping_games)
        )


def test_test_labels_cannot_reach_the_model(walked, training_data, labelled) -> None:
    """Rule: a model's test predictions do not depend on the test labels (flip them all: same numbers)."""
    flipped = {
        name: frame.with_columns(
            y=pl.when(pl.col("season").is_in(TEST_SEASONS)).then(1.0 - pl.col("y")).otherwise(pl.col("y"))
        )
        for name, frame in labelled.items()
    }
    again = _walk(training_data, flipped)
    # The second 2015 fold trains on 2014, whose labels were flipped too: compare the first fold
    # of each target, trained on 2010-2013 only, whose training labels are untouched.
    first = walked.predictions.filter(pl.col("fold") == "2014").sort("target", "game_id")
    second = again.predictions.filter(pl.col("fold") == "2014").sort("target", "game_id")
    assert first["game_id"].to_list() == second["game_id"].to_list()
    assert np.array_equal(first["p_model"].to_numpy(), second["p_model"].to_numpy())
    # The flip did reach the labels of the test rows.
    assert (first["y"] + second["y"] == 1.0).all()


def test_walk_forward_predictions_are_probabilities_beside_the_market(walked, training_data) -> None:
    preds = walked.predictions
    assert set(preds["target"].unique()) == {"moneyline", "total"}
    p = preds["p_model"].to_numpy()
    assert np.all((p > 0) & (p < 1))
    # Each prediction row is its own game's: label and market benchmark line up with the labelled
    # frame by game id (a shuffled or misaligned test frame fails here).
    for target in ("moneyline", "total"):
        mine = preds.filter(pl.col("target") == target).select("game_id", "y", "market_open")
        truth = training_data.labelled(target).select("game_id", "y", "market_open")
        joined = mine.join(truth, on="game_id", suffix="_truth")
        assert joined.height == mine.height == mine["game_id"].n_unique()
        assert (joined["y"] == joined["y_truth"]).all()
        assert joined["market_open"].equals(joined["market_open_truth"])
    # The booster moved the base score (the market): the model is not the market returned as is.
    ml = preds.filter(pl.col("target") == "moneyline", pl.col("market_open").is_not_null())
    moved = (ml["p_raw"] - ml["market_open"]).abs() > 1e-6
    assert moved.mean() > 0.5
