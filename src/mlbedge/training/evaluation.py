"""Side by side: the model against the market's de-vigged prices, on the same games.

Three benchmarks (see :mod:`mlbedge.training.asof_market`): ``market_open`` (the SBRO opening
line), ``market_asof`` (the price quotable at the cutoff: the one a bet is placed at; in 2016
Pinnacle's, otherwise the open) and ``market_close`` (the closing line). For each target and test
season (and all seasons pooled) :func:`compare` scores the model's probabilities and each
benchmark's with log loss, Brier, AUC, ECE and accuracy, and gives the per-game difference model -
benchmark with a bootstrap interval over DATES (same-day games are correlated, so whole dates are
resampled; every game its own block only when the rows carry no date). A negative difference in
log loss means the model is sharper than that price.

Scopes, because a benchmark may price only some games (see :mod:`mlbedge.training.targets`):

- ``common``: the games every available benchmark prices (a benchmark is available in a group
  when it prices at least ``min_games`` of its games). All sources are scored on exactly these.
- ``open`` (``asof``, ``close``): every game that price covers, model vs that price only;
  reported when it holds more games than ``common`` (totals, whose closing line is often
  another total; the run line, whose opening price exists in 2016 only).

Regression targets are scored by RMSE and MAE, against the quoted total for ``total_runs``.

The scores themselves come from :mod:`mlbedge.betting.metrics` (one copy of each metric); AUC,
which it lacks, from scikit-learn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.scoring import accuracy, brier, ece, log_loss, mean_ci, per_game_log_loss
from mlbedge.training.targets import get_target

FloatArray = npt.NDArray[np.float64]
SOURCES = ("model", "market_open", "market_asof", "market_close")
SCOPES = {"market_open": "open", "market_asof": "asof", "market_close": "close"}

SCORE_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "season": pl.String(),
    "scope": pl.String(),
    "source": pl.String(),
    "n_games": pl.Int64(),
    "log_loss": pl.Float64(),
    "brier": pl.Float64(),
    "auc": pl.Float64(),
    "ece": pl.Float64(),
    "accuracy": pl.Float64(),
    "rmse": pl.Float64(),
    "mae": pl.Float64(),
}
DIFF_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(),
    "season": pl.String(),
    "scope": pl.String(),
    "versus": pl.String(),
    "metric": pl.String(),
    "n_games": pl.Int64(),
    "estimate": pl.Float64(),
    "ci_low": pl.Float64(),
    "ci_high": pl.Float64(),
}


def auc(probability: npt.ArrayLike, outcome: npt.ArrayLike) -> float:
    """Area under the ROC curve; NaN when only one outcome occurs."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(outcome, dtype=np.float64)
    if np.unique(y).size < 2:
        return math.nan
    return float(roc_auc_score(y, np.asarray(probability, dtype=np.float64)))


def binary_scores(probability: npt.ArrayLike, outcome: npt.ArrayLike) -> dict[str, float]:
    """Log loss, Brier, AUC, ECE and accuracy of probabilities of a binary outcome."""
    return {
        "log_loss": log_loss(probability, outcome),
        "brier": brier(probability, outcome),
        "auc": auc(probability, outcome),
        "ece": ece(probability, outcome),
        "accuracy": accuracy(probability, outcome),
    }


def regression_scores(prediction: npt.ArrayLike, outcome: npt.ArrayLike) -> dict[str, float]:
    """Root mean squared and mean absolute error."""
    err = np.asarray(prediction, dtype=np.float64) - np.asarray(outcome, dtype=np.float64)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def _groups(frame: pl.DataFrame) -> Iterable[tuple[str, pl.DataFrame]]:
    for season in sorted(frame["season"].unique().to_list()):
        yield str(season), frame.filter(pl.col("season") == season)
    if frame["season"].n_unique() > 1:
        yield "pooled", frame


def _score_row(target: str, season: str, scope: str, source: str, n: int, values: dict[str, float]) -> dict:
    row: dict[str, object] = dict.fromkeys(SCORE_SCHEMA)
    row.update(target=target, season=season, scope=scope, source=source, n_games=n, **values)
    return row


def _differences(
    target: str, season: str, scope: str, rows: pl.DataFrame, sources: list[str], n_resamples: int, seed: int
) -> list[dict]:
    y = rows["y"].to_numpy()
    model = rows["p_model"].to_numpy()
    days = rows["date"].to_numpy() if "date" in rows.columns else None
    out = []
    for versus in sources:
        if versus == "model":
            continue
        market = rows[versus].to_numpy()
        for metric, per_game in (
            ("log_loss", per_game_log_loss(model, y) - per_game_log_loss(market, y)),
            ("brier", (model - y) ** 2 - (market - y) ** 2),
        ):
            interval = mean_ci(per_game, days=days, n_resamples=n_resamples, seed=seed)
            out.append(
                {
                    "target": target,
                    "season": season,
                    "scope": scope,
                    "versus": versus,
                    "metric": metric,
                    "n_games": rows.height,
                    "estimate": interval.estimate,
                    "ci_low": interval.low,
                    "ci_high": interval.high,
                }
            )
    return out


def compare(
    predictions: pl.DataFrame, *, min_games: int = 30, n_resamples: int = 2000, seed: int = 0
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Scores per target, season (and pooled), scope and source; and the model - market differences.

    ``predictions``: ``target, season, y, p_model, market_open, market_close`` and optionally
    ``market_asof`` and ``date`` (a walk-forward's test predictions). Returns ``(scores, differences)`` frames (:data:`SCORE_SCHEMA`,
    :data:`DIFF_SCHEMA`); rows without a label or a model prediction are left out.
    """
    scores: list[dict] = []
    diffs: list[dict] = []
    labelled = predictions.filter(pl.col("y").is_not_null() & pl.col("p_model").is_not_null())
    for target_name in labelled["target"].unique(maintain_order=True).to_list():
        target = get_target(target_name)
        if target.open_time:
            continue  # a move is scored by mlbedge.training.move.move_report, not against a price
        of_target = labelled.filter(pl.col("target") == target_name)
        for season, rows in _groups(of_target):
            available = [
                s for s in SOURCES[1:] if s in rows.columns and rows[s].is_not_null().sum() >= min_games
            ]
            common = rows.filter(
                pl.all_horizontal([pl.col(s).is_not_null() for s in available] or [pl.lit(True)])
            )
            scopes = [("common", common, available)]
            for source, scope in SCOPES.items():
                if source in available:
                    priced = rows.filter(pl.col(source).is_not_null())
                    if priced.height > common.height:
                        scopes.append((scope, priced, [source]))
            for scope, subset, benchmarks in scopes:
                if subset.is_empty():
                    continue
                sources = ["model", *benchmarks]
                y = subset["y"].to_numpy()
                for source in sources:
                    column = "p_model" if source == "model" else source
                    values = subset[column].to_numpy()
                    measured = (
                        binary_scores(values, y) if target.kind == "binary" else regression_scores(values, y)
                    )
                    scores.append(_score_row(target_name, season, scope, source, subset.height, measured))
                if target.kind == "binary":
                    diffs.extend(_differences(target_name, season, scope, subset, sources, n_resamples, seed))
    return (
        pl.DataFrame(scores, schema=SCORE_SCHEMA) if scores else pl.DataFrame(schema=SCORE_SCHEMA),
        pl.DataFrame(diffs, schema=DIFF_SCHEMA) if diffs else pl.DataFrame(schema=DIFF_SCHEMA),
    )


def markdown_table(
    scores: pl.DataFrame, differences: pl.DataFrame, target: str, scope: str = "common"
) -> str:
    """One target's comparison as a Markdown table: per season, log loss / Brier of each source and
    the model's log-loss difference with the opening line and with the price at as_of (the closing
    line in scope ``close``), with 95% intervals over dates. Regressions: RMSE of the model and of
    the quoted line."""
    rows = scores.filter((pl.col("target") == target) & (pl.col("scope") == scope))
    if rows.is_empty():
        return ""
    regression = rows["rmse"].is_not_null().any()
    versus = {"close": "market_close", "asof": "market_asof"}.get(scope, "market_open")
    label = {"close": "closing", "asof": "as-of"}.get(scope, "opening")
    if regression:
        lines = [f"| season | games | model RMSE | {label} line RMSE |", "|---|---|---|---|"]
    else:
        lines = [
            f"| season | games | model log loss / Brier | opening | at as_of | closing | model - {label} (95% CI) "
            "| model - at as_of (95% CI) |",
            "|---|---|---|---|---|---|---|---|",
        ]
    for season in rows["season"].unique(maintain_order=True).to_list():
        group = {r["source"]: r for r in rows.filter(pl.col("season") == season).iter_rows(named=True)}
        model = group["model"]
        if regression:
            market = group.get(versus)
            quoted = f"{market['rmse']:.3f}" if market else "-"
            lines.append(f"| {season} | {model['n_games']:,} | {model['rmse']:.3f} | {quoted} |")
            continue

        def cell(source: str, group: dict = group) -> str:
            r = group.get(source)
            return f"{r['log_loss']:.4f} / {r['brier']:.4f}" if r else "-"

        def gap(against: str, season: str = season) -> str:
            diff = differences.filter(
                (pl.col("target") == target)
                & (pl.col("season") == season)
                & (pl.col("scope") == scope)
                & (pl.col("versus") == against)
                & (pl.col("metric") == "log_loss")
            )
            if not diff.height:
                return "-"
            return f"{diff['estimate'][0]:+.4f} ({diff['ci_low'][0]:+.4f}, {diff['ci_high'][0]:+.4f})"

        lines.append(
            f"| {season} | {model['n_games']:,} | {cell('model')} | {cell('market_open')} "
            f"| {cell('market_asof')} | {cell('market_close')} | {gap(versus)} | {gap('market_asof')} |"
        )
    return "\n".join(lines)
