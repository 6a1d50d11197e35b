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

**The close strategy's gate** (:func:`close_gate`). A move model bets the opening price where it
predicts the market to move toward a side, so its natural record is not a log loss on outcomes
but the **closing-line value** of the bets it would have placed: on the same out-of-fold record
(each block's moves predicted by a model of earlier blocks), the bets of the close rule
(:class:`mlbedge.betting.strategy.CloseRule`: the side the predicted close favours over the open
by more than the margin, with a positive expected CLV) and their realised CLV, de-vigged close of
that side x decimal opening odds - 1. The gate passes when at least :data:`MIN_BETS` such bets
have a mean CLV whose 95% bootstrap interval (whole dates resampled) lies above zero. CLV is the
measure because it is what the strategy is built to earn and far less noisy than outcomes (a bet's
result is a coin flip; its CLV is a price difference); a model with positive CLV but no outcome
record still beats the close in the long run. Its weight is 1: the predicted close is bet as it is
(the margin, not a blend, is its shrinkage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.scoring import bootstrap_ci, mean_ci

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

# The close strategy: a side is bet where its predicted close exceeds its open by more than this on
# the logit scale (DESIGN.md's one-feature move model used the same 0.04).
DEFAULT_CLOSE_MARGIN = 0.04
# Fewer out-of-sample bets than this say nothing about a mean CLV of a fraction of a percent.
MIN_BETS = 100
# The record a move model's gate is judged on: per game its predicted move (``p_model``) and the
# actual one (``y``), logits of side a; the de-vigged opening probability of side a (``p_market``);
# the decimal opening odds of both sides.
CLOSE_RECORD_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "season": pl.Int64(),
    "p_model": pl.Float64(),
    "p_market": pl.Float64(),
    "y": pl.Float64(),
    "open_decimal_yes": pl.Float64(),
    "open_decimal_no": pl.Float64(),
}


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
    # What ``difference`` measures: ``log_loss`` (model minus market; negative is better) or, for
    # the close strategy, ``clv`` (the mean closing-line value per bet; positive is better).
    measure: str = "log_loss"

    def as_dict(self) -> dict[str, Any]:
        """The JSON form: ``passed, reason, seasons, difference, ci, n_games, weight, enabled, measure``."""
        return {
            "passed": self.passed,
            "reason": self.reason,
            "seasons": self.seasons,
            "difference": self.difference,
            "ci": None if self.ci is None else [self.ci[0], self.ci[1]],
            "n_games": self.n_games,
            "weight": self.weight,
            "enabled": self.enabled,
            "measure": self.measure,
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


# ----------------------------------------------------------------------------------------------
# the close strategy's gate: closing-line value of the bets its rule would have placed


def close_bets(record: pl.DataFrame, margin: float = DEFAULT_CLOSE_MARGIN) -> pl.DataFrame:
    """The bets of the close rule on a move model's record (:data:`CLOSE_RECORD_SCHEMA`): per game
    at most one side, the one whose predicted close beats its open by more than ``margin`` (logit)
    with a positive expected CLV at the opening odds; columns ``game_id, season, day, side``
    (``a``/``b``), ``expected_clv`` and ``clv`` (realised: de-vigged close x decimal odds - 1)."""
    rows = (
        record.select(list(CLOSE_RECORD_SCHEMA))
        .drop_nulls()
        .filter(
            pl.col("p_market").is_between(0.0, 1.0, closed="none")
            & pl.col("p_model").is_finite()
            & pl.col("y").is_finite()
            & (pl.col("open_decimal_yes") > 1.0)
            & (pl.col("open_decimal_no") > 1.0)
        )
    )
    q = pl.col("p_market").clip(_EPS, 1.0 - _EPS)
    open_logit = (q / (1.0 - q)).log()
    predicted_a = 1.0 / (1.0 + (-(open_logit + pl.col("p_model"))).exp())
    close_a = 1.0 / (1.0 + (-(open_logit + pl.col("y"))).exp())
    side_a = pl.col("p_model") > margin
    expected = (
        pl.when(side_a)
        .then(predicted_a * pl.col("open_decimal_yes"))
        .otherwise((1.0 - predicted_a) * pl.col("open_decimal_no"))
    )
    realised = (
        pl.when(side_a)
        .then(close_a * pl.col("open_decimal_yes"))
        .otherwise((1.0 - close_a) * pl.col("open_decimal_no"))
    )
    return (
        rows.filter(pl.col("p_model").abs() > margin)
        .with_columns(
            day=pl.col("game_id").str.slice(0, 8),
            side=pl.when(side_a).then(pl.lit("a")).otherwise(pl.lit("b")),
            expected_clv=expected - 1.0,
            clv=realised - 1.0,
        )
        .filter(pl.col("expected_clv") > 0.0)
        .select("game_id", "season", "day", "side", "expected_clv", "clv")
    )


def close_gate(
    record: pl.DataFrame,
    market: str,
    *,
    margin: float = DEFAULT_CLOSE_MARGIN,
    before_season: int | None = None,
    min_bets: int = MIN_BETS,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
    enabled: bool = True,
) -> Gate:
    """Judge the close strategy on ``market`` by the closing-line value of the bets its rule would
    have placed on a move model's out-of-fold ``record`` (:func:`close_bets`; only seasons before
    ``before_season`` when given): open when at least ``min_bets`` bets have a mean CLV whose
    interval over dates lies above zero (see the module notes). ``enabled=False`` lets it bet
    whatever the record and still reports it."""
    bets = close_bets(record, margin)
    if before_season is not None:
        bets = bets.filter(pl.col("season") < before_season)
    seasons = sorted(bets["season"].unique().to_list())
    span = f"{seasons[0]}-{seasons[-1]}" if len(seasons) > 1 else (str(seasons[0]) if seasons else "")
    what = f"{market} (close strategy, margin {margin:g})"
    if bets.height < min_bets:
        reason = (
            f"{what}: only {bets.height} out-of-sample bets" + (f" ({span})" if span else "")
            + f" to judge the closing-line value on (needs {min_bets})"
        )  # fmt: skip
        if not enabled:
            return Gate(
                market, True, f"gate off; {reason}", seasons, None, None, bets.height, 1.0, False, "clv"
            )
        return Gate(market, False, f"{reason}: no bet", seasons, None, None, bets.height, 0.0, True, "clv")
    interval = mean_ci(
        bets["clv"].to_numpy(),
        days=bets["day"].to_numpy(),
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    mean, ci = float(interval.estimate), (float(interval.low), float(interval.high))
    passed = ci[0] > 0.0
    level = f"{confidence:.0%}"
    record_text = (
        f"{bets.height:,} out-of-sample bets at the open ({span}): mean CLV {mean:+.2%}, "
        f"{level} CI [{ci[0]:+.2%}, {ci[1]:+.2%}]"
    )
    if passed:
        reason = f"{what}: the predicted close beat the open on {record_text}"
    else:
        reason = (
            f"{what}: no bet, the predicted close has not beaten the open on {record_text}, not above zero"
        )
    if not enabled:
        return Gate(market, True, f"gate off; {reason}", seasons, mean, ci, bets.height, 1.0, False, "clv")
    return Gate(market, passed, reason, seasons, mean, ci, bets.height, 1.0 if passed else 0.0, True, "clv")
