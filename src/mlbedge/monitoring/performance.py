"""Performance degradation: the champion against the market over its last settled games, and CLV.

**The predictions frame** (:data:`PREDICTION_SCHEMA`, what the daily pipeline supplies; the same
columns :func:`mlbedge.research.forecasts.predictions_frame` returns) has one row per market and
game: ``target`` (moneyline, total, runline), ``game_id``, ``date``, ``y`` (the outcome, 1/0;
null until settled or for a push), ``p_model`` (the champion's probability, made before the
cutoff), ``market_open`` and ``market_close`` (the de-vigged opening and closing probabilities of
the same event; null where the market did not price it). Other columns are ignored.

For each target, :func:`performance_window` takes the last ``monitor_perf_games`` settled games
with a model and an opening probability, and scores the model, the opening line and (on the
games it prices) the closing line with log loss and Brier. The champion knows the opening line
before the cutoff, so scoring worse than it is degradation: a log-loss gap above
``monitor_perf_warning`` warns, above ``monitor_perf_critical`` is critical.
:func:`rolling_scores` gives the same numbers as a rolling curve over time (the trend, and what a
dashboard plots).

**The bets frame** (:data:`BET_SCHEMA`) has one row per settled bet with its ``date`` and ``clv``
(expected profit per unit staked if the closing line is the truth, as
:func:`mlbedge.betting.backtest.closing_line_value` computes it). :func:`clv_trend` follows the
mean CLV of the last ``monitor_clv_bets`` bets against the bets before them: a mean below
``monitor_clv_warning`` warns, below ``monitor_clv_critical`` is critical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl

from mlbedge.betting.metrics import brier, log_loss
from mlbedge.monitoring.alerts import CLV, PERFORMANCE, Finding, Severity
from mlbedge.settings import Settings, get_settings

PREDICTION_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "game_id": pl.String(),
    "date": pl.Date(),
    "y": pl.Float64(),
    "p_model": pl.Float64(),
    "market_open": pl.Float64(),
    "market_close": pl.Float64(),
}
BET_SCHEMA: dict[str, pl.DataType] = {"date": pl.Date(), "game_id": pl.String(), "clv": pl.Float64()}

_CLIP = 1e-15  # as mlbedge.betting.metrics.log_loss: a sure forecast that is wrong is finite
ROLLING_POINTS = 15  # points of the rolling curve kept in an alert's evidence
_PERF_LOOK = (
    "the rolling curve in the evidence (a step is a break, a slope is decay), the input alerts of "
    "the same weeks, and the retraining decision"
)


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], what: str) -> pl.DataFrame:
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"the {what} frame lacks columns {missing}; expected {list(schema)}")
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())


def _log_loss_expr(p: str) -> pl.Expr:
    q = pl.col(p).clip(_CLIP, 1.0 - _CLIP)
    return -(pl.col("y") * q.log() + (1.0 - pl.col("y")) * (1.0 - q).log())


def settled(predictions: pl.DataFrame, target: str, *, as_of: date | None = None) -> pl.DataFrame:
    """The target's settled games with a model and an opening probability, oldest first.

    ``as_of``: only games dated before it (what was known that morning).
    """
    rows = _conform(predictions, PREDICTION_SCHEMA, "predictions").filter(
        (pl.col("target") == target)
        & pl.col("y").is_not_null()
        & pl.col("p_model").is_not_null()
        & pl.col("market_open").is_not_null()
    )
    if as_of is not None:
        rows = rows.filter(pl.col("date") < as_of)
    bad = rows.filter(~pl.col("y").is_in([0.0, 1.0]) | ~pl.col("p_model").is_between(0.0, 1.0))
    if bad.height:
        r = bad.row(0, named=True)
        raise ValueError(
            f"predictions of {target}: game {r['game_id']} has y={r['y']} and p_model={r['p_model']} "
            "(y must be 0 or 1, p_model within [0, 1])"
        )
    return rows.unique(["game_id"], keep="last", maintain_order=True).sort("date", "game_id")


@dataclass(frozen=True)
class PerformanceWindow:
    """The champion and the market scored on the same last settled games of one target."""

    target: str
    n_games: int
    start: date
    end: date
    model_log_loss: float
    model_brier: float
    open_log_loss: float
    open_brier: float
    n_close: int  # of those games, the ones the closing line prices
    model_log_loss_on_close: float | None
    close_log_loss: float | None
    close_brier: float | None
    rolling: list[dict[str, Any]] = field(default_factory=list)
    severity: Severity | None = None

    @property
    def gap_open(self) -> float:
        """Model minus opening-line log loss (positive: the model is worse than the open)."""
        return self.model_log_loss - self.open_log_loss

    @property
    def gap_close(self) -> float | None:
        """Model minus closing-line log loss on the games the close prices."""
        if self.close_log_loss is None or self.model_log_loss_on_close is None:
            return None
        return self.model_log_loss_on_close - self.close_log_loss

    @property
    def window(self) -> str:
        """The window key of its alert."""
        return f"last {self.n_games} to {self.end.isoformat()}"


def rolling_scores(
    predictions: pl.DataFrame, target: str, *, games: int, as_of: date | None = None
) -> pl.DataFrame:
    """Per date: model and opening-line log loss and Brier over the last ``games`` settled games.

    Columns ``date, n_games, model_log_loss, open_log_loss, model_brier, open_brier, gap_open``;
    a date's row is the window ending with that date's last game (dates with fewer than ``games``
    earlier games average what there is).
    """
    rows = settled(predictions, target, as_of=as_of)
    window = {"window_size": games, "min_samples": 1}
    return (
        rows.with_columns(
            _ll_model=_log_loss_expr("p_model"),
            _ll_open=_log_loss_expr("market_open"),
            _b_model=(pl.col("p_model") - pl.col("y")) ** 2,
            _b_open=(pl.col("market_open") - pl.col("y")) ** 2,
            _n=pl.int_range(1, pl.len() + 1).clip(upper_bound=games),
        )
        .with_columns(
            model_log_loss=pl.col("_ll_model").rolling_mean(**window),
            open_log_loss=pl.col("_ll_open").rolling_mean(**window),
            model_brier=pl.col("_b_model").rolling_mean(**window),
            open_brier=pl.col("_b_open").rolling_mean(**window),
        )
        .group_by("date", maintain_order=True)
        .last()
        .select(
            "date",
            pl.col("_n").cast(pl.Int64).alias("n_games"),
            "model_log_loss",
            "open_log_loss",
            "model_brier",
            "open_brier",
            (pl.col("model_log_loss") - pl.col("open_log_loss")).alias("gap_open"),
        )
    )


def performance_window(
    predictions: pl.DataFrame,
    target: str,
    *,
    games: int,
    min_games: int = 1,
    as_of: date | None = None,
    warning: float | None = None,
    critical: float | None = None,
) -> PerformanceWindow | None:
    """Scores of the last ``games`` settled games of ``target`` (None with fewer than ``min_games``).

    ``warning`` and ``critical`` (log-loss gaps over the opening line) set the severity; without
    them it stays None.
    """
    rows = settled(predictions, target, as_of=as_of)
    if rows.height < max(min_games, 1):
        return None
    last = rows.tail(games)
    y = last["y"].to_numpy()
    closed = last.filter(pl.col("market_close").is_not_null())
    n_close = closed.height
    curve = rolling_scores(predictions, target, games=games, as_of=as_of).tail(ROLLING_POINTS)
    window = PerformanceWindow(
        target=target,
        n_games=last.height,
        start=last["date"][0],
        end=last["date"][-1],
        model_log_loss=log_loss(last["p_model"].to_numpy(), y),
        model_brier=brier(last["p_model"].to_numpy(), y),
        open_log_loss=log_loss(last["market_open"].to_numpy(), y),
        open_brier=brier(last["market_open"].to_numpy(), y),
        n_close=n_close,
        model_log_loss_on_close=log_loss(closed["p_model"].to_numpy(), closed["y"].to_numpy())
        if n_close
        else None,
        close_log_loss=log_loss(closed["market_close"].to_numpy(), closed["y"].to_numpy())
        if n_close
        else None,
        close_brier=brier(closed["market_close"].to_numpy(), closed["y"].to_numpy()) if n_close else None,
        rolling=[
            {k: (v.isoformat() if isinstance(v, date) else round(float(v), 6)) for k, v in row.items()}
            for row in curve.iter_rows(named=True)
        ],
    )
    severity: Severity | None = None
    if critical is not None and window.gap_open > critical:
        severity = "critical"
    elif warning is not None and window.gap_open > warning:
        severity = "warning"
    return PerformanceWindow(**{**window.__dict__, "severity": severity})


def check_performance(
    predictions: pl.DataFrame,
    *,
    targets: list[str] | None = None,
    as_of: date | None = None,
    settings: Settings | None = None,
) -> tuple[list[PerformanceWindow], list[Finding]]:
    """Score each target's champion over its last settled games; a finding per degraded target."""
    settings = settings or get_settings()
    frame = _conform(predictions, PREDICTION_SCHEMA, "predictions")
    names = targets if targets is not None else sorted(frame["target"].unique().drop_nulls().to_list())
    windows, findings = [], []
    for target in names:
        window = performance_window(
            frame,
            target,
            games=settings.monitor_perf_games,
            min_games=settings.monitor_perf_min_games,
            as_of=as_of,
            warning=settings.monitor_perf_warning,
            critical=settings.monitor_perf_critical,
        )
        if window is None:
            continue
        windows.append(window)
        if window.severity is None:
            continue
        findings.append(
            Finding(
                kind=PERFORMANCE,
                subject=target,
                window=window.window,
                severity=window.severity,
                message=(
                    f"{target} champion scores worse than the opening line over its last {window.n_games} "
                    f"settled games ({window.start}..{window.end}): log loss {window.model_log_loss:.4f} vs "
                    f"{window.open_log_loss:.4f} ({window.gap_open:+.4f}). Look at {_PERF_LOOK}."
                ),
                evidence={
                    "n_games": window.n_games,
                    "window": [window.start.isoformat(), window.end.isoformat()],
                    "model": {"log_loss": window.model_log_loss, "brier": window.model_brier},
                    "market_open": {"log_loss": window.open_log_loss, "brier": window.open_brier},
                    "market_close": {
                        "n_games": window.n_close,
                        "log_loss": window.close_log_loss,
                        "brier": window.close_brier,
                        "model_log_loss": window.model_log_loss_on_close,
                    },
                    "gap_open": window.gap_open,
                    "gap_close": window.gap_close,
                    "warning": settings.monitor_perf_warning,
                    "critical": settings.monitor_perf_critical,
                    "rolling": window.rolling,
                    "look_at": _PERF_LOOK,
                },
            )
        )
    return windows, findings


def recent_degradation(
    predictions: pl.DataFrame,
    target: str,
    *,
    as_of: date,
    days: int = 3,
    history: int = 500,
    z_warning: float = 4.0,
    z_critical: float = 6.0,
    min_gap: float = 0.03,
) -> Finding | None:
    """A sudden break: the settled games of the last ``days`` days before ``as_of`` scored against
    the opening line, in standard errors of the per-game gap over the ``history`` games before.

    The 500-game window of :func:`check_performance` sees a slow decline; a model that broke
    yesterday (predictions attached to the wrong games) would take weeks to move it.
    """
    rows = settled(predictions, target, as_of=as_of).with_columns(
        gap=_log_loss_expr("p_model") - _log_loss_expr("market_open")
    )
    start = as_of - timedelta(days=days)
    recent = rows.filter(pl.col("date") >= start)
    before = rows.filter(pl.col("date") < start).tail(history)
    if recent.height < 5 or before.height < 100:
        return None
    sd = max(float(before["gap"].std() or 0.0), 1e-3)  # type: ignore[arg-type]
    mean = float(recent["gap"].mean())  # type: ignore[arg-type]
    z = (mean - float(before["gap"].mean())) / (sd / np.sqrt(recent.height))  # type: ignore[arg-type]
    if mean < min_gap or z < z_warning:
        return None
    severity: Severity = "critical" if z >= z_critical else "warning"
    end = recent["date"].max()
    look = "the predictions served on those days (model version, the join of predictions to games)"
    return Finding(
        kind=PERFORMANCE,
        subject=f"{target}:recent",
        window=f"{start.isoformat()}..{end}",
        severity=severity,
        message=(
            f"{target} lost to the opening line by {mean:+.3f} log loss per game over the {recent.height} "
            f"games settled since {start} (z {z:+.1f} against the {before.height} games before). "
            f"Look at {look}."
        ),
        evidence={
            "games": recent.height,
            "mean_gap_open": mean,
            "z": z,
            "history_games": before.height,
            "history_mean_gap": float(before["gap"].mean()),  # type: ignore[arg-type]
            "history_sd_gap": sd,
            "look_at": look,
        },
    )


# ----------------------------------------------------------------------------------------------
# closing-line value


@dataclass(frozen=True)
class ClvTrend:
    """Mean CLV of the last bets, of the bets before them, and its slope over the last bets."""

    n_bets: int
    start: date
    end: date
    mean_clv: float
    previous_n: int
    previous_mean_clv: float | None
    slope_per_100_bets: float  # least-squares slope of CLV on bet order, per 100 bets
    severity: Severity | None = None

    @property
    def window(self) -> str:
        """The window key of its alert."""
        return f"last {self.n_bets} bets to {self.end.isoformat()}"


def clv_trend(
    bets: pl.DataFrame,
    *,
    n_bets: int,
    min_bets: int = 1,
    as_of: date | None = None,
    warning: float | None = None,
    critical: float | None = None,
) -> ClvTrend | None:
    """The CLV of the last ``n_bets`` settled bets with a CLV (None with fewer than ``min_bets``)."""
    rows = _conform(bets, BET_SCHEMA, "bets").filter(pl.col("clv").is_not_null() & pl.col("clv").is_finite())
    if as_of is not None:
        rows = rows.filter(pl.col("date") < as_of)
    rows = rows.sort("date", "game_id", maintain_order=True)
    if rows.height < max(min_bets, 1):
        return None
    last = rows.tail(n_bets)
    before = rows.head(max(rows.height - n_bets, 0)).tail(n_bets)
    values = last["clv"].to_numpy()
    slope = float(np.polyfit(np.arange(values.size), values, 1)[0] * 100) if values.size > 1 else 0.0
    mean = float(values.mean())
    severity: Severity | None = None
    if critical is not None and mean < critical:
        severity = "critical"
    elif warning is not None and mean < warning:
        severity = "warning"
    return ClvTrend(
        n_bets=last.height,
        start=last["date"][0],
        end=last["date"][-1],
        mean_clv=mean,
        previous_n=before.height,
        previous_mean_clv=float(before["clv"].mean()) if before.height else None,  # type: ignore[arg-type]
        slope_per_100_bets=slope,
        severity=severity,
    )


def check_clv(
    bets: pl.DataFrame,
    *,
    subject: str = "all",
    as_of: date | None = None,
    settings: Settings | None = None,
) -> tuple[ClvTrend | None, list[Finding]]:
    """The CLV trend of ``bets`` and a finding when its mean fell below the thresholds."""
    settings = settings or get_settings()
    trend = clv_trend(
        bets,
        n_bets=settings.monitor_clv_bets,
        min_bets=settings.monitor_clv_min_bets,
        as_of=as_of,
        warning=settings.monitor_clv_warning,
        critical=settings.monitor_clv_critical,
    )
    if trend is None or trend.severity is None:
        return trend, []
    previous = (
        f", {trend.previous_mean_clv:+.4f} over the {trend.previous_n} before"
        if trend.previous_mean_clv is not None
        else ""
    )
    finding = Finding(
        kind=CLV,
        subject=subject,
        window=trend.window,
        severity=trend.severity,
        message=(
            f"bets no longer beat the closing line: mean CLV {trend.mean_clv:+.4f} over the last "
            f"{trend.n_bets} bets ({trend.start}..{trend.end}){previous}"
        ),
        evidence={
            "n_bets": trend.n_bets,
            "window": [trend.start.isoformat(), trend.end.isoformat()],
            "mean_clv": trend.mean_clv,
            "previous_n": trend.previous_n,
            "previous_mean_clv": trend.previous_mean_clv,
            "slope_per_100_bets": trend.slope_per_100_bets,
            "warning": settings.monitor_clv_warning,
            "critical": settings.monitor_clv_critical,
        },
    )
    return trend, [finding]
