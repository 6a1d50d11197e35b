"""Scores of probability forecasts and bootstrap intervals: a leaf module that training, betting,
evaluation and monitoring all read (numpy and polars only, nothing else of mlbedge).

**Forecasts.** :func:`log_loss`, :func:`brier`, :func:`accuracy` and the expected calibration error
:func:`ece` (with :func:`calibration_bins` for a reliability diagram) score probabilities of a binary
outcome; every input must be finite. :func:`per_game_log_loss` is each game's term of the log loss
(paired comparisons difference them game by game).

**Intervals.** :func:`bootstrap_ci` resamples items (bets, games) with replacement (seeded ``numpy``
Generator, percentile interval); :func:`mean_ci` applies it to a mean, resampling whole dates when
given them (:func:`per_day`: same-day games are not independent).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]

_LOG_LOSS_CLIP = 1e-15  # a forecast of exactly 0 or 1 that is wrong scores log(1e-15), not infinity
_RESAMPLE_CELLS = 4_000_000  # resampled values held at once by the bootstrap (32 MB per array)


def none_if_nan(value: float | None) -> float | None:
    """``value`` as a float, or None when it is missing or not finite (JSON has no NaN)."""
    return None if value is None or not math.isfinite(value) else float(value)


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


def per_game_log_loss(probability: npt.ArrayLike, outcome: npt.ArrayLike) -> FloatArray:
    """Each game's log loss (their mean is :func:`log_loss`), without :func:`log_loss`'s input checks."""
    p = np.clip(np.asarray(probability, dtype=np.float64), _LOG_LOSS_CLIP, 1.0 - _LOG_LOSS_CLIP)
    y = np.asarray(outcome, dtype=np.float64)
    return -(y * np.log(p) + (1.0 - y) * np.log1p(-p))


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


def _mean(values: FloatArray) -> FloatArray:
    return values.mean(axis=1)


def per_day(days: npt.ArrayLike, *columns: npt.ArrayLike) -> list[FloatArray]:
    """Each column summed per day (days in sorted order): the blocks of a bootstrap over dates."""
    _, codes = np.unique(np.asarray(days), return_inverse=True)
    n_days = int(codes.max()) + 1 if codes.size else 0
    return [np.bincount(codes, weights=np.asarray(c, dtype=np.float64), minlength=n_days) for c in columns]


def ratio_of_totals(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    """Per resample (row), the sum of ``numerator`` over the sum of ``denominator`` (NaN where
    nothing is in the denominator): a bootstrap statistic over per-day totals."""
    total = denominator.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0.0, numerator.sum(axis=1) / total, np.nan)


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
            ratio_of_totals, sums, counts, n_resamples=n_resamples, confidence=confidence, seed=seed
        )
    return bootstrap_ci(_mean, values, n_resamples=n_resamples, confidence=confidence, seed=seed)
