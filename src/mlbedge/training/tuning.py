"""Optional hyperparameter search with Optuna, on validation seasons only.

The objective of a trial is the pooled walk-forward score (log loss; RMSE for regressions) over
the **validation seasons**, each predicted by a model trained on the seasons before it. The test
seasons are refused: a search that sees them would make every later test number optimistic.

The study lives in an Optuna storage: ``MLBEDGE_OPTUNA_STORAGE_URL`` (a PostgreSQL URL lets
several machines add trials to one search; ``postgresql://`` is read through psycopg 3), or a
sqlite file under ``MLBEDGE_HOME``. A study of the same name is resumed, never restarted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlbedge.settings import Settings, get_settings
from mlbedge.training.dataset import TrainingData
from mlbedge.training.targets import Target
from mlbedge.training.walk_forward import run_walk_forward, season_folds

# The seasons the product reports as its test: never searched on.
TEST_SEASONS: tuple[int, ...] = (2015, 2016, 2017, 2018, 2019, 2020)


def storage_url(settings: Settings | None = None) -> str:
    """The Optuna storage URL: the setting (PostgreSQL through psycopg 3), or sqlite under home."""
    settings = settings or get_settings()
    url = settings.optuna_storage_url
    if not url:
        settings.home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{settings.home / 'optuna.db'}"
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


def suggest(trial: Any) -> dict[str, Any]:
    """The search space: the regularisation and tree-size parameters that matter most here."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.05, log=True),
        "num_leaves": trial.suggest_int("num_leaves", 3, 31),
        "min_data_in_leaf": trial.suggest_int("min_data_in_leaf", 50, 1000, log=True),
        "feature_fraction": trial.suggest_float("feature_fraction", 0.3, 1.0),
        "bagging_fraction": trial.suggest_float("bagging_fraction", 0.5, 1.0),
        "lambda_l2": trial.suggest_float("lambda_l2", 0.1, 100.0, log=True),
    }


@dataclass(frozen=True)
class TuningResult:
    """The best parameters found so far in a study, and how many trials it holds."""

    study_name: str
    storage: str
    best_params: dict[str, Any]
    best_value: float
    n_trials: int
    seconds: float


def tune(
    data: TrainingData,
    target: Target,
    *,
    validation_seasons: Sequence[int],
    n_trials: int,
    study_name: str | None = None,
    storage: str | None = None,
    fixed_params: dict[str, Any] | None = None,
    test_seasons: Sequence[int] = TEST_SEASONS,
    seed: int = 0,
    settings: Settings | None = None,
) -> TuningResult:
    """Run ``n_trials`` more trials of the study (created or resumed) and return its best so far.

    ``fixed_params`` are passed to every trial's estimator (for instance fewer boosting rounds).
    Raises ``ValueError`` when a validation season is a test season.
    """
    import optuna

    overlap = sorted(set(validation_seasons) & set(test_seasons))
    if overlap:
        raise ValueError(f"validation seasons {overlap} are test seasons: tuning on them is not allowed")
    started = time.perf_counter()
    url = storage or storage_url(settings)
    name = study_name or f"mlbedge-{target.name}"
    labelled = {target.name: data.labelled(target)}
    folds = season_folds(data.features, validation_seasons)
    fixed = {"calibration": "none", "calibration_folds": 0, **(fixed_params or {})}

    def objective(trial: optuna.Trial) -> float:
        params = {**suggest(trial), **fixed}
        result = run_walk_forward(labelled, [target], folds, data.feature_names, model_params=params)
        rows = result.predictions.filter(pl.col("y").is_not_null())
        y = rows["y"].to_numpy()
        p = rows["p_model"].to_numpy()
        if target.kind == "binary":
            q = np.clip(p, 1e-15, 1 - 1e-15)
            return float(-np.mean(y * np.log(q) + (1 - y) * np.log1p(-q)))
        return float(np.sqrt(np.mean((p - y) ** 2)))

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=name,
        storage=url,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=seed),
    )
    study.set_user_attr("target", target.name)
    study.set_user_attr("validation_seasons", list(validation_seasons))
    study.optimize(objective, n_trials=n_trials)
    return TuningResult(
        name,
        url,
        dict(study.best_params),
        float(study.best_value),
        len(study.trials),
        time.perf_counter() - started,
    )
