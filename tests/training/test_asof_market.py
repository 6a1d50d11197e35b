"""The price a bet is placed at (``market_asof``), beside the opening and closing lines.

By hand on the hand-built season of tests/betting/hand_season.py, and on the real 2015-2016 files:
with Pinnacle's time-stamped lines (2016) the price at the cutoff is not the SBRO open.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mlbedge.betting.metrics import mean_ci
from mlbedge.domain.odds import fair_two_way
from mlbedge.training.asof_market import asof_probabilities, market_asof
from mlbedge.training.evaluation import compare, markdown_table
from tests.betting import hand_season as hs


def _fair(a: int, b: int) -> float:
    return float(fair_two_way(a, b)[0])


def test_the_price_at_the_cutoff_by_hand() -> None:
    """G1 (start unknown): the SBRO open is the price. G5 (start known): Pinnacle's 18:00 snapshot,
    in force at 22:10; SBRO's untimed open is not quotable then, nor the 22:30 snapshot."""
    inputs = hs.inputs()
    asof = asof_probabilities(inputs.features.select("game_id", "as_of", "start_known"), inputs.snapshots)
    labelled = pl.DataFrame(
        {"game_id": [hs.G1, hs.G5, hs.G4], "target_line": [None, None, None]},
        schema={"game_id": pl.String, "target_line": pl.Float64},
    )
    ml = market_asof(labelled, "moneyline", asof).to_list()
    assert ml[0] == pytest.approx(_fair(-150, 130), abs=1e-15)
    assert ml[1] == pytest.approx(_fair(-135, 115), abs=1e-15)
    assert ml[2] == pytest.approx(_fair(-120, 100), abs=1e-15)
    totals = pl.DataFrame({"game_id": [hs.G2, hs.G2, hs.G5], "target_line": [8.5, 9.0, 8.5]})
    over = market_asof(totals, "total", asof).to_list()
    assert over[0] == pytest.approx(0.5, abs=1e-15) and over[1] is None  # another line: another event
    assert over[2] == pytest.approx(_fair(-105, -115), abs=1e-15)
    runline = pl.DataFrame({"game_id": [hs.G5, hs.G5], "target_line": [-1.5, 1.5]})
    cover = market_asof(runline, "runline", asof).to_list()
    assert cover[0] == pytest.approx(_fair(140, -160), abs=1e-15) and cover[1] is None
    assert market_asof(labelled, "run_diff", asof).null_count() == 3


def test_the_interval_resamples_dates_not_games() -> None:
    """Every game duplicated on its own date changes nothing in a bootstrap over dates (the same
    dates are drawn), while a bootstrap over games wrongly narrows."""
    rng = np.random.default_rng(3)
    values = rng.normal(0.01, 0.1, 300)
    days = np.repeat(np.arange(60), 5)
    by_date = mean_ci(values, days=days, n_resamples=500, seed=1)
    doubled = mean_ci(np.r_[values, values], days=np.r_[days, days], n_resamples=500, seed=1)
    assert (doubled.estimate, doubled.low, doubled.high) == pytest.approx(
        (by_date.estimate, by_date.low, by_date.high)
    )
    per_game = mean_ci(values, n_resamples=500, seed=1)
    per_game_doubled = mean_ci(np.r_[values, values], n_resamples=500, seed=1)
    assert per_game_doubled.high - per_game_doubled.low < 0.8 * (per_game.high - per_game.low)


def test_2016_is_scored_against_the_price_bet_into(training_data) -> None:
    """In the SBRO-only seasons the price at the cutoff is the open; in 2016 Pinnacle's price at
    the cutoff differs from it, and the evaluation reports the model against each."""
    frame = training_data.labelled("moneyline").filter(pl.col("season").is_in([2015, 2016]))
    y2015 = frame.filter(pl.col("season") == 2015, pl.col("market_asof").is_not_null())
    assert y2015.height > 2000
    assert np.allclose(y2015["market_asof"].to_numpy(), y2015["market_open"].to_numpy(), rtol=0, atol=1e-15)
    y2016 = frame.filter(pl.col("season") == 2016, pl.col("start_known"), pl.col("y").is_not_null())
    differs = (y2016["market_asof"] - y2016["market_open"]).abs() > 1e-9
    assert y2016.height > 2000 and differs.mean() > 0.8
    predictions = frame.select(
        pl.lit("moneyline").alias("target"), "season", "date", "y", pl.col("market_open").alias("p_model"),
        "market_open", "market_asof", "market_close",
    )  # fmt: skip
    scores, differences = compare(predictions, n_resamples=200)
    gap = differences.filter(
        pl.col("season") == "2016", pl.col("scope") == "common", pl.col("versus") == "market_asof",
        pl.col("metric") == "log_loss",
    )  # fmt: skip
    assert gap.height == 1 and gap["estimate"][0] != 0.0
    same = differences.filter(
        pl.col("season") == "2015", pl.col("scope") == "common", pl.col("versus") == "market_asof",
        pl.col("metric") == "log_loss",
    )  # fmt: skip
    assert same["estimate"][0] == pytest.approx(0.0, abs=1e-12)
    assert "at as_of" in markdown_table(scores, differences, "moneyline")
    # The run line has no SBRO open: its opening price is Pinnacle's first run-line quote, not the
    # one in force at the cutoff.
    runline = training_data.labelled("runline").filter(
        pl.col("season") == 2016, pl.col("market_open").is_not_null(), pl.col("market_asof").is_not_null()
    )
    assert runline.height > 1000
    assert ((runline["market_open"] - runline["market_asof"]).abs() > 1e-9).mean() > 0.3
