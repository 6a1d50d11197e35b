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

**Forecasts.** :func:`log_loss`, :func:`brier`, :func:`accuracy` and the expected calibration error
:func:`ece` (with :func:`calibration_bins` for a reliability diagram) score probabilities of a binary
outcome; every input must be finite.

**Intervals.** :func:`bootstrap_ci` resamples bets with replacement (seeded ``numpy`` Generator,
percentile interval); :func:`roi_ci` and :func:`mean_ci` apply it to ROI (profit and stake resampled
together) and to a mean such as CLV. Bets are resampled independently, which ignores that bets of
one day share a bankroll; the interval is for the per-bet quantities, not the bankroll path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.domain.odds import DevigMethod, american_to_decimal, american_to_implied, fair_two_way

FloatArray = npt.NDArray[np.float64]

_LOG_LOSS_CLIP = 1e-15  # a forecast of exactly 0 or 1 that is wrong scores log(1e-15), not infinity
_RESAMPLE_CELLS = 4_000_000  # resampled values held at once by the bootstrap (32 MB per array)


def _finite(values: npt.ArrayLike, what: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64).ravel()
    bad = ~np.isfinite(array)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{what} must be finite; entry {i} is {float(array[i])!r} ({int(bad.sum())} such entries)"
        )
    return array


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


# ----------------------------------------------------------------------------------------------
# forecasts


def _forecasts(probability: npt.ArrayLike, outcome: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    p = _finite(probability, "probabilities")
    y = _finite(outcome, "outcomes")
    if p.shape != y.shape:
        raise ValueError(
            f"one outcome per probability is needed, got {y.size} outcomes and {p.size} probabilities"
        )
    if p.size == 0:
        raise ValueError("no forecasts to score")
    outside = (p < 0.0) | (p > 1.0)
    if outside.any():
        i = int(np.argmax(outside))
        raise ValueError(f"probability {float(p[i])!r} at entry {i} lies outside [0, 1]")
    not_binary = (y != 0.0) & (y != 1.0)
    if not_binary.any():
        i = int(np.argmax(not_binary))
        raise ValueError(f"outcome {float(y[i])!r} at entry {i} is not 0 or 1")
    return p, y


def log_loss(probability: npt.ArrayLike, outcome: npt.ArrayLike) -> float:
    """Mean negative log likelihood of binary outcomes (natural log): 0.6931 for 0.5 on everything."""
    p, y = _forecasts(probability, outcome)
    p = np.clip(p, _LOG_LOSS_CLIP, 1.0 - _LOG_LOSS_CLIP)
    return float(-np.mean(y * np.log(p) + (1.0 - y) * np.log1p(-p)))


def brier(probability: npt.ArrayLike, outcome: npt.ArrayLike) -> float:
    """Mean squared difference between probability and outcome: 0.25 for 0.5 on everything."""
    p, y = _forecasts(probability, outcome)
    return float(np.mean((p - y) ** 2))


def accuracy(probability: npt.ArrayLike, outcome: npt.ArrayLike) -> float:
    """Share of outcomes on the side the forecast favours; a forecast of exactly 0.5 scores one half."""
    p, y = _forecasts(probability, outcome)
    hits = np.where(p == 0.5, 0.5, ((p > 0.5) == (y == 1.0)).astype(np.float64))
    return float(np.mean(hits))


def calibration_bins(probability: npt.ArrayLike, outcome: npt.ArrayLike, n_bins: int = 10) -> pl.DataFrame:
    """Equal-width bins of forecast probability with their mean forecast and observed frequency.

    Columns ``bin``, ``lower``, ``upper``, ``n``, ``mean_probability``, ``frequency``; empty bins are
    left out. Bin ``k`` holds ``[k / n_bins, (k + 1) / n_bins)``, the last one also 1.0.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    p, y = _forecasts(probability, outcome)
    index = np.minimum((p * n_bins).astype(np.int64), n_bins - 1)
    return (
        pl.DataFrame({"bin": index, "probability": p, "outcome": y})
        .group_by("bin")
        .agg(
            n=pl.len(),
            mean_probability=pl.col("probability").mean(),
            frequency=pl.col("outcome").mean(),
        )
        .with_columns(lower=pl.col("bin") / n_bins, upper=(pl.col("bin") + 1) / n_bins)
        .sort("bin")
        .select("bin", "lower", "upper", "n", "mean_probability", "frequency")
    )


def ece(probability: npt.ArrayLike, outcome: npt.ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error: the bins' ``|mean forecast - frequency|`` weighted by their share of forecasts."""
    bins = calibration_bins(probability, outcome, n_bins)
    gap = (bins["mean_probability"] - bins["frequency"]).abs()
    return float((gap * bins["n"]).sum() / bins["n"].sum())


# ----------------------------------------------------------------------------------------------
# bootstrap


@dataclass(frozen=True)
class Interval:
    """A point estimate and its bootstrap percentile interval at ``confidence``."""

    estimate: float
    low: float
    high: float
    confidence: float


Statistic = Callable[..., FloatArray]


def bootstrap_ci(
    statistic: Statistic,
    *arrays: npt.ArrayLike,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over items resampled with replacement.

    ``arrays`` are equally long, one entry per item (bet, game); each resample draws the same items
    from all of them. ``statistic`` is vectorised: it receives arrays of shape ``(k, n)``, ``k``
    resamples of ``n`` items, and returns ``k`` values (it is called once with ``k = 1`` on the data
    for the estimate). Resample values that are NaN (a resample with nothing staked) are left out of
    the quantiles. No items gives NaN throughout. Same ``seed``, same interval.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array to resample")
    data = [_finite(a, f"bootstrap input {i}") for i, a in enumerate(arrays)]
    n = data[0].size
    if any(d.size != n for d in data):
        raise ValueError(f"bootstrap inputs differ in length: {[d.size for d in data]}")
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, confidence)
    estimate = float(np.asarray(statistic(*(d[None, :] for d in data)))[0])
    rng = np.random.default_rng(seed)
    chunk = max(1, _RESAMPLE_CELLS // n)
    values = np.empty(n_resamples)
    for start in range(0, n_resamples, chunk):
        k = min(chunk, n_resamples - start)
        rows = rng.integers(0, n, size=(k, n))
        values[start : start + k] = statistic(*(d[rows] for d in data))
    values = values[~np.isnan(values)]
    if values.size == 0:
        return Interval(estimate, math.nan, math.nan, confidence)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [tail, 1.0 - tail])
    return Interval(estimate, float(low), float(high), confidence)


def _ratio_of_sums(profit: FloatArray, stake: FloatArray) -> FloatArray:
    total = stake.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0.0, profit.sum(axis=1) / total, np.nan)


def _mean(values: FloatArray) -> FloatArray:
    return values.mean(axis=1)


def per_day(days: npt.ArrayLike, *columns: npt.ArrayLike) -> list[FloatArray]:
    """Each column summed per day (days in sorted order): the blocks of a bootstrap over dates."""
    _, codes = np.unique(np.asarray(days), return_inverse=True)
    n_days = int(codes.max()) + 1 if codes.size else 0
    return [np.bincount(codes, weights=np.asarray(c, dtype=np.float64), minlength=n_days) for c in columns]


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


def mean_ci(
    values: npt.ArrayLike,
    *,
    days: npt.ArrayLike | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """The mean of ``values`` (for instance the CLV of each bet) with a bootstrap interval; with
    ``days`` (one per value) a block bootstrap over dates: same-day games share conditions and
    news, so whole days are resampled and the mean is the ratio of the resampled sums."""
    if days is not None:
        sums, counts = per_day(days, values, np.ones(np.asarray(values).shape))
        return bootstrap_ci(
            _ratio_of_sums, sums, counts, n_resamples=n_resamples, confidence=confidence, seed=seed
        )
    return bootstrap_ci(_mean, values, n_resamples=n_resamples, confidence=confidence, seed=seed)
