"""The model's forecasts of a test season beside the market's: per market and game the label, the
model's probability and the opening and closing lines' (:func:`predictions_frame`), scored on the
same games (:func:`score_forecasts`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from mlbedge.betting.backtest import MARKETS, ProbabilityModel
from mlbedge.scoring import accuracy, brier, log_loss, none_if_nan
from mlbedge.training.evaluation import compare
from mlbedge.training.targets import label_frame


def predictions_frame(
    models: Mapping[str, ProbabilityModel],
    features: pl.DataFrame,
    labels: pl.DataFrame,
    asof: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per market and game: the label and the model's, the opening and the closing probability.

    Labels and benchmark probabilities follow :func:`mlbedge.training.targets.label_frame` (the
    same events the models are trained on). Columns: ``target, game_id, season, date, y, p_model,
    market_open, market_close, market_asof`` (``asof``: the prices quotable at each cutoff, see
    :mod:`mlbedge.training.asof_market`); rows without a label are left out.
    """
    frames = []
    for name, model in models.items():
        labelled = label_frame(features, labels, name, asof).filter(pl.col("y").is_not_null())
        if labelled.is_empty():
            continue
        x = labelled.select(pl.col(c).cast(pl.Float64) for c in model.feature_names).to_numpy()
        frames.append(
            labelled.select(
                pl.lit(name).alias("target"),
                "game_id",
                pl.col("season").cast(pl.Int64),
                "date",
                "y",
                pl.Series("p_model", np.asarray(model.predict_many(x), dtype=np.float64)),
                "market_open",
                "market_close",
                "market_asof",
            )
        )
    schema = {
        "target": pl.String, "game_id": pl.String, "season": pl.Int64, "date": pl.Date, "y": pl.Float64,
        "p_model": pl.Float64, "market_open": pl.Float64, "market_close": pl.Float64,
        "market_asof": pl.Float64,
    }  # fmt: skip
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def score_forecasts(
    predictions: pl.DataFrame, *, n_resamples: int = 2000, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Per market: ``n_games`` and the ``model``, ``market_open``, ``market_asof`` (the price bet
    into) and ``market_close`` scores on the same games, and the model's log-loss difference with
    each (``model_minus_open_log_loss``, ``..._asof_...``, ``..._close_...``), with bootstrap
    intervals over dates.

    The same games means every game that each benchmark pricing at least 30 of them prices
    (:func:`mlbedge.training.evaluation.compare`, scope ``common``). A benchmark that prices
    fewer (SBRO has no opening run line) is scored on its own games, with its own ``n_games``.
    """
    scores, differences = compare(predictions, n_resamples=n_resamples, seed=seed)
    # Several seasons are scored per season and pooled: these numbers are the pooled ones.
    scores, differences = _overall(scores), _overall(differences)
    out: dict[str, dict[str, Any]] = {}
    for name in MARKETS:
        rows = predictions.filter(pl.col("target") == name)
        common = scores.filter((pl.col("target") == name) & (pl.col("scope") == "common"))
        n_common = int(common["n_games"][0]) if common.height else 0
        entry: dict[str, Any] = {"n_games": n_common, "n_labelled": rows.height}
        for source in SCORED_SOURCES:
            found = common.filter(pl.col("source") == source)
            if found.height:
                r = found.row(0, named=True)
                entry[source] = _scores(r["log_loss"], r["brier"], r["accuracy"], r["n_games"])
            else:
                entry[source] = _own_scores(rows, source)
        for versus, key in VERSUS_KEYS.items():
            entry[key] = _difference(differences, name, versus)
        out[name] = entry
    return out


def _overall(frame: pl.DataFrame) -> pl.DataFrame:
    """Per target the rows of every game together: ``pooled`` where several seasons were scored,
    else the one season's."""
    if frame.is_empty():
        return frame
    several = pl.col("season").n_unique().over("target") > 1
    return frame.filter(~several | (pl.col("season") == "pooled"))


SCORED_SOURCES: tuple[str, ...] = ("model", "market_open", "market_asof", "market_close")
VERSUS_KEYS: dict[str, str] = {
    "market_open": "model_minus_open_log_loss",
    "market_asof": "model_minus_asof_log_loss",
    "market_close": "model_minus_close_log_loss",
}


def _difference(differences: pl.DataFrame, target: str, versus: str) -> dict[str, Any] | None:
    """The model - ``versus`` log-loss difference on the common games, with its interval."""
    diff = differences.filter(
        (pl.col("target") == target)
        & (pl.col("scope") == "common")
        & (pl.col("versus") == versus)
        & (pl.col("metric") == "log_loss")
    )
    if not diff.height:
        return None
    return {
        "estimate": none_if_nan(diff["estimate"][0]),
        "ci": [none_if_nan(diff["ci_low"][0]), none_if_nan(diff["ci_high"][0])],
    }


def _scores(log_loss: float | None, brier: float | None, accuracy: float | None, n: int) -> dict[str, Any]:
    return {
        "log_loss": none_if_nan(log_loss) if log_loss is not None else None,
        "brier": none_if_nan(brier) if brier is not None else None,
        "accuracy": none_if_nan(accuracy) if accuracy is not None else None,
        "n_games": n,
    }


def _own_scores(rows: pl.DataFrame, source: str) -> dict[str, Any]:
    column = "p_model" if source == "model" else source
    priced = rows.filter(pl.col(column).is_not_null()) if column in rows.columns else rows.clear()
    if priced.is_empty():
        return _scores(None, None, None, 0)
    p, y = priced[column].to_numpy(), priced["y"].to_numpy()
    return _scores(log_loss(p, y), brier(p, y), accuracy(p, y), priced.height)
