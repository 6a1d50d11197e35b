"""Champion against challenger on the same games: more money at better prices, and the gate.

Model ``a`` (the champion) and model ``b`` (the challenger) are compared on games neither was
trained on. Every difference is **b minus a**: a positive ROI or CLV difference favours the
challenger.

**Money** (:func:`compare_bets`). Two backtests of the same games: the difference in ROI (profit
over turnover) and in mean closing-line value, each with a bootstrap interval over days, both
strategies' bets of a day resampled together.

**The gate** (:func:`gate`): both models predict the same labelled games, then
:func:`mlbedge.promotion.promotion_gate` decides (the forecasts' comparison and the promotion rule
live in :mod:`mlbedge.promotion`, shared with ``mlbedge retrain``).

Two registered models compared end to end on stored data (forecasts, a backtest each, the gate):
:func:`mlbedge.research.compare.compare_models`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.betting.backtest import ProbabilityModel
from mlbedge.promotion import GateDecision, compare_forecasts, json_ready, promotion_gate
from mlbedge.scoring import Interval, bootstrap_ci, ratio_of_totals

FloatArray = npt.NDArray[np.float64]


def _ratio_difference(
    num_a: FloatArray, den_a: FloatArray, num_b: FloatArray, den_b: FloatArray
) -> FloatArray:
    return ratio_of_totals(num_b, den_b) - ratio_of_totals(num_a, den_a)


@dataclass(frozen=True)
class BettingComparison:
    """Two backtests of the same games: ROI and mean CLV of each, and their differences (b - a)."""

    n_bets_a: int
    n_bets_b: int
    staked_a: float
    staked_b: float
    roi_a: float
    roi_b: float
    roi_difference: Interval
    clv_a: float
    clv_b: float
    clv_difference: Interval
    n_days: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return json_ready(asdict(self))


def _daily(bets: pl.DataFrame, suffix: str) -> pl.DataFrame:
    action = bets.filter(pl.col("result") != "void")
    clv = pl.col("clv").fill_nan(None)
    return action.group_by("date").agg(
        pl.col("profit").sum().alias(f"profit_{suffix}"),
        pl.col("stake").sum().alias(f"stake_{suffix}"),
        clv.sum().alias(f"clv_{suffix}"),
        clv.is_not_null().sum().cast(pl.Float64).alias(f"n_clv_{suffix}"),
    )


def compare_bets(
    bets_a: pl.DataFrame,
    bets_b: pl.DataFrame,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BettingComparison:
    """ROI and CLV of two backtests' bets (:attr:`BacktestResult.bets`), with bootstrap intervals of
    the differences over days (void bets are no turnover; bets without a comparable close no CLV)."""
    days = (
        _daily(bets_a, "a")
        .join(_daily(bets_b, "b"), on="date", how="full", coalesce=True)
        .fill_null(0.0)
        .sort("date")
    )
    arrays = {c: days[c].cast(pl.Float64).to_numpy() for c in days.columns if c != "date"}

    def interval(numerator: str, denominator: str) -> Interval:
        if days.is_empty():
            return Interval(math.nan, math.nan, math.nan, confidence)
        return bootstrap_ci(
            _ratio_difference,
            arrays[f"{numerator}_a"],
            arrays[f"{denominator}_a"],
            arrays[f"{numerator}_b"],
            arrays[f"{denominator}_b"],
            n_resamples=n_resamples,
            confidence=confidence,
            seed=seed,
        )

    def ratio(numerator: str, denominator: str) -> float:
        total = float(arrays[denominator].sum()) if days.height else 0.0
        return float(arrays[numerator].sum()) / total if total > 0 else math.nan

    action_a = bets_a.filter(pl.col("result") != "void")
    action_b = bets_b.filter(pl.col("result") != "void")
    return BettingComparison(
        n_bets_a=action_a.height,
        n_bets_b=action_b.height,
        staked_a=float(action_a["stake"].sum()),
        staked_b=float(action_b["stake"].sum()),
        roi_a=ratio("profit_a", "stake_a"),
        roi_b=ratio("profit_b", "stake_b"),
        roi_difference=interval("profit", "stake"),
        clv_a=ratio("clv_a", "n_clv_a"),
        clv_b=ratio("clv_b", "n_clv_b"),
        clv_difference=interval("clv", "n_clv"),
        n_days=days.height,
    )


# ----------------------------------------------------------------------------------------------
# the promotion gate on two models


def model_matrix(model: ProbabilityModel, frame: pl.DataFrame) -> FloatArray:
    """``frame``'s columns in the model's input order, as floats (nulls NaN)."""
    missing = [c for c in model.feature_names if c not in frame.columns]
    if missing:
        raise ValueError(f"the frame lacks the model's input column(s) {missing[:5]}")
    return frame.select(pl.col(model.feature_names).cast(pl.Float64)).to_numpy()


def gate(
    champion: ProbabilityModel,
    challenger: ProbabilityModel,
    labelled: pl.DataFrame,
    *,
    margin: float = 0.0,
    alpha: float | None = None,
    min_games: int = 100,
    n_resamples: int = 2000,
    seed: int = 0,
) -> GateDecision:
    """The retraining gate: both models predict the labelled games (``y`` and ``date`` columns plus
    their inputs; rows without a label are left out), then :func:`promotion_gate` decides."""
    rows = labelled.filter(pl.col("y").is_not_null())
    if rows.is_empty():
        return GateDecision(False, "kept: no labelled games to compare on", None)
    p_a = champion.predict_many(model_matrix(champion, rows))
    p_b = challenger.predict_many(model_matrix(challenger, rows))
    forecasts = compare_forecasts(
        rows["y"].to_numpy(), p_a, p_b, rows["date"].to_numpy(), n_resamples=n_resamples, seed=seed
    )
    return promotion_gate(forecasts, margin=margin, alpha=alpha, min_games=min_games)
