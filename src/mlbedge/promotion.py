"""Champion against challenger on the same games: whose loss is lower, by how much, how surely, and
whether the challenger is promoted. One rule for ``mlbedge models compare`` and ``mlbedge retrain``.

Model ``a`` (the champion) and model ``b`` (the challenger) are scored on games neither was trained
on, paired game by game. Every difference is **b minus a**: a negative difference favours the
challenger.

**Losses** (:func:`compare_losses`). The per-game loss differential ``d_i = L_b,i - L_a,i`` (log
loss for probabilities, :func:`compare_forecasts`; squared error for a regression) is averaged;
its interval is a bootstrap over **days** (the games of one day share a slate and news, so days,
not games, are resampled). The Diebold-Mariano test asks whether the mean differential is zero:
daily sums of ``d``, centred, give the long-run variance by Newey-West (Bartlett weights,
``floor(4 (T/100)^(2/9))`` lags over ``T`` days unless given), the statistic is the mean over its
standard error with Harvey, Leybourne and Newbold's small-sample factor ``sqrt((T - 1) / T)`` for
one-step forecasts, and the two-sided p-value is from Student's t with ``T - 1`` degrees of
freedom. With one game per day and no lags it is exactly the one-sample t test of the
differentials (a test holds it to scipy's).

**The gate** (:func:`promotion_gate`): the challenger is promoted when it was scored on enough
games, its mean loss beats the champion's by at least ``margin``, and (when ``alpha`` is given)
the Diebold-Mariano test finds the improvement significant at that level.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import stats

from mlbedge.scoring import Interval, brier, mean_ci, per_game_log_loss

FloatArray = npt.NDArray[np.float64]


def json_ready(value: Any) -> Any:
    """``value`` with every non-finite float as None, through dicts, lists and tuples."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value


def _day_codes(days: npt.ArrayLike | None, n: int) -> npt.NDArray[np.int64]:
    """Each item's day as 0..T-1 in time order (every item its own day when ``days`` is None)."""
    if days is None:
        return np.arange(n, dtype=np.int64)
    values = np.asarray(days)
    if values.shape != (n,):
        raise ValueError(f"one day per game is needed, got {values.size} for {n} games")
    _, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64)


def newey_west_lags(n_days: int) -> int:
    """The automatic lag of the Newey-West variance, ``floor(4 (T / 100)^(2/9))``."""
    return math.floor(4.0 * (n_days / 100.0) ** (2.0 / 9.0)) if n_days > 0 else 0


@dataclass(frozen=True)
class DieboldMariano:
    """The test's statistic, two-sided p-value, days and lags used."""

    statistic: float
    p_value: float
    n_days: int
    lags: int


def diebold_mariano(
    loss_a: npt.ArrayLike,
    loss_b: npt.ArrayLike,
    days: npt.ArrayLike | None = None,
    *,
    lags: int | None = None,
) -> DieboldMariano:
    """Diebold-Mariano test of equal mean loss, on daily sums of ``loss_b - loss_a`` (module notes).

    ``days`` (one per game, any sortable type) groups the games; ``None`` makes each game its own
    day. A negative statistic means ``b`` has the lower loss. NaN when fewer than two days or no
    variation.
    """
    a = np.asarray(loss_a, dtype=np.float64)
    b = np.asarray(loss_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"one loss per game for both models is needed, got shapes {a.shape} and {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("losses must be finite")
    codes = _day_codes(days, a.size)
    n_days = int(codes.max()) + 1 if codes.size else 0
    lag = newey_west_lags(n_days) if lags is None else lags
    if lag < 0:
        raise ValueError(f"lags must be >= 0, got {lag}")
    if n_days < 2:
        return DieboldMariano(math.nan, math.nan, n_days, lag)
    d = b - a
    daily = np.bincount(codes, weights=d, minlength=n_days)
    counts = np.bincount(codes, minlength=n_days).astype(np.float64)
    mean = float(d.sum() / counts.sum())
    # Each day's deviation from what the mean differential predicts for that many games.
    e = daily - counts * mean
    lag = min(lag, n_days - 1)
    long_run = float(e @ e)
    for k in range(1, lag + 1):
        long_run += 2.0 * (1.0 - k / (lag + 1.0)) * float(e[k:] @ e[:-k])
    if not long_run > 0.0:
        return DieboldMariano(math.nan, math.nan, n_days, lag)
    standard_error = math.sqrt(long_run) / counts.sum()
    statistic = mean / standard_error * math.sqrt((n_days - 1) / n_days)
    p_value = float(2.0 * stats.t.sf(abs(statistic), df=n_days - 1))
    return DieboldMariano(float(statistic), p_value, n_days, lag)


@dataclass(frozen=True)
class LossComparison:
    """Two models' mean ``metric`` on the same games; ``difference`` is b - a with its interval."""

    metric: str
    n_games: int
    n_days: int
    loss_a: float
    loss_b: float
    difference: Interval
    dm: DieboldMariano

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return json_ready(asdict(self))


def compare_losses(
    loss_a: npt.ArrayLike,
    loss_b: npt.ArrayLike,
    days: npt.ArrayLike | None = None,
    *,
    metric: str,
    lags: int | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> LossComparison:
    """Per-game losses of two models on the same games: their means, the mean difference (b - a)
    with a bootstrap interval over days, and the Diebold-Mariano test (see the module notes)."""
    a = np.asarray(loss_a, dtype=np.float64)
    b = np.asarray(loss_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"one loss per game for both models is needed, got shapes {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("no games to compare")
    codes = _day_codes(days, a.size)
    return LossComparison(
        metric=metric,
        n_games=int(a.size),
        n_days=int(codes.max()) + 1,
        loss_a=float(a.mean()),
        loss_b=float(b.mean()),
        difference=mean_ci(b - a, days=codes, n_resamples=n_resamples, confidence=confidence, seed=seed),
        dm=diebold_mariano(a, b, codes, lags=lags),
    )


@dataclass(frozen=True)
class ForecastComparison(LossComparison):
    """Two models' probabilities of the same binary outcomes: the log-loss comparison, and Brier."""

    brier_a: float = math.nan
    brier_b: float = math.nan

    @property
    def log_loss_a(self) -> float:
        return self.loss_a

    @property
    def log_loss_b(self) -> float:
        return self.loss_b

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None), the losses named for what they are."""
        return json_ready(
            {
                "n_games": self.n_games,
                "n_days": self.n_days,
                "log_loss_a": self.loss_a,
                "log_loss_b": self.loss_b,
                "brier_a": self.brier_a,
                "brier_b": self.brier_b,
                "difference": asdict(self.difference),
                "dm": asdict(self.dm),
            }
        )


def compare_forecasts(
    outcome: npt.ArrayLike,
    p_a: npt.ArrayLike,
    p_b: npt.ArrayLike,
    days: npt.ArrayLike | None = None,
    *,
    lags: int | None = None,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> ForecastComparison:
    """Log loss and Brier of ``p_a`` and ``p_b`` for the same binary ``outcome``s, the mean log-loss
    difference (b - a) with a bootstrap interval over days, and the Diebold-Mariano test."""
    y = np.asarray(outcome, dtype=np.float64)
    a = np.asarray(p_a, dtype=np.float64)
    b = np.asarray(p_b, dtype=np.float64)
    if not (y.shape == a.shape == b.shape) or y.ndim != 1:
        raise ValueError(
            f"outcomes and both models' probabilities must be equally long, got {y.shape}, {a.shape}, {b.shape}"
        )
    if y.size == 0:
        raise ValueError("no games to compare")
    losses = compare_losses(
        per_game_log_loss(a, y),
        per_game_log_loss(b, y),
        days,
        metric="log_loss",
        lags=lags,
        n_resamples=n_resamples,
        confidence=confidence,
        seed=seed,
    )
    return ForecastComparison(**vars(losses), brier_a=brier(a, y), brier_b=brier(b, y))


def compare_errors(
    outcome: npt.ArrayLike,
    prediction_a: npt.ArrayLike,
    prediction_b: npt.ArrayLike,
    days: npt.ArrayLike | None = None,
    **options: Any,
) -> LossComparison:
    """Two regressions' predictions of the same numbers compared by squared error (metric ``mse``);
    ``options`` as for :func:`compare_losses`."""
    y = np.asarray(outcome, dtype=np.float64)
    a = np.asarray(prediction_a, dtype=np.float64)
    b = np.asarray(prediction_b, dtype=np.float64)
    return compare_losses((a - y) ** 2, (b - y) ** 2, days, metric="mse", **options)


@dataclass(frozen=True)
class GateDecision:
    """Whether the challenger (b) replaces the champion (a), why, and the numbers behind it."""

    promote: bool
    reason: str
    forecasts: LossComparison | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "promote": self.promote,
            "reason": self.reason,
            "forecasts": self.forecasts.as_dict() if self.forecasts else None,
        }


def promotion_gate(
    comparison: LossComparison, *, margin: float = 0.0, alpha: float | None = None, min_games: int = 100
) -> GateDecision:
    """Promote the challenger when it has been scored on at least ``min_games`` games, its mean loss
    is lower than the champion's by ``margin`` or more, and (with ``alpha``) the Diebold-Mariano
    p-value is below ``alpha``."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    f = comparison
    gain = f.loss_a - f.loss_b
    numbers = (
        f"{f.metric.replace('_', ' ')} {f.loss_b:.4f} (challenger) vs {f.loss_a:.4f} (champion) on "
        f"{f.n_games} games over {f.n_days} days, improvement {gain:+.4f} (95% CI of the change "
        f"{f.difference.low:+.4f}..{f.difference.high:+.4f}), DM {f.dm.statistic:+.2f} p={f.dm.p_value:.3f}"
    )
    if f.n_games < min_games:
        return GateDecision(False, f"kept: only {f.n_games} games (need {min_games}); {numbers}", f)
    if not gain >= margin:
        return GateDecision(False, f"kept: improvement below the margin {margin:.4f}; {numbers}", f)
    if alpha is not None and not (f.dm.statistic < 0 and f.dm.p_value < alpha):
        return GateDecision(False, f"kept: improvement not significant at {alpha}; {numbers}", f)
    return GateDecision(True, f"promoted: {numbers}", f)
