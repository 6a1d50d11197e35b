"""Champion against challenger on the same games: sharper forecasts, and more money at better prices.

Model ``a`` (the champion) and model ``b`` (the challenger) are compared on games neither was
trained on, paired game by game. Every difference is **b minus a**: a negative log-loss
difference, or a positive ROI or CLV difference, favours the challenger.

**Forecasts** (:func:`compare_forecasts`). The per-game log-loss differential ``d_i = L_b,i - L_a,i``
is averaged; its interval is a bootstrap over **days** (the games of one day share a slate and
news, so days, not games, are resampled). The Diebold-Mariano test asks whether the mean
differential is zero: daily sums of ``d``, centred, give the long-run variance by Newey-West
(Bartlett weights, ``floor(4 (T/100)^(2/9))`` lags over ``T`` days unless given), the statistic
is the mean over its standard error with Harvey, Leybourne and Newbold's small-sample factor
``sqrt((T - 1) / T)`` for one-step forecasts, and the two-sided p-value is from Student's t with
``T - 1`` degrees of freedom. With one game per day and no lags it is exactly the one-sample t test
of the differentials (a test holds it to scipy's).

**Money** (:func:`compare_bets`). Two backtests of the same games: the difference in ROI (profit
over turnover) and in mean closing-line value, each with a bootstrap interval over days, both
strategies' bets of a day resampled together.

**The gate** (:func:`promotion_gate`, :func:`gate`): the challenger is promoted when there are
enough games, its log loss beats the champion's by at least ``margin``, and (when ``alpha`` is
given) the Diebold-Mariano test finds the improvement significant at that level.

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
from scipy import stats

from mlbedge.betting.backtest import ProbabilityModel
from mlbedge.scoring import Interval, bootstrap_ci, brier, log_loss, per_game_log_loss

FloatArray = npt.NDArray[np.float64]


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


def _ratio(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    total = denominator.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0.0, numerator.sum(axis=1) / total, np.nan)


def _ratio_difference(
    num_a: FloatArray, den_a: FloatArray, num_b: FloatArray, den_b: FloatArray
) -> FloatArray:
    return _ratio(num_b, den_b) - _ratio(num_a, den_a)


@dataclass(frozen=True)
class ForecastComparison:
    """Two models' probabilities scored on the same games; ``difference`` is b - a in mean log loss."""

    n_games: int
    n_days: int
    log_loss_a: float
    log_loss_b: float
    brier_a: float
    brier_b: float
    difference: Interval
    dm: DieboldMariano

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return _clean(asdict(self))


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
    loss_a, loss_b = per_game_log_loss(a, y), per_game_log_loss(b, y)
    codes = _day_codes(days, y.size)
    n_days = int(codes.max()) + 1
    daily_d = np.bincount(codes, weights=loss_b - loss_a, minlength=n_days)
    counts = np.bincount(codes, minlength=n_days).astype(np.float64)
    interval = bootstrap_ci(
        _ratio, daily_d, counts, n_resamples=n_resamples, confidence=confidence, seed=seed
    )
    return ForecastComparison(
        n_games=int(y.size),
        n_days=n_days,
        log_loss_a=log_loss(a, y),
        log_loss_b=log_loss(b, y),
        brier_a=brier(a, y),
        brier_b=brier(b, y),
        difference=interval,
        dm=diebold_mariano(loss_a, loss_b, codes, lags=lags),
    )


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
        return _clean(asdict(self))


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
# the promotion gate


@dataclass(frozen=True)
class GateDecision:
    """Whether the challenger (b) replaces the champion (a), why, and the numbers behind it."""

    promote: bool
    reason: str
    forecasts: ForecastComparison | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "promote": self.promote,
            "reason": self.reason,
            "forecasts": self.forecasts.as_dict() if self.forecasts else None,
        }


def promotion_gate(
    forecasts: ForecastComparison, *, margin: float = 0.0, alpha: float | None = None, min_games: int = 100
) -> GateDecision:
    """Promote the challenger when it has been scored on at least ``min_games`` games, its log loss is
    lower than the champion's by ``margin`` or more, and (with ``alpha``) the Diebold-Mariano
    p-value is below ``alpha``."""
    if margin < 0:
        raise ValueError(f"margin must be >= 0, got {margin}")
    f = forecasts
    gain = f.log_loss_a - f.log_loss_b
    numbers = (
        f"log loss {f.log_loss_b:.4f} (challenger) vs {f.log_loss_a:.4f} (champion) on {f.n_games} games "
        f"over {f.n_days} days, improvement {gain:+.4f} (95% CI of the change "
        f"{f.difference.low:+.4f}..{f.difference.high:+.4f}), DM {f.dm.statistic:+.2f} p={f.dm.p_value:.3f}"
    )
    if f.n_games < min_games:
        return GateDecision(False, f"kept: only {f.n_games} games (need {min_games}); {numbers}", f)
    if not gain >= margin:
        return GateDecision(False, f"kept: improvement below the margin {margin:.4f}; {numbers}", f)
    if alpha is not None and not (f.dm.statistic < 0 and f.dm.p_value < alpha):
        return GateDecision(False, f"kept: improvement not significant at {alpha}; {numbers}", f)
    return GateDecision(True, f"promoted: {numbers}", f)


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


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
