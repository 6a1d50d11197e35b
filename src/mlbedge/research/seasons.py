"""Season runs: models trained on earlier seasons, a season backtested with them, their forecasts
scored beside the market.

This sits above both :mod:`mlbedge.training` (fitting, labels, the forecast comparison) and
:mod:`mlbedge.betting` (the backtest engine and the betting rule), so neither has to import the
other. :func:`run_season` is the whole exercise for one test season: train the market models on the
training seasons, build the test season's features under the same cutoff, run
:class:`~mlbedge.betting.backtest.ModelStrategy`, and score the model's probabilities beside the
market's opening and closing lines on the same games (:func:`score_forecasts`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import psycopg

from mlbedge.betting.backtest import (
    MARKETS,
    BacktestResult,
    ModelStrategy,
    ProbabilityModel,
    gain_shares,
    load_inputs,
    run_backtest,
)
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.scoring import accuracy, brier, log_loss, none_if_nan
from mlbedge.settings import get_settings
from mlbedge.training.dataset import TrainingData, load_training_data
from mlbedge.training.evaluation import compare
from mlbedge.training.model_cache import ModelCache
from mlbedge.training.targets import get_target, label_frame
from mlbedge.training.trainer import fit_target


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


# ----------------------------------------------------------------------------------------------
# one season, end to end


@dataclass
class SeasonBacktest:
    """A test season backtested with models trained on earlier seasons."""

    train_seasons: list[int]
    test_season: int
    feature_set_version: str
    cutoff_minutes: int
    policy: StakingPolicy
    models: dict[str, Any]  # market -> ServingModel
    result: BacktestResult
    predictions: pl.DataFrame
    forecasts: dict[str, dict[str, Any]]
    timings: dict[str, float] = field(default_factory=dict)
    training: dict[str, dict[str, Any]] = field(default_factory=dict)

    def importance(self, top: int = 20) -> dict[str, dict[str, float]]:
        """Per market the ``top`` inputs by total gain, as shares of the model's total gain."""
        return gain_shares(self.models, top)

    def to_json(self, *, n_resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
        """The ``backtest --json`` document: one entry per market, ``all``, and what was run."""
        betting = self.result.summary(n_resamples=n_resamples, seed=seed)
        doc: dict[str, Any] = {
            "test_season": self.test_season,
            "train_seasons": self.train_seasons,
            "feature_set_version": self.feature_set_version,
            "cutoff_minutes": self.cutoff_minutes,
            "initial_bankroll": self.result.initial_bankroll,
            "policy": self.policy.model_dump(),
        }
        for name in MARKETS:
            forecasts = self.forecasts.get(name) or {
                "n_games": 0,
                "n_labelled": 0,
                **{s: _scores(None, None, None, 0) for s in SCORED_SOURCES},
                **dict.fromkeys(VERSUS_KEYS.values()),
            }
            doc[name] = {**forecasts, **betting[name], "modelled": name in self.models}
        doc["all"] = betting["all"]
        doc["rounds"] = self.result.rounds.height
        doc["timings_seconds"] = {k: round(v, 3) for k, v in self.timings.items()}
        doc["training"] = self.training
        return doc


def run_season(
    conn: psycopg.Connection,
    train_seasons: Sequence[int],
    test_season: int,
    *,
    markets: Sequence[str] = MARKETS,
    policy: StakingPolicy | None = None,
    bankroll: float = 1000.0,
    model_params: Mapping[str, object] | None = None,
    cutoff_minutes: int | None = None,
    build: bool = True,
    cache: ModelCache | None = None,
    data: TrainingData | None = None,
) -> SeasonBacktest:
    """Train a model per market on ``train_seasons``, backtest ``test_season`` with
    :class:`ModelStrategy`, and score the forecasts beside the market.

    Every training season must come before the test season. With ``build`` the features of the
    seasons involved are built first where missing or stale (the caller commits). With ``cache``
    a model fitted before on the same rows with the same parameters is read back instead of
    trained (:class:`~mlbedge.training.model_cache.ModelCache`); ``data`` (features and labels
    covering the training and test seasons) spares reading them again when several seasons run.
    """
    train = sorted(set(train_seasons))
    if not train:
        raise ValueError("no training season given")
    if train[-1] >= test_season:
        raise ValueError(
            f"training seasons must come before the test season {test_season}; got {train[0]}-{train[-1]}"
        )
    unknown = [m for m in markets if m not in MARKETS]
    if unknown:
        raise ValueError(f"unknown market(s) {unknown}; markets are {', '.join(MARKETS)}")
    cutoff = get_settings().cutoff_minutes if cutoff_minutes is None else cutoff_minutes
    policy = policy or StakingPolicy()
    timings: dict[str, float] = {}
    step = time.perf_counter()
    has_test = conn.execute(
        "SELECT 1 FROM curated.games WHERE season = %s LIMIT 1", (test_season,)
    ).fetchone()
    if has_test is None:
        raise LookupError(
            f"season {test_season} has no games in curated.games; load its file with `mlbedge data load`"
        )
    if data is None:
        data = load_training_data(conn, seasons=[*train, test_season], build=build, cutoff_minutes=cutoff)
    timings["features"] = time.perf_counter() - step

    step = time.perf_counter()
    models: dict[str, Any] = {}
    training: dict[str, dict[str, Any]] = {}
    for name in markets:
        target = get_target(name)
        labelled = data.labelled(target).filter(pl.col("season").is_in(train))
        if cache is not None:
            rows = labelled.filter(pl.col("y").is_not_null()).sort("date", "game_id")
            if rows.is_empty():
                raise ValueError(f"no labelled games to train {target.name} on")
            fitted = cache.fit(
                rows, target, data.feature_names, data.feature_set_version, **dict(model_params or {})
            )
            models[name] = fitted.model
            training[name] = {**fitted.meta, "seconds": round(fitted.seconds, 3), "cached": fitted.hit}
            continue
        trained = fit_target(
            labelled, target, data.feature_names, data.feature_set_version, **dict(model_params or {})
        )
        models[name] = trained.to_serving()
        training[name] = {**trained.meta(), "seconds": round(trained.seconds, 3)}
    timings["train"] = time.perf_counter() - step

    step = time.perf_counter()
    inputs = load_inputs(conn, test_season, cutoff_minutes=cutoff)
    timings["load"] = time.perf_counter() - step
    step = time.perf_counter()
    result = run_backtest(inputs, ModelStrategy(models, policy), bankroll=bankroll)
    timings["backtest"] = time.perf_counter() - step
    step = time.perf_counter()
    test_features = data.features.filter(pl.col("season") == test_season)
    predictions = predictions_frame(models, test_features, data.labels, data.asof)
    forecasts = score_forecasts(predictions)
    timings["score"] = time.perf_counter() - step
    return SeasonBacktest(
        train_seasons=train,
        test_season=test_season,
        feature_set_version=data.feature_set_version,
        cutoff_minutes=cutoff,
        policy=policy,
        models=models,
        result=result,
        predictions=predictions,
        forecasts=forecasts,
        timings=timings,
        training=training,
    )
