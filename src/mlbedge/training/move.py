"""Scoring a model of the market's move between the open and the close, out of sample.

The move targets (``close_moneyline``, ``close_total``; see :mod:`mlbedge.training.targets`)
predict ``logit(close) - logit(open)`` of the de-vigged price. :func:`move_report` scores a
walk-forward's test predictions per target and season (and pooled):

- **R²** of the move, ``1 - SSE / SST`` around the games' own mean, with a percentile bootstrap
  interval over DATES (same-day moves share news, so whole days are resampled);
- **direction hit rate** where the model predicts a move larger than ``threshold``: the share of
  those games whose actual move went the predicted way (games whose price did not move at all are
  counted apart, as ``n_unmoved``), with its interval over dates;
- **log loss against the outcomes** of the open, of "open + predicted move" (the sigmoid of the
  opening logit plus the prediction) and of the close, on the same games;
- **closing-line value at the open** of the rule "bet the side the predicted close favours, at
  its opening price, where the predicted move exceeds ``threshold``": per bet
  ``de-vigged close of that side x decimal opening odds - 1``, pooled with an interval over dates
  (flat stakes: the mean CLV per bet).

A negative or zero R² is a result, reported as such; nothing here is tuned on the seasons scored.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.scoring import Interval, bootstrap_ci, log_loss, mean_ci, per_day
from mlbedge.training.targets import OPEN_PRICES, OUTCOME

FloatArray = npt.NDArray[np.float64]

MOVE_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "season": pl.String(),
    "n_games": pl.Int64(),
    "move_sd": pl.Float64(),
    "r2": pl.Float64(),
    "r2_low": pl.Float64(),
    "r2_high": pl.Float64(),
    "correlation": pl.Float64(),
    "n_signalled": pl.Int64(),
    "n_unmoved": pl.Int64(),
    "hit_rate": pl.Float64(),
    "hit_low": pl.Float64(),
    "hit_high": pl.Float64(),
    "n_outcomes": pl.Int64(),
    "log_loss_open": pl.Float64(),
    "log_loss_open_plus_move": pl.Float64(),
    "log_loss_close": pl.Float64(),
    "n_bets": pl.Int64(),
    "clv": pl.Float64(),
    "clv_low": pl.Float64(),
    "clv_high": pl.Float64(),
}


def _r2_of_sums(sse: FloatArray, sy: FloatArray, syy: FloatArray, n: FloatArray) -> FloatArray:
    """R² from per-day sums of squared errors, y, y² and counts (rows: resamples)."""
    total_n = n.sum(axis=1)
    sst = syy.sum(axis=1) - sy.sum(axis=1) ** 2 / np.where(total_n > 0, total_n, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sst > 0, 1.0 - sse.sum(axis=1) / sst, np.nan)


def r2_ci(
    actual: npt.ArrayLike,
    predicted: npt.ArrayLike,
    days: npt.ArrayLike,
    *,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """R² of ``predicted`` for ``actual`` with a bootstrap interval over the ``days`` (one per game)."""
    y = np.asarray(actual, dtype=np.float64)
    err = y - np.asarray(predicted, dtype=np.float64)
    blocks = per_day(days, err**2, y, y**2, np.ones_like(y))
    return bootstrap_ci(_r2_of_sums, *blocks, n_resamples=n_resamples, seed=seed)


def _sigmoid(x: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.exp(-x))


def _row(target: str, season: str, rows: pl.DataFrame, threshold: float, n_resamples: int, seed: int) -> dict:
    y = rows["y"].to_numpy()
    pred = rows["p_model"].to_numpy()
    days = rows["date"].to_numpy()
    r2 = r2_ci(y, pred, days, n_resamples=n_resamples, seed=seed)
    corr = float(np.corrcoef(y, pred)[0, 1]) if y.size > 2 and pred.std() > 0 and y.std() > 0 else math.nan
    signalled = np.abs(pred) > threshold
    moved = signalled & (y != 0)
    hits = (np.sign(pred[moved]) == np.sign(y[moved])).astype(np.float64)
    hit = mean_ci(hits, days=days[moved], n_resamples=n_resamples, seed=seed) if hits.size else None
    scored = rows.filter(
        pl.col(OUTCOME).is_not_null()
        & pl.col("market_open").is_not_null()
        & pl.col("market_close").is_not_null()
    )
    outcome = scored[OUTCOME].to_numpy()
    p_open = scored["market_open"].to_numpy()
    p_moved = _sigmoid(np.log(p_open / (1.0 - p_open)) + scored["p_model"].to_numpy())
    nan = math.nan
    clv = _clv(rows, threshold, n_resamples, seed)
    return {
        "target": target,
        "season": season,
        "n_games": rows.height,
        "move_sd": float(y.std()),
        "r2": r2.estimate,
        "r2_low": r2.low,
        "r2_high": r2.high,
        "correlation": corr,
        "n_signalled": int(signalled.sum()),
        "n_unmoved": int((signalled & (y == 0)).sum()),
        "hit_rate": hit.estimate if hit else nan,
        "hit_low": hit.low if hit else nan,
        "hit_high": hit.high if hit else nan,
        "n_outcomes": scored.height,
        "log_loss_open": log_loss(p_open, outcome) if scored.height else nan,
        "log_loss_open_plus_move": log_loss(p_moved, outcome) if scored.height else nan,
        "log_loss_close": log_loss(scored["market_close"].to_numpy(), outcome) if scored.height else nan,
        "n_bets": clv[0],
        "clv": clv[1].estimate,
        "clv_low": clv[1].low,
        "clv_high": clv[1].high,
    }


def _clv(rows: pl.DataFrame, threshold: float, n_resamples: int, seed: int) -> tuple[int, Interval]:
    """Bets at the open on the side the predicted close favours by more than ``threshold``: their
    count and mean closing-line value with an interval over dates."""
    if not set(OPEN_PRICES) <= set(rows.columns):
        return 0, Interval(math.nan, math.nan, math.nan, 0.95)
    pred = pl.col("p_model")
    bets = rows.filter(
        (pred.abs() > threshold)
        & pl.col("market_close").is_not_null()
        & pl.all_horizontal(pl.col(OPEN_PRICES).is_not_null())
    ).with_columns(
        clv=pl.when(pred > 0)
        .then(pl.col("market_close") * pl.col("open_decimal_yes"))
        .otherwise((1 - pl.col("market_close")) * pl.col("open_decimal_no"))
        - 1
    )
    if bets.is_empty():
        return 0, Interval(math.nan, math.nan, math.nan, 0.95)
    return bets.height, mean_ci(
        bets["clv"].to_numpy(), days=bets["date"].to_numpy(), n_resamples=n_resamples, seed=seed
    )


def move_report(
    predictions: pl.DataFrame, *, threshold: float = 0.04, n_resamples: int = 2000, seed: int = 0
) -> pl.DataFrame:
    """Per move target and season (and ``pooled``): R² with its interval over dates, the direction
    hit rate where ``|predicted move| > threshold``, and the log loss of the open, of "open +
    predicted move" and of the close against the outcomes (:data:`MOVE_SCHEMA`).

    ``predictions``: a walk-forward's test rows of move targets (``target, season, date, y,
    p_model, market_open, market_close, outcome``); rows without a label are left out, as are
    other targets.
    """
    from mlbedge.training.targets import MOVE_TARGETS

    rows_out: list[dict] = []
    moves = predictions.filter(
        pl.col("target").is_in(list(MOVE_TARGETS))
        & pl.col("y").is_not_null()
        & pl.col("p_model").is_not_null()
    )
    for target in moves["target"].unique(maintain_order=True).to_list():
        of_target = moves.filter(pl.col("target") == target)
        seasons = sorted(of_target["season"].unique().to_list())
        groups = [(str(s), of_target.filter(pl.col("season") == s)) for s in seasons]
        if len(seasons) > 1:
            groups.append(("pooled", of_target))
        rows_out.extend(_row(target, name, rows, threshold, n_resamples, seed) for name, rows in groups)
    return pl.DataFrame(rows_out, schema=MOVE_SCHEMA) if rows_out else pl.DataFrame(schema=MOVE_SCHEMA)


def markdown_move_table(report: pl.DataFrame, target: str, threshold: float = 0.04) -> str:
    """One move target's report as a Markdown table (per season and pooled)."""
    rows = report.filter(pl.col("target") == target)
    if rows.is_empty():
        return ""
    lines = [
        f"| season | games | move sd | R² (95% CI over dates) | hit rate, |pred| > {threshold} (CI), n "
        "| log loss open / open+move / close | CLV at the open (CI), bets |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows.iter_rows(named=True):
        lines.append(
            f"| {r['season']} | {r['n_games']:,} | {r['move_sd']:.3f} "
            f"| {r['r2']:+.4f} ({r['r2_low']:+.4f}, {r['r2_high']:+.4f}) "
            f"| {r['hit_rate']:.3f} ({r['hit_low']:.3f}, {r['hit_high']:.3f}), {r['n_signalled']:,} "
            f"| {r['log_loss_open']:.4f} / {r['log_loss_open_plus_move']:.4f} / {r['log_loss_close']:.4f} "
            f"| {r['clv']:+.2%} ({r['clv_low']:+.2%}, {r['clv_high']:+.2%}), {r['n_bets']:,} |"
        )
    return "\n".join(lines)
