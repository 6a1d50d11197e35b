"""Side by side: the model against the de-vigged opening and closing lines, on the same games.

For each target and test season (and all seasons pooled) :func:`compare` scores the model's
probabilities and the market's with log loss, Brier, AUC, ECE and accuracy, and gives a bootstrap
interval of the per-game difference model - opening line (and model - closing line). A negative
difference in log loss means the model is sharper than that line.

Scopes, because a benchmark may price only some games (see :mod:`mlbedge.training.targets`):

- ``common``: the games every available benchmark prices (a benchmark is available in a group
  when it prices at least ``min_games`` of its games). All sources are scored on exactly these.
- ``open`` (``close``): every game the opening (closing) line prices, model vs that line only;
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
SOURCES = ("model", "market_open", "market_close")

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
    out = []
    for versus in sources:
        if versus == "model":
            continue
        market = rows[versus].to_numpy()
        for metric, per_game in (
            ("log_loss", per_game_log_loss(model, y) - per_game_log_loss(market, y)),
            ("brier", (model - y) ** 2 - (market - y) ** 2),
        ):
            interval = mean_ci(per_game, n_resamples=n_resamples, seed=seed)
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

    ``predictions``: ``target, season, y, p_model, market_open, market_close`` (a walk-forward's
    test predictions). Returns ``(scores, differences)`` frames (:data:`SCORE_SCHEMA`,
    :data:`DIFF_SCHEMA`); rows without a label or a model prediction are left out.
    """
    scores: list[dict] = []
    diffs: list[dict] = []
    labelled = predictions.filter(pl.col("y").is_not_null() & pl.col("p_model").is_not_null())
    for target_name in labelled["target"].unique(maintain_order=True).to_list():
        target = get_target(target_name)
        of_target = labelled.filter(pl.col("target") == target_name)
        for season, rows in _groups(of_target):
            available = [s for s in SOURCES[1:] if rows[s].is_not_null().sum() >= min_games]
            common = rows.filter(
                pl.all_horizontal([pl.col(s).is_not_null() for s in available] or [pl.lit(True)])
            )
            scopes = [("common", common, available)]
            for source, scope in (("market_open", "open"), ("market_close", "close")):
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
    the model's log-loss difference with the opening line (the closing line in scope ``close``),
    with its 95% interval. Regressions: RMSE of the model and of the quoted line."""
    rows = scores.filter((pl.col("target") == target) & (pl.col("scope") == scope))
    if rows.is_empty():
        return ""
    regression = rows["rmse"].is_not_null().any()
    versus = "market_close" if scope == "close" else "market_open"
    label = "closing" if scope == "close" else "opening"
    if regression:
        lines = [f"| season | games | model RMSE | {label} line RMSE |", "|---|---|---|---|"]
    else:
        lines = [
            f"| season | games | model log loss / Brier | opening | closing | model - {label} (95% CI) |",
            "|---|---|---|---|---|---|",
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

        diff = differences.filter(
            (pl.col("target") == target)
            & (pl.col("season") == season)
            & (pl.col("scope") == scope)
            & (pl.col("versus") == versus)
            & (pl.col("metric") == "log_loss")
        )
        d = (
            f"{diff['estimate'][0]:+.4f} ({diff['ci_low'][0]:+.4f}, {diff['ci_high'][0]:+.4f})"
            if diff.height
            else "-"
        )
        lines.append(
            f"| {season} | {model['n_games']:,} | {cell('model')} | {cell('market_open')} "
            f"| {cell('market_close')} | {d} |"
        )
    return "\n".join(lines)
