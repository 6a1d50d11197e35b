"""Sliding-window retraining: a challenger every few days, promoted only when it beats the champion.

One cycle (:func:`retrain_cycle`, ``mlbedge retrain``) for each target, at a date ``as_of``:

1. **Due?** A cycle runs when the target's newest registered version was trained for a date at
   least ``retrain_every_days`` (3-10) before ``as_of`` (or when forced, or when none exists).
2. **Train the challenger** on the sliding window: the ``retrain_window_days`` before the
   holdout. The holdout is the last ``retrain_holdout_days`` before ``as_of``: the challenger
   never sees it. It is registered with the alias ``challenger``.
3. **Compare out of sample.** Both models predict the games of the holdout that neither was
   trained on (from the day after the later of the two training windows), and the promotion rule
   of ``mlbedge models compare`` decides (:func:`mlbedge.promotion.promotion_gate`): with at least
   ``retrain_min_games`` such games, the challenger is promoted to ``champion`` only when its mean
   log loss (squared error for regressions) is lower than the champion's by ``retrain_margin`` or
   more. The decision's reason carries the interval of the change and the Diebold-Mariano test.
4. **Log the decision** with its numbers as an MLflow run (and as tags of the challenger).

A target without a champion gets the challenger as its first champion. A champion whose inputs
are no longer built (another feature set) cannot serve, so the challenger replaces it; the
decision says so.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import polars as pl
import psycopg

from mlbedge.promotion import compare_errors, compare_forecasts, promotion_gate
from mlbedge.settings import Settings, get_settings
from mlbedge.training.dataset import TrainingData, load_training_data
from mlbedge.training.targets import Target, model_columns
from mlbedge.training.trainer import fit_target
from mlbedge.training.trainer import model_params as settings_params
from mlbedge.training.walk_forward import day_fold


@dataclass(frozen=True)
class RetrainConfig:
    """The cycle's numbers (from the settings unless given)."""

    every_days: int
    window_days: int
    holdout_days: int
    margin: float
    min_games: int

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> RetrainConfig:
        """The ``retrain_*`` settings."""
        s = settings or get_settings()
        return cls(
            s.retrain_every_days,
            s.retrain_window_days,
            s.retrain_holdout_days,
            s.retrain_margin,
            s.retrain_min_games,
        )


@dataclass
class Decision:
    """What one cycle did for one target, with the numbers it decided on."""

    target: str
    as_of: date
    due: bool
    promoted: bool
    reason: str
    metric: str = "log_loss"
    challenger_version: str | None = None
    champion_version: str | None = None
    train_start: date | None = None
    train_end: date | None = None
    eval_start: date | None = None
    eval_end: date | None = None
    n_eval_games: int = 0
    challenger_score: float | None = None
    champion_score: float | None = None
    improvement: float | None = None
    margin: float = 0.0
    run_id: str | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready (dates as ISO strings)."""
        return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}


def latest_result_date(conn: psycopg.Connection) -> date | None:
    """The last date with a final score in ``curated.games``."""
    row = conn.execute("SELECT max(date) FROM curated.games WHERE home_score IS NOT NULL").fetchone()
    return row[0] if row else None


def _trained_for(version: object) -> date | None:
    """The cycle date a registered version was trained for (its tag, else the day after its window)."""
    tags = getattr(version, "tags", None) or {}
    if tags.get("retrain_as_of"):
        return date.fromisoformat(tags["retrain_as_of"])
    if tags.get("train_end"):
        return date.fromisoformat(tags["train_end"]) + timedelta(days=1)
    return None


def retrain_target(
    data: TrainingData,
    target: Target,
    as_of: date,
    *,
    config: RetrainConfig,
    force: bool = False,
    settings: Settings | None = None,
    model_params: dict[str, object] | None = None,
) -> Decision:
    """One cycle for one target (see the module docstring); registers and logs through MLflow."""
    from mlbedge.training import registry

    settings = settings or get_settings()
    started = time.perf_counter()
    name = registry.model_name(target.name, settings)
    metric = "log_loss" if target.kind == "binary" else "mse"
    decision = Decision(
        target.name, as_of, due=True, promoted=False, reason="", metric=metric, margin=config.margin
    )
    registry.configure(settings)
    mlclient = registry.client(settings)
    versions = mlclient.search_model_versions(f"name='{name}'")
    if versions and not force:
        newest = max(versions, key=lambda v: int(v.version))
        last = _trained_for(newest)
        if last is not None and (as_of - last).days < config.every_days:
            decision.due = False
            decision.reason = (
                f"not due: version {newest.version} was trained for {last}, "
                f"next cycle on {last + timedelta(days=config.every_days)}"
            )
            return decision

    fold = day_fold(as_of, test_days=config.holdout_days, train_days=config.window_days)
    labelled = data.labelled(target).filter(pl.col("y").is_not_null())
    train = labelled.filter(fold.train_mask(labelled["date"]))
    if train.height < 500:
        decision.reason = (
            f"only {train.height} labelled games in the window {fold.train_start}..{fold.train_end}"
        )
        return decision
    params = {**settings_params(settings), **(model_params or {})}
    trained = fit_target(train, target, data.feature_names, data.feature_set_version, **params)
    decision.train_start, decision.train_end = trained.train_start, trained.train_end

    champion = registry.champion(name, settings=settings)
    logged = registry.log_training(
        trained,
        settings=settings,
        run_name=f"retrain-{target.name}-{as_of.isoformat()}",
        extra_tags={"mlbedge.retrain_as_of": as_of.isoformat()},
    )
    version = registry.register(logged, trained, settings=settings)
    decision.challenger_version = version
    mlclient.set_model_version_tag(name, version, "retrain_as_of", as_of.isoformat())

    if champion is None:
        decision.promoted = True
        decision.reason = "no champion yet: the challenger becomes the first champion"
    else:
        decision.champion_version = str(champion.version)
        champion_model = registry.load_serving_model(name, version=str(champion.version), settings=settings)
        champion_end = date.fromisoformat((champion.tags or {}).get("train_end", fold.train_end.isoformat()))
        start = max(fold.test_start, champion_end + timedelta(days=1), trained.train_end + timedelta(days=1))
        held_out = labelled.filter((pl.col("date") >= start) & (pl.col("date") < as_of))
        decision.eval_start, decision.eval_end = start, as_of - timedelta(days=1)
        decision.n_eval_games = held_out.height
        missing = [c for c in champion_model.feature_names if c not in held_out.columns]
        if missing:
            decision.promoted = True
            decision.reason = (
                f"the champion (version {champion.version}) reads inputs no longer built ({missing[:3]}...): "
                "the challenger replaces it"
            )
        elif held_out.is_empty():
            decision.reason = (
                f"no out-of-sample games from {start} to {as_of - timedelta(days=1)}: the champion stays"
            )
        else:
            y = held_out["y"].to_numpy()
            columns = model_columns(data.feature_names, target)
            champion_x = (
                held_out.select(champion_model.feature_names).select(pl.all().cast(pl.Float64)).to_numpy()
            )
            champion_p = champion_model.predict_many(champion_x)
            days = held_out["date"].to_numpy()
            if target.kind == "binary":
                challenger_p = trained.model.predict_proba(held_out.select(columns))[:, 1]
                comparison = compare_forecasts(y, champion_p, challenger_p, days)
            else:
                comparison = compare_errors(
                    y, champion_p, trained.model.predict(held_out.select(columns)), days
                )
            verdict = promotion_gate(comparison, margin=config.margin, min_games=config.min_games)
            decision.challenger_score = comparison.loss_b
            decision.champion_score = comparison.loss_a
            decision.improvement = comparison.loss_a - comparison.loss_b
            decision.promoted = verdict.promote
            decision.reason = verdict.reason
    if decision.promoted:
        registry.promote(name, version, settings=settings)
    decision.seconds = time.perf_counter() - started
    decision.run_id = _log_decision(decision, settings)
    mlclient.set_model_version_tag(
        name, version, "decision", "promoted" if decision.promoted else "kept champion"
    )
    return decision


def _log_decision(decision: Decision, settings: Settings) -> str:
    import mlflow

    from mlbedge.training import registry

    experiment_id = registry.configure(settings)
    numbers = {
        f"challenger_{decision.metric}": decision.challenger_score,
        f"champion_{decision.metric}": decision.champion_score,
        "improvement": decision.improvement,
        "margin": decision.margin,
        "n_eval_games": float(decision.n_eval_games),
        "promoted": 1.0 if decision.promoted else 0.0,
    }
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=f"retrain-decision-{decision.target}-{decision.as_of.isoformat()}",
    ) as run:
        mlflow.log_metrics(
            {k: float(v) for k, v in numbers.items() if v is not None and math.isfinite(float(v))}
        )
        mlflow.set_tags(
            {
                "mlbedge.kind": "retrain-decision",
                "mlbedge.target": decision.target,
                "mlbedge.decision": "promoted" if decision.promoted else "kept champion",
                "mlbedge.reason": decision.reason[:5000],
            }
        )
        mlflow.log_dict(decision.as_dict(), "decision.json")
        return run.info.run_id


def retrain_cycle(
    conn: psycopg.Connection,
    targets: Sequence[Target],
    *,
    as_of: date | None = None,
    force: bool = False,
    settings: Settings | None = None,
    config: RetrainConfig | None = None,
    model_params: dict[str, object] | None = None,
) -> list[Decision]:
    """One retraining cycle for each target at ``as_of`` (default: the day after the last final score).

    Reads the features of the seasons the window touches (building missing ones; the caller commits).
    """
    settings = settings or get_settings()
    config = config or RetrainConfig.from_settings(settings)
    if as_of is None:
        last = latest_result_date(conn)
        if last is None:
            raise LookupError("no game with a final score to retrain on; load data first")
        as_of = min(last + timedelta(days=1), date.today())
    first = as_of - timedelta(days=config.window_days + config.holdout_days + 1)
    data = load_training_data(conn, seasons=list(range(first.year, as_of.year + 1)))
    return [
        retrain_target(
            data, target, as_of, config=config, force=force, settings=settings, model_params=model_params
        )
        for target in targets
    ]
