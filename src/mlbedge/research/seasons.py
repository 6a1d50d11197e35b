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

import math
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import psycopg

from mlbedge.betting.backtest import (
    MARKETS,
    BacktestResult,
    CloseStrategy,
    ModelStrategy,
    at_the_open,
    gain_shares,
    load_inputs,
    run_backtest,
)
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.report import write_report
from mlbedge.betting.verdict import bets_list, verdict
from mlbedge.research.forecasts import (
    SCORED_SOURCES,
    VERSUS_KEYS,
    _scores,
    predictions_frame,
    score_forecasts,
)
from mlbedge.research.moves import CLOSE_MARKETS, close_predictions, move_summary
from mlbedge.settings import Settings, get_settings
from mlbedge.skill import DEFAULT_CLOSE_MARGIN, DEFAULT_MAX_EDGE, Gate, close_gate, skill_gate
from mlbedge.training.dataset import TrainingData, load_training_data
from mlbedge.training.model_cache import ModelCache
from mlbedge.training.targets import get_target
from mlbedge.training.trainer import fit_target

# What a backtest bets on: the outcome models at the cutoff's prices (the default), or the move
# models at the opening prices, judged by closing-line value (:mod:`mlbedge.research.moves`).
STRATEGIES: tuple[str, ...] = ("outcome", "close")

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
    gates: dict[str, Gate] = field(default_factory=dict)
    strategy: str = "outcome"
    margin: float | None = None  # the close strategy's margin (logit)
    # The close strategy's move forecasts: per move target and game the predicted and actual
    # move (the rows :func:`mlbedge.training.move.move_report` scores).
    moves: pl.DataFrame | None = None

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
            "strategy": self.strategy,
            **({"margin": self.margin} if self.margin is not None else {}),
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
            if name in self.gates:
                doc[name]["gate"] = self.gates[name].as_dict()
        if self.moves is not None:
            for name, summary in move_summary(
                self.moves, threshold=self.margin, n_resamples=n_resamples, seed=seed
            ).items():
                doc[name]["move"] = summary
        doc["all"] = betting["all"]
        gates = {m: g.as_dict() for m, g in self.gates.items()}
        doc["verdict"] = verdict(betting["all"], gates, self.result.initial_bankroll)
        doc["bets"] = bets_list(self.result.bets)
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
    gate: bool = True,
    max_edge: float | None = DEFAULT_MAX_EDGE,
    cache: ModelCache | None = None,
    data: TrainingData | None = None,
    strategy: str = "outcome",
    margin: float = DEFAULT_CLOSE_MARGIN,
) -> SeasonBacktest:
    """Train a model per market on ``train_seasons``, backtest ``test_season`` with
    :class:`ModelStrategy`, and score the forecasts beside the market.

    ``strategy="close"`` trains the markets' move models instead (``close_moneyline``,
    ``close_total``; the run line has no opening price) on the rows built at the open, and bets
    the opening prices with :class:`~mlbedge.betting.backtest.CloseStrategy` (``margin``: the
    logit move a side's predicted close must clear); each market's gate is then the
    closing-line value of the close rule's out-of-fold bets (:func:`mlbedge.skill.close_gate`),
    and the forecasts scored are "open + predicted move" beside the open and the close, with the
    move's R² and direction hit rate (:mod:`mlbedge.research.moves`).

    Every training season must come before the test season. With ``build`` the features of the
    seasons involved are built first where missing or stale (the caller commits). With ``gate``
    (the default) a market bets only when its skill gate (:mod:`mlbedge.skill`) passes on the
    model's out-of-sample record on the training seasons, its probabilities blended with the price
    by the measured weight and its edges capped at ``max_edge``; without, every market bets on the
    model alone (the gate's record is still reported). With ``cache`` a model fitted before on the
    same rows with the same parameters is read back instead of trained
    (:class:`~mlbedge.training.model_cache.ModelCache`); ``data`` (features and labels covering the
    training and test seasons) spares reading them again when several seasons run.
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
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; strategies are {', '.join(STRATEGIES)}")
    close = strategy == "close"
    if close:
        markets = [m for m in markets if m in CLOSE_MARKETS]
        if not markets:
            raise ValueError(f"the close strategy bets {', '.join(CLOSE_MARKETS)} (no opening run line)")
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
    if data is None or (close and data.open_features is None):
        data = load_training_data(
            conn, seasons=[*train, test_season], build=build, cutoff_minutes=cutoff, open_time=close
        )
    timings["features"] = time.perf_counter() - step

    step = time.perf_counter()
    models: dict[str, Any] = {}
    training: dict[str, dict[str, Any]] = {}
    gates: dict[str, Gate] = {}
    for name in markets:
        target = get_target(CLOSE_MARKETS[name] if close else name)
        labelled = data.labelled(target).filter(pl.col("season").is_in(train))
        if cache is not None:
            fitted = cache.fit_target(
                labelled, target, data.feature_names, data.feature_set_version, **dict(model_params or {})
            )
            models[name] = fitted.model
            training[name] = {**fitted.meta, "seconds": round(fitted.seconds, 3), "cached": fitted.hit}
            record = fitted.oof_record()
        else:
            trained = fit_target(
                labelled, target, data.feature_names, data.feature_set_version, **dict(model_params or {})
            )
            models[name] = trained.to_serving()
            training[name] = {**trained.meta(), "seconds": round(trained.seconds, 3)}
            record = trained.oof_record()
        # Every training season precedes the test season: the model's own gate is judged on them.
        if close:
            gates[name] = close_gate(record, name, margin=margin, before_season=test_season, enabled=gate)
        else:
            gates[name] = skill_gate(record, name, before_season=test_season, enabled=gate)
    timings["train"] = time.perf_counter() - step

    step = time.perf_counter()
    inputs = load_inputs(conn, test_season, cutoff_minutes=cutoff)
    if close:
        assert data.open_features is not None
        inputs = at_the_open(inputs, data.open_features.filter(pl.col("season") == test_season))
    timings["load"] = time.perf_counter() - step
    step = time.perf_counter()
    capped = max_edge if gate else None
    bettor = (
        CloseStrategy(models, policy, margin=margin, gates=gates, max_edge=capped)
        if close
        else ModelStrategy(models, policy, gates=gates, max_edge=capped)
    )
    result = run_backtest(inputs, bettor, bankroll=bankroll)
    timings["backtest"] = time.perf_counter() - step
    step = time.perf_counter()
    moves = None
    if close:
        assert data.open_features is not None
        test_rows = data.open_features.filter(pl.col("season") == test_season)
        predictions, moves = close_predictions(models, test_rows, data.labels, data.asof)
    else:
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
        gates=gates,
        strategy=strategy,
        margin=margin if close else None,
        moves=moves,
    )


# ----------------------------------------------------------------------------------------------
# the record in MLflow


def flat_metrics(doc: dict[str, Any]) -> dict[str, float]:
    """The document's numbers as MLflow metric names (``moneyline.roi``, ``total.model.log_loss``...)."""
    out: dict[str, float] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, list) and len(value) == 2 and prefix.endswith("_ci"):
            walk(f"{prefix}.low", value[0])
            walk(f"{prefix}.high", value[1])
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[prefix] = float(value)

    for key in ("moneyline", "total", "runline", "all"):
        walk(key, doc.get(key))
    return out


def log_backtest(
    season: SeasonBacktest,
    doc: dict[str, Any],
    html: str,
    *,
    markets: Sequence[str],
    bankroll: float,
    report: Path | None = None,
    settings: Settings | None = None,
) -> str:
    """Log a season backtest as an MLflow run: what was run (params), its numbers (metrics, and
    ``backtest.json``) and the HTML report (written to ``report`` too when given). Returns the run id."""
    import mlflow

    from mlbedge.training import registry

    settings = settings or get_settings()
    experiment_id = registry.configure(settings)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"backtest-{season.test_season}") as run:
        mlflow.log_params(
            {
                "train_seasons": f"{season.train_seasons[0]}-{season.train_seasons[-1]}",
                "test_season": season.test_season,
                "markets": ",".join(markets),
                "strategy": season.strategy,
                "bankroll": bankroll,
                "feature_set_version": season.feature_set_version,
                **{f"policy.{k}": v for k, v in season.policy.model_dump().items()},
            }
        )
        mlflow.log_metrics(flat_metrics(doc))
        mlflow.set_tags({"mlbedge.kind": "backtest", "mlbedge.test_season": str(season.test_season)})
        mlflow.log_dict(doc, "backtest.json")
        if report is not None:
            write_report(html, report)
        else:
            with tempfile.TemporaryDirectory() as tmp:
                write_report(html, Path(tmp) / f"backtest_{season.test_season}.html")
        return str(run.info.run_id)
