"""What a bettor reads off a record of bets and forecasts: CLV, ROI, hit rate, drawdown, scores, intervals.

**Closing-line value.** The closing price is the sharpest estimate of a side's chance; beating it is
the best evidence of an edge that a short record of results can give. With ``p_close`` the
de-vigged closing probability of the side bet on (margin removed from both closing prices):

- :func:`clv` ``= p_close * decimal(bet price) - 1``: the expected profit per unit staked if the
  closing line is the truth. **This is the number reported as ``clv``** (``clv_mean`` in the
  backtest) because it is in the same unit as ROI and weighs a price gap by what it pays.
- :func:`clv_probability` ``= p_close - implied(bet price)``: the same comparison in probability
  points. Positive in both means the bet beat the close.

For totals and run lines the closing probability must be for the same line as the bet (a bet on
over 8 is not comparable with a close of 8.5); the caller leaves such bets out.

**Money.** :func:`roi` is total profit over total staked (stake weighted); :func:`flat_yield` is the
mean profit per unit staked with every bet weighted equally, the ROI of the same picks at flat
stakes, which separates picking from sizing. Void bets (no action) are no turnover: leave them out
of both. :func:`hit_rate` counts wins over decided bets (pushes and voids left out).
:func:`max_drawdown` is the largest fall of a bankroll curve from its running peak, as a fraction of
that peak.

**Forecasts and intervals** (:func:`log_loss`, :func:`brier`, :func:`accuracy`, :func:`ece`,
:func:`calibration_bins`, :func:`bootstrap_ci`, :func:`mean_ci`) live in the leaf module
:mod:`mlbedge.scoring`, which training and betting both read; they stay importable from here.
:func:`roi_ci` applies the bootstrap to ROI (profit and stake resampled together). Bets are
resampled independently, which ignores that bets of one day share a bankroll; the interval is for
the per-bet quantities, not the bankroll path.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.domain.odds import DevigMethod, american_to_decimal, american_to_implied, fair_two_way
from mlbedge.scoring import (
    FloatArray,
    Interval,
    Statistic,
    _finite,
    accuracy,
    bootstrap_ci,
    brier,
    calibration_bins,
    ece,
    log_loss,
    mean_ci,
    per_day,
    per_game_log_loss,
)

__all__ = [
    "FloatArray", "Interval", "Statistic", "accuracy", "bootstrap_ci", "brier", "calibration_bins",
    "closing_probability", "clv", "clv_probability", "ece", "flat_yield", "hit_rate", "log_loss",
    "max_drawdown", "mean_ci", "per_game_log_loss", "roi", "roi_ci",
]  # fmt: skip

# ----------------------------------------------------------------------------------------------
# closing-line value


@overload
def clv(bet_odds: float, close_probability: float) -> float: ...
@overload
def clv(bet_odds: npt.ArrayLike, close_probability: npt.ArrayLike) -> FloatArray: ...
def clv(bet_odds: npt.ArrayLike, close_probability: npt.ArrayLike) -> float | FloatArray:
    """Closing-line value as expected profit per unit: ``p_close * decimal(bet_odds) - 1``.

    ``close_probability`` is the de-vigged closing probability of the side bet on. +110 against a
    fair close of 0.5 is ``0.5 * 2.1 - 1 = 0.05``. Arrays broadcast; a missing value gives NaN.
    """
    decimal = american_to_decimal(bet_odds)
    value = np.asarray(close_probability, dtype=np.float64) * decimal - 1.0
    return float(value) if np.ndim(value) == 0 else value


@overload
def clv_probability(bet_odds: float, close_probability: float) -> float: ...
@overload
def clv_probability(bet_odds: npt.ArrayLike, close_probability: npt.ArrayLike) -> FloatArray: ...
def clv_probability(bet_odds: npt.ArrayLike, close_probability: npt.ArrayLike) -> float | FloatArray:
    """Closing-line value in probability points: ``p_close - implied(bet_odds)`` (+110 vs 0.5: 0.0238)."""
    value = np.asarray(close_probability, dtype=np.float64) - american_to_implied(bet_odds)
    return float(value) if np.ndim(value) == 0 else value


@overload
def closing_probability(close_odds: float, other_close_odds: float, method: DevigMethod = ...) -> float: ...
@overload
def closing_probability(
    close_odds: npt.ArrayLike, other_close_odds: npt.ArrayLike, method: DevigMethod = ...
) -> FloatArray: ...
def closing_probability(
    close_odds: npt.ArrayLike, other_close_odds: npt.ArrayLike, method: DevigMethod = "multiplicative"
) -> float | FloatArray:
    """De-vigged closing probability of a side from its closing price and the other side's.

    ``method`` is a de-vig method of :mod:`mlbedge.domain.odds`. Where either price is missing the
    result is NaN (arrays); two scalars give a float.
    """
    side, _ = fair_two_way(close_odds, other_close_odds, method)
    return side


# ----------------------------------------------------------------------------------------------
# money


def roi(profit: npt.ArrayLike, stake: npt.ArrayLike) -> float:
    """Return on turnover, ``sum(profit) / sum(stake)``; NaN when nothing was staked."""
    p = _finite(profit, "profit")
    s = _finite(stake, "stake")
    if p.shape != s.shape:
        raise ValueError(f"one stake per profit is needed, got {s.size} stakes and {p.size} profits")
    total = float(s.sum())
    return float(p.sum()) / total if total > 0.0 else math.nan


def flat_yield(profit: npt.ArrayLike, stake: npt.ArrayLike) -> float:
    """Mean profit per unit staked, each bet weighted equally (the ROI of flat stakes); NaN without bets.

    A bet with no stake has no return per unit and is left out.
    """
    p = _finite(profit, "profit")
    s = _finite(stake, "stake")
    if p.shape != s.shape:
        raise ValueError(f"one stake per profit is needed, got {s.size} stakes and {p.size} profits")
    staked = s > 0.0
    return float(np.mean(p[staked] / s[staked])) if staked.any() else math.nan


def hit_rate(results: npt.ArrayLike | pl.Series) -> float:
    """Share of decided bets that won: ``wins / (wins + losses)``; pushes and voids do not count.

    ``results`` holds the settlement results (``win``, ``loss``, ``push``, ``void``). NaN when no
    bet was decided.
    """
    values = np.asarray(results.to_numpy() if isinstance(results, pl.Series) else results, dtype=object)
    known = {"win", "loss", "push", "void"}
    unknown = [v for v in set(values.tolist()) if v not in known]
    if unknown:
        raise ValueError(
            f"unknown bet result(s) {sorted(map(str, unknown))}; expected win, loss, push or void"
        )
    wins = int(np.sum(values == "win"))
    decided = wins + int(np.sum(values == "loss"))
    return wins / decided if decided else math.nan


def max_drawdown(curve: npt.ArrayLike) -> float:
    """Largest fall of a bankroll curve from its running peak, as a fraction of that peak.

    ``[100, 120, 90, 130, 65]`` falls 25% (120 to 90), then 50% (130 to 65): 0.5. A curve that
    never falls gives 0. Values must be finite, the first one positive.
    """
    values = _finite(curve, "bankroll curve")
    if values.size == 0:
        return 0.0
    if values[0] <= 0.0:
        raise ValueError(f"a bankroll curve starts positive, this one starts at {float(values[0])!r}")
    peak = np.maximum.accumulate(values)
    return float(np.max((peak - values) / peak))


def _ratio_of_sums(profit: FloatArray, stake: FloatArray) -> FloatArray:
    total = stake.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0.0, profit.sum(axis=1) / total, np.nan)


def roi_ci(
    profit: npt.ArrayLike,
    stake: npt.ArrayLike,
    *,
    days: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """:func:`roi` with a bootstrap interval, each bet's profit and stake resampled together; with
    ``days`` (one per bet) whole days are resampled, since bets of one day are not independent."""
    if days is not None:
        profit, stake = per_day(days, profit, stake)
    return bootstrap_ci(
        _ratio_of_sums, profit, stake, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
