"""Whether a market's model has earned the right to bet, and how far to trust its edges: a leaf
module (numpy, polars and :mod:`mlbedge.scoring`) that training, betting and serving all read.

**The gate.** A market is bet only when the model's out-of-sample record, on seasons before the
one being bet, beats the price it would bet into: per game, the model's log loss minus the
market's (the de-vigged price at the cutoff), averaged, with a 95% bootstrap interval (games
resampled). The gate passes when the whole interval is below zero. Otherwise the market places
no bet, and :attr:`Gate.reason` says why in a sentence.

**Shrinking.** Even a market that passes has a model that is only partly better than the price.
The probability bet on is the model and the market blended on the logit scale,
``sigmoid(w * logit(p_model) + (1 - w) * logit(p_market))``, with ``w`` in [0, 1] the weight that
minimises the log loss of the same out-of-sample record (:func:`fit_blend_weight`); then an edge
larger than ``max_edge`` — one no record supports — is capped (:func:`cap_probability`;
:func:`mlbedge.betting.skill.cap_edges` in the betting rule).

The record is what the trainer keeps of its out-of-fold predictions: each date block predicted by
a model of the earlier blocks only (:attr:`mlbedge.training.trainer.MarketModel.oof_probability_`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.scoring import bootstrap_ci

FloatArray = npt.NDArray[np.float64]

RECORD_SCHEMA: dict[str, pl.DataType] = {
    "season": pl.Int64(),
    "p_model": pl.Float64(),
    "p_market": pl.Float64(),
    "y": pl.Float64(),
}
MIN_GAMES = 200  # fewer out-of-sample games than this say nothing about a few basis points of log loss
DEFAULT_MAX_EDGE = 0.10
_EPS = 1e-6


@dataclass(frozen=True)
class Gate:
    """The verdict on one market: may it bet, and with what trust in the model."""

    market: str
    passed: bool
    reason: str
    seasons: list[int] = field(default_factory=list)
    difference: float | None = None  # mean log loss, model minus market (negative: the model is better)
    ci: tuple[float, float] | None = None
    n_games: int = 0
    weight: float = 0.0  # the model's share on the logit scale (0: the market's price alone)
    enabled: bool = True

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``passed, reason, seasons, difference, ci, n_games, weight``."""
        return {
            "passed": self.passed,
            "reason": self.reason,
            "seasons": self.seasons,
            "difference": self.difference,
            "ci": None if self.ci is None else [self.ci[0], self.ci[1]],
            "n_games": self.n_games,
            "weight": self.weight,
            "enabled": self.enabled,
        }


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return np.log(q / (1.0 - q))


def _sigmoid(z: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-z))


def _game_log_loss(p: FloatArray, y: FloatArray) -> FloatArray:
    q = np.clip(p, _EPS, 1.0 - _EPS)
    return -(y * np.log(q) + (1.0 - y) * np.log(1.0 - q))


def _usable(record: pl.DataFrame) -> pl.DataFrame:
    return (
        record.select(list(RECORD_SCHEMA))
        .drop_nulls()
        .filter(
            pl.col("p_model").is_between(0.0, 1.0, closed="none")
            & pl.col("p_market").is_between(0.0, 1.0, closed="none")
            & pl.col("y").is_in([0.0, 1.0])
        )
    )


def blend(p_model: npt.ArrayLike, p_market: npt.ArrayLike, weight: float) -> FloatArray:
    """Model and market on the logit scale: ``sigmoid(w logit(p_model) + (1 - w) logit(p_market))``."""
    model = np.asarray(p_model, dtype=np.float64)
    market = np.asarray(p_market, dtype=np.float64)
    return _sigmoid(weight * _logit(model) + (1.0 - weight) * _logit(market))


def fit_blend_weight(record: pl.DataFrame, grid: int = 101) -> float:
    """The weight in [0, 1] whose blend has the lowest log loss on ``record`` (a grid search: one
    parameter, and the log loss is convex in it)."""
    rows = _usable(record)
    if rows.is_empty():
        return 0.0
    model = _logit(rows["p_model"].to_numpy())
    market = _logit(rows["p_market"].to_numpy())
    y = rows["y"].to_numpy()
    weights = np.linspace(0.0, 1.0, grid)
    # Every weight at once: a (grid x games) matrix of blended probabilities.
    p = _sigmoid(weights[:, None] * model[None, :] + (1.0 - weights[:, None]) * market[None, :])
    losses = _game_log_loss(p, y[None, :]).mean(axis=1)
    return float(weights[int(np.argmin(losses))])


def cap_probability(probability: npt.ArrayLike, decimal_odds: npt.ArrayLike, max_edge: float) -> FloatArray:
    """``probability`` lowered where its edge ``p * decimal - 1`` would exceed ``max_edge``."""
    p = np.asarray(probability, dtype=np.float64)
    decimal = np.asarray(decimal_odds, dtype=np.float64)
    return np.minimum(p, (1.0 + max_edge) / decimal)


def _mean_difference(diff: FloatArray) -> FloatArray:
    return diff.mean(axis=-1)


def skill_gate(
    record: pl.DataFrame,
    market: str,
    *,
    before_season: int | None = None,
    min_games: int = MIN_GAMES,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    enabled: bool = True,
) -> Gate:
    """Judge ``market`` on its out-of-sample ``record`` (:data:`RECORD_SCHEMA` rows; only seasons
    before ``before_season`` count when given). ``enabled=False`` lets every market bet but still
    measures and reports the record."""
    rows = _usable(record)
    if before_season is not None:
        rows = rows.filter(pl.col("season") < before_season)
    seasons = sorted(rows["season"].unique().to_list())
    span = f"{seasons[0]}-{seasons[-1]}" if len(seasons) > 1 else (str(seasons[0]) if seasons else "")
    if rows.height == 0:
        reason = f"{market}: no out-of-sample game had a price at the cutoff to judge the model against"
        if not enabled:
            return Gate(market, True, f"gate off; {reason}", seasons, None, None, 0, 1.0, False)
        return Gate(market, False, f"{reason}: no bet", seasons, None, None, 0, 0.0, True)
    if rows.height < min_games:
        reason = (
            f"{market}: only {rows.height} out-of-sample games"
            + (f" ({span})" if span else "")
            + f" to judge the model on (needs {min_games})"
        )
        if not enabled:
            return Gate(market, True, f"gate off; {reason}", seasons, None, None, rows.height, 1.0, False)
        return Gate(market, False, f"{reason}: no bet", seasons, None, None, rows.height, 0.0, True)
    y = rows["y"].to_numpy()
    diff = _game_log_loss(rows["p_model"].to_numpy(), y) - _game_log_loss(rows["p_market"].to_numpy(), y)
    interval = bootstrap_ci(_mean_difference, diff, n_resamples=n_resamples, confidence=confidence, seed=seed)
    ci = (float(interval.low), float(interval.high))
    mean = float(interval.estimate)
    passed_record = ci[1] < 0.0
    weight = fit_blend_weight(rows) if passed_record else 0.0
    level = f"{confidence:.0%}"
    if passed_record:
        reason = (
            f"{market}: the model beat the price it bets into on {rows.height:,} out-of-sample games "
            f"({span}): log loss {mean:+.4f} vs the market, {level} CI [{ci[0]:+.4f}, {ci[1]:+.4f}]; "
            f"model weight {weight:.2f}"
        )
    else:
        reason = (
            f"{market}: no bet, the model has not beaten the price it bets into on {rows.height:,} "
            f"out-of-sample games ({span}): log loss {mean:+.4f} vs the market, {level} CI "
            f"[{ci[0]:+.4f}, {ci[1]:+.4f}] does not lie below zero"
        )
    if not enabled:
        # Off: every market bets on the model alone, as before the gate; the record is still shown.
        return Gate(market, True, f"gate off; {reason}", seasons, mean, ci, rows.height, 1.0, False)
    return Gate(market, passed_record, reason, seasons, mean, ci, rows.height, weight, True)
