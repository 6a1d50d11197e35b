"""Metrics: closing-line value, money, forecast scores and bootstrap intervals, each against numbers
worked out by hand in the comments."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from mlbedge import scoring
from mlbedge.betting.metrics import (
    accuracy,
    bootstrap_ci,
    brier,
    calibration_bins,
    closing_probability,
    clv,
    clv_probability,
    ece,
    flat_yield,
    hit_rate,
    log_loss,
    max_drawdown,
    mean_ci,
    roi,
    roi_ci,
)

# ----------------------------------------------------------------------------------------------
# closing-line value


def test_clv_against_a_fair_close() -> None:
    # +110 pays 2.1 back per unit; a fair close of 0.5 makes that worth 0.5 * 2.1 - 1 = 0.05.
    assert clv(110, 0.5) == pytest.approx(0.05, abs=1e-12)
    # -150 pays 5/3; against 0.62 at the close: 0.62 * 5/3 - 1 = 1/30.
    assert clv(-150, 0.62) == pytest.approx(1 / 30, abs=1e-12)
    # Beaten by the close: -150 (0.6 implied) when the fair close is 0.55: 0.55 * 5/3 - 1 = -1/12.
    assert clv(-150, 0.55) == pytest.approx(-1 / 12, abs=1e-12)
    # In probability points: 0.5 - 100/210 = 1/42; 0.55 - 0.6 = -0.05.
    assert clv_probability(110, 0.5) == pytest.approx(1 / 42, abs=1e-12)
    assert clv_probability(-150, 0.55) == pytest.approx(-0.05, abs=1e-12)


def test_closing_probability_removes_the_margin() -> None:
    # -120 / +100: implied 6/11 and 1/2, total 23/22; multiplicative fair 12/23 and 11/23.
    assert closing_probability(-120, 100) == pytest.approx(12 / 23, abs=1e-12)
    assert closing_probability(100, -120) == pytest.approx(11 / 23, abs=1e-12)
    # Additive: 6/11 - (1/22) / 2 = 23/44.
    assert closing_probability(-120, 100, "additive") == pytest.approx(23 / 44, abs=1e-12)
    # A bet at +100 on the side that closed -120: 12/23 * 2 - 1 = 1/23.
    assert clv(100, closing_probability(-120, 100)) == pytest.approx(1 / 23, abs=1e-12)


def test_clv_is_vectorised_and_missing_prices_give_nan() -> None:
    close = closing_probability(np.array([-120.0, np.nan, 100.0]), np.array([100.0, 100.0, -120.0]))
    got = clv(np.array([100, 100, 110]), close)
    assert got[0] == pytest.approx(1 / 23, abs=1e-12)
    assert math.isnan(got[1])
    assert got[2] == pytest.approx(11 / 23 * 2.1 - 1, abs=1e-12)
    assert clv_probability(np.array([110, -150]), np.array([0.5, 0.55])) == pytest.approx([1 / 42, -0.05])


# ----------------------------------------------------------------------------------------------
# money


def test_roi_yield_and_hit_rate() -> None:
    # Win 100 at -150 on 150, lose 150, win 130 at +130 on 100: profit 80 on 400 staked.
    profit = [100.0, -150.0, 130.0]
    stake = [150.0, 150.0, 100.0]
    assert roi(profit, stake) == pytest.approx(0.2, abs=1e-12)
    # Per unit: 2/3, -1, 1.3; their mean is (2/3 - 1 + 1.3) / 3 = 0.32222.
    assert flat_yield(profit, stake) == pytest.approx((2 / 3 - 1 + 1.3) / 3, abs=1e-12)
    # Two wins, one loss; the push and the void are not decided.
    assert hit_rate(["win", "loss", "push", "void", "win"]) == pytest.approx(2 / 3)
    assert hit_rate(pl.Series(["loss", "win"])) == 0.5


def test_money_edge_cases() -> None:
    assert math.isnan(roi([], []))
    assert math.isnan(roi([0.0], [0.0]))
    assert math.isnan(flat_yield([], []))
    assert math.isnan(hit_rate(["push", "void"]))
    with pytest.raises(ValueError, match="unknown bet result"):
        hit_rate(["win", "draw"])
    with pytest.raises(ValueError, match="one stake per profit"):
        roi([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="profit must be finite; entry 1"):
        roi([1.0, math.nan], [1.0, 1.0])


def test_max_drawdown() -> None:
    # 120 -> 90 is 25% off the peak; 130 -> 65 is 50%.
    assert max_drawdown([100, 120, 90, 130, 65]) == 0.5
    assert max_drawdown([100, 120, 90, 130, 140]) == 0.25
    assert max_drawdown([100, 101, 102]) == 0.0
    assert max_drawdown([100, 0]) == 1.0
    assert max_drawdown([]) == 0.0
    with pytest.raises(ValueError, match="starts positive"):
        max_drawdown([0, 10])


# ----------------------------------------------------------------------------------------------
# forecasts


def test_forecast_scores_by_hand() -> None:
    assert log_loss([0.5, 0.5], [1, 0]) == pytest.approx(math.log(2), abs=1e-12)
    # -(ln 0.8 + ln 0.7) / 2
    assert log_loss([0.8, 0.3], [1, 0]) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2, abs=1e-12)
    # (0.2^2 + 0.3^2) / 2 = 0.065
    assert brier([0.8, 0.3], [1, 0]) == pytest.approx(0.065, abs=1e-12)
    assert brier([0.5] * 4, [1, 0, 1, 1]) == 0.25
    # Right, right, wrong, a coin toss: (1 + 1 + 0 + 0.5) / 4
    assert accuracy([0.8, 0.3, 0.6, 0.5], [1, 0, 0, 1]) == 0.625
    # A certain forecast that is wrong costs log(1e-15), not infinity.
    assert log_loss([1.0], [0]) == pytest.approx(-math.log(1e-15), rel=1e-4)


def test_calibration_bins_and_ece() -> None:
    # Two forecasts of 0.1 (one hit) and two of 0.9 (both hits): gaps 0.4 and 0.1, equal weights.
    p, y = [0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1]
    assert ece(p, y) == pytest.approx(0.25, abs=1e-12)
    bins = calibration_bins(p, y)
    assert bins["bin"].to_list() == [1, 9]
    assert bins["n"].to_list() == [2, 2]
    assert bins["frequency"].to_list() == [0.5, 1.0]
    assert bins["lower"].to_list() == [0.1, 0.9]
    # 1.0 falls in the last bin; forecasts that match their frequency have no error.
    assert calibration_bins([1.0, 0.0], [1, 0])["bin"].to_list() == [0, 9]
    assert ece([0.25] * 4 + [0.75] * 4, [1, 0, 0, 0, 1, 1, 1, 0]) == 0.0
    # Five bins: 0.3 and 0.35 share [0.2, 0.4): mean forecast 0.325, frequency 0.5, gap 0.175.
    assert ece([0.3, 0.35], [1, 0], n_bins=5) == pytest.approx(0.175, abs=1e-12)


def test_forecast_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match=r"probabilities must be finite; entry 1 is nan"):
        log_loss([0.5, math.nan], [1, 0])
    with pytest.raises(ValueError, match=r"outcome 2\.0 at entry 0"):
        brier([0.5], [2])
    with pytest.raises(ValueError, match=r"probability 1\.2 at entry 0 lies outside"):
        accuracy([1.2], [1])
    with pytest.raises(ValueError, match="no forecasts"):
        ece([], [])
    with pytest.raises(ValueError, match="one outcome per probability"):
        brier([0.5, 0.5], [1])


# ----------------------------------------------------------------------------------------------
# bootstrap


def test_bootstrap_of_two_values() -> None:
    """Resampling [0, 1] twice gives a mean of 0 (1/4), 0.5 (1/2) or 1 (1/4): the 30th and 70th
    percentiles both sit on 0.5, the 1st and 99th on 0 and 1."""
    narrow = mean_ci([0.0, 1.0], confidence=0.4, n_resamples=4000)
    assert (narrow.estimate, narrow.low, narrow.high) == (0.5, 0.5, 0.5)
    wide = mean_ci([0.0, 1.0], confidence=0.98, n_resamples=4000)
    assert (wide.low, wide.high) == (0.0, 1.0)


def test_bootstrap_width_matches_the_standard_error() -> None:
    # 400 draws of sd 1: the 95% interval of the mean is about 2 * 1.96 / 20 = 0.196 wide.
    values = np.random.default_rng(11).normal(0.0, 1.0, 400)
    interval = mean_ci(values, n_resamples=4000)
    sd = values.std(ddof=0)
    assert interval.low < values.mean() < interval.high
    assert interval.high - interval.low == pytest.approx(2 * 1.96 * sd / 20, rel=0.1)


def test_bootstrap_is_seeded_and_chunk_free(monkeypatch: pytest.MonkeyPatch) -> None:
    values = np.random.default_rng(3).normal(0.0, 1.0, 500)
    first = mean_ci(values, seed=7)
    assert mean_ci(values, seed=7) == first
    assert mean_ci(values, seed=8) != first
    # Drawing the resamples in chunks of 3 gives the very same interval as all at once.
    monkeypatch.setattr(scoring, "_RESAMPLE_CELLS", 3 * 500)
    assert mean_ci(values, seed=7) == first


def test_roi_interval() -> None:
    profit = np.array([100.0, -150.0, 130.0, -100.0, 90.0])
    stake = np.array([150.0, 150.0, 100.0, 100.0, 100.0])
    interval = roi_ci(profit, stake)
    assert interval.estimate == pytest.approx(roi(profit, stake))  # 70 / 600
    # A resample can hold only the -150 bet (ROI -1) or only the +130 one (1.3): the bounds.
    assert -1.0 <= interval.low < interval.estimate < interval.high <= 1.3
    constant = roi_ci([10.0, 10.0, 10.0], [100.0, 100.0, 100.0])
    assert (constant.low, constant.high) == pytest.approx((0.1, 0.1))
    assert math.isnan(roi_ci([], []).estimate)


def test_bootstrap_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        roi_ci([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        mean_ci([1.0], confidence=1.0)
    with pytest.raises(ValueError, match="at least one array"):
        bootstrap_ci(np.mean)
