"""MLflow: every training run logged, every model registered per target with ``champion``/``challenger``.

Where MLflow keeps things: ``MLBEDGE_MLFLOW_TRACKING_URI`` when set (a ``mlflow server`` with a
PostgreSQL backend in production and CI), else the embedded default, a sqlite file and an
artifact folder under ``MLBEDGE_HOME/mlflow`` (no server to run). One code path for both.

A training run logs its parameters, the out-of-fold metrics per fold (``step`` = fold), the
calibration choice and ECE, the gain importance of every input, the feature set version and the
training window, and the model with its signature. Registered models are named
``<prefix>-<target>`` (``mlbedge-moneyline``); a new version gets the alias ``challenger``, and
``champion`` moves only by :func:`promote` (or to a target's first model).

The logged model is a pyfunc (so any MLflow tool can load it), logged as a model from code
(:mod:`mlbedge.training.pyfunc_model`: no pickle), whose artifacts are the three plain files of
:mod:`mlbedge.training.artifact`. Serving skips the pyfunc layer: :func:`load_serving_model`
downloads those files once per version and returns a :class:`ServingModel` that predicts on a
numpy row.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightgbm as lgb
import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import polars as pl
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from mlbedge.settings import Settings, get_settings
from mlbedge.training.artifact import ServingModel
from mlbedge.training.dataset import TrainingData
from mlbedge.training.targets import TARGETS, Target
from mlbedge.training.trainer import TrainedModel, fit_target
from mlbedge.training.walk_forward import FoldRun

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_FILES_KEY = "model_files"
_BATCH = 900  # MLflow takes at most 1000 metrics per batch


# ----------------------------------------------------------------------------------------------
# where


def tracking_uri(settings: Settings | None = None) -> str:
    """The configured tracking URI, or the embedded sqlite store under ``home/mlflow``."""
    settings = settings or get_settings()
    if settings.mlflow_tracking_uri:
        return settings.mlflow_tracking_uri
    folder = settings.home / "mlflow"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / 'mlflow.db'}"


def is_embedded(settings: Settings | None = None) -> bool:
    """True when no tracking URI is configured (the sqlite store under home is used)."""
    return not (settings or get_settings()).mlflow_tracking_uri


def configure(settings: Settings | None = None) -> str:
    """Point MLflow at the configured store and make sure the experiment exists; returns its id.

    The embedded store keeps artifacts in ``home/mlflow/artifacts``; a server decides for itself.
    """
    settings = settings or get_settings()
    if os.environ.get("MLFLOW_LOGGING_LEVEL", "INFO").upper() in ("WARNING", "ERROR", "CRITICAL"):
        # Quiet (the CLI's default, see mlbedge.cli.options.quiet_mlflow): MLflow's own console
        # stream also carries "Successfully registered model" lines printed past the log level.
        from mlflow.utils.logging_utils import disable_logging

        disable_logging()
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = MlflowClient(uri, uri)
    experiment = client.get_experiment_by_name(settings.mlflow_experiment)
    if experiment is not None:
        return experiment.experiment_id
    location = None
    if is_embedded(settings):
        artifacts = settings.home / "mlflow" / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        location = artifacts.resolve().as_uri()
    try:
        return client.create_experiment(settings.mlflow_experiment, artifact_location=location)
    except MlflowException:
        # Another process created it in between.
        found = client.get_experiment_by_name(settings.mlflow_experiment)
        if found is None:
            raise
        return found.experiment_id


def client(settings: Settings | None = None) -> MlflowClient:
    """A client of the configured tracking and registry store."""
    uri = tracking_uri(settings)
    return MlflowClient(uri, uri)


def model_name(target: str, settings: Settings | None = None) -> str:
    """The registered model name of a target: ``<prefix>-<target>``."""
    return f"{(settings or get_settings()).model_name_prefix}-{target}"


# ----------------------------------------------------------------------------------------------
# the logged model


class MarketPyfunc(mlflow.pyfunc.PythonModel):
    """The pyfunc face of a model: loads the plain model files, predicts on a DataFrame."""

    def load_context(self, context: Any) -> None:
        """Read the model files from the logged artifacts."""
        self._model = ServingModel.load(Path(context.artifacts[MODEL_FILES_KEY]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> np.ndarray:
        """Calibrated probability (binary) or value (regression) per row of ``model_input``."""
        x = model_input[self._model.feature_names].to_numpy(dtype=np.float64, na_value=np.nan)
        return self._model.predict_many(x)


def signature(feature_names: list[str]) -> ModelSignature:
    """Inputs: one optional double per feature (nulls as NaN); output: one double."""
    inputs = Schema([ColSpec("double", name, required=False) for name in feature_names])
    return ModelSignature(inputs=inputs, outputs=Schema([ColSpec("double", "prediction")]))


def pip_requirements() -> list[str]:
    """Pinned requirements of the pyfunc, given explicitly (inferring them costs seconds)."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"lightgbm=={lgb.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]


# ----------------------------------------------------------------------------------------------
# logging a training run


def _finite(values: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}


def _log_batch(
    mlclient: MlflowClient, run_id: str, metrics: list[Metric], params: list[Param], tags: list[RunTag]
) -> None:
    for start in range(0, max(len(metrics), 1), _BATCH):
        chunk = metrics[start : start + _BATCH]
        first = start == 0
        mlclient.log_batch(run_id, metrics=chunk, params=params if first else [], tags=tags if first else [])


def fold_metrics(report: dict[str, float]) -> list[tuple[str, int, float]]:
    """``oof_foldK_<metric>`` entries of a calibration report as ``(oof_<metric>, K, value)``."""
    out = []
    for key, value in report.items():
        if key.startswith("oof_fold") and "_" in key[8:]:
            number, _, metric = key[8:].partition("_")
            if number.isdigit():
                out.append((f"oof_{metric}", int(number), value))
    return out


@dataclass(frozen=True)
class LoggedModel:
    """Where a training run and its model went."""

    run_id: str
    model_uri: str
    name: str
    version: str | None = None


def log_training(
    trained: TrainedModel,
    *,
    settings: Settings | None = None,
    run_name: str | None = None,
    extra_metrics: dict[str, float] | None = None,
    extra_tags: dict[str, str] | None = None,
    log_model: bool = True,
) -> LoggedModel:
    """Log one trained model as an MLflow run (parameters, per-fold metrics, importance, window,
    feature set, the model with its signature); returns the run and model URI."""
    settings = settings or get_settings()
    experiment_id = configure(settings)
    mlclient = client(settings)
    model = trained.model
    now = int(time.time() * 1000)
    params = {
        **{k: v for k, v in model.get_params().items()},
        "target": trained.target.name,
        "feature_set_version": trained.feature_set_version,
        "train_start": trained.train_start.isoformat(),
        "train_end": trained.train_end.isoformat(),
        "train_seasons": ",".join(str(s) for s in trained.seasons),
        "n_train": trained.n_train,
        "n_features": model.n_features_in_,
        "best_iteration": model.best_iteration_,
        "calibration_method": model.calibrator_.method,
    }
    report = dict(model.calibration_report_)
    metrics = [
        Metric(k, v, now, 0)
        for k, v in _finite({**report, **(extra_metrics or {})}).items()
        if not k.startswith("oof_fold")
    ]
    metrics += [Metric(k, float(v), now, step) for k, step, v in fold_metrics(report) if math.isfinite(v)]
    metrics.append(Metric("train_seconds", trained.seconds, now, 0))
    importance = model.gain_importance()
    metrics += [Metric(f"gain.{k}", v, now, 0) for k, v in list(importance.items())[:20]]
    tags = {
        "mlbedge.target": trained.target.name,
        "mlbedge.feature_set_version": trained.feature_set_version,
        "mlbedge.train_start": trained.train_start.isoformat(),
        "mlbedge.train_end": trained.train_end.isoformat(),
        **(extra_tags or {}),
    }
    with mlflow.start_run(
        experiment_id=experiment_id, run_name=run_name or f"train-{trained.target.name}"
    ) as run:
        run_id = run.info.run_id
        _log_batch(
            mlclient,
            run_id,
            metrics,
            [Param(k, str(v)) for k, v in params.items()],
            [RunTag(k, v) for k, v in tags.items()],
        )
        mlflow.log_dict(importance, "feature_importance_gain.json")
        mlflow.log_dict(trained.meta(), "training_window.json")
        model_uri = ""
        if log_model:
            with tempfile.TemporaryDirectory() as tmp:
                files = trained.to_serving().save(Path(tmp) / MODEL_FILES_KEY)
                with warnings.catch_warnings():
                    # No input example on purpose: validating one runs the model at log time.
                    warnings.filterwarnings("ignore", message=".*input example was not provided.*")
                    info = mlflow.pyfunc.log_model(
                        name="model",
                        python_model=str(Path(__file__).with_name("pyfunc_model.py")),
                        artifacts={MODEL_FILES_KEY: str(files)},
                        signature=signature(model.feature_names_in_),
                        pip_requirements=pip_requirements(),
                        metadata={"feature_set_version": trained.feature_set_version},
                    )
            model_uri = info.model_uri
    return LoggedModel(run_id, model_uri, model_name(trained.target.name, settings))


# ----------------------------------------------------------------------------------------------
# the registry


def register(
    logged: LoggedModel,
    trained: TrainedModel,
    *,
    settings: Settings | None = None,
    aliases: tuple[str, ...] = (CHALLENGER,),
) -> str:
    """Register a logged model as a new version of its target's model; set ``aliases``; returns the version.

    A target's first version also becomes ``champion`` (there is nothing to beat yet).
    """
    settings = settings or get_settings()
    configure(settings)
    mlclient = client(settings)
    tags = {
        "target": trained.target.name,
        "feature_set_version": trained.feature_set_version,
        "train_start": trained.train_start.isoformat(),
        "train_end": trained.train_end.isoformat(),
        "n_train": str(trained.n_train),
        "calibration": trained.model.calibrator_.method,
        "run_id": logged.run_id,
    }
    version = mlflow.register_model(logged.model_uri, logged.name, tags=tags).version
    wanted = list(aliases)
    if CHAMPION not in wanted and champion(logged.name, settings=settings) is None:
        wanted.append(CHAMPION)
    for alias in wanted:
        mlclient.set_registered_model_alias(logged.name, alias, str(version))
    return str(version)


def champion(name: str, *, settings: Settings | None = None, alias: str = CHAMPION) -> Any | None:
    """The model version holding ``alias`` (default champion), or None."""
    try:
        return client(settings).get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def promote(name: str, version: str, *, settings: Settings | None = None) -> str | None:
    """Make ``version`` the champion of ``name``; returns the version it replaced (if any).

    The replaced version keeps a ``previous_champion`` alias, so a promotion can be undone.
    """
    mlclient = client(settings)
    mlclient.get_model_version(name, str(version))  # raises with a clear message when missing
    before = champion(name, settings=settings)
    mlclient.set_registered_model_alias(name, CHAMPION, str(version))
    if before is not None and str(before.version) != str(version):
        mlclient.set_registered_model_alias(name, "previous_champion", str(before.version))
        return str(before.version)
    return None


def list_models(*, settings: Settings | None = None) -> pl.DataFrame:
    """Every registered version of this product's models: name, version, aliases, window, metrics."""
    settings = settings or get_settings()
    mlclient = client(settings)
    prefix = settings.model_name_prefix + "-"
    rows = []
    for registered in mlclient.search_registered_models():
        if not registered.name.startswith(prefix):
            continue
        aliases_by_version: dict[str, list[str]] = {}
        for alias, version in (registered.aliases or {}).items():
            aliases_by_version.setdefault(str(version), []).append(alias)
        for mv in mlclient.search_model_versions(f"name='{registered.name}'"):
            tags = mv.tags or {}
            rows.append(
                {
                    "name": mv.name,
                    "version": int(mv.version),
                    "aliases": ",".join(sorted(aliases_by_version.get(str(mv.version), []))),
                    "feature_set": tags.get("feature_set_version", ""),
                    "train_start": tags.get("train_start", ""),
                    "train_end": tags.get("train_end", ""),
                    "n_train": int(tags["n_train"]) if tags.get("n_train", "").isdigit() else None,
                    "calibration": tags.get("calibration", ""),
                    "created": pd.Timestamp(mv.creation_timestamp, unit="ms").strftime("%Y-%m-%d %H:%M"),
                }
            )
    schema = {
        "name": pl.String, "version": pl.Int64, "aliases": pl.String, "feature_set": pl.String,
        "train_start": pl.String, "train_end": pl.String, "n_train": pl.Int64, "calibration": pl.String,
        "created": pl.String,
    }  # fmt: skip
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(rows, schema=schema).sort("name", "version")


def load_serving_model(
    name: str,
    *,
    alias: str | None = CHAMPION,
    version: str | None = None,
    settings: Settings | None = None,
    cache_dir: Path | None = None,
) -> ServingModel:
    """A registered model (by alias, or by version) as a :class:`ServingModel`, without pyfunc.

    The model files of a version are downloaded once into ``cache_dir`` (default
    ``home/mlflow/cache``); versions never change, so later loads read the cache.
    """
    settings = settings or get_settings()
    mlclient = client(settings)
    if version is None:
        if alias is None:
            raise ValueError("give an alias or a version")
        try:
            version = str(mlclient.get_model_version_by_alias(name, alias).version)
        except MlflowException as exc:
            raise LookupError(f"registered model {name!r} has no version with alias {alias!r}") from exc
    folder = (cache_dir or settings.home / "mlflow" / "cache") / name / str(version)
    files = folder / "artifacts" / MODEL_FILES_KEY
    if not files.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}/{version}",
            dst_path=str(folder),
            tracking_uri=tracking_uri(settings),
            registry_uri=tracking_uri(settings),
        )
    model = ServingModel.load(files)
    model.meta = {**model.meta, "name": name, "version": str(version)}
    return model


@dataclass(frozen=True)
class ModelReference:
    """A registered model and one of its versions, by alias or by number."""

    name: str
    alias: str | None
    version: str | None


def parse_model_reference(text: str, settings: Settings | None = None) -> ModelReference:
    """``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` (MLflow's URIs), ``NAME@ALIAS`` or
    ``NAME/VERSION``; a NAME that is a target (``moneyline``) gets the settings' model prefix.

    Raises ``ValueError`` naming the text when it is none of these.
    """
    body = text.strip().removeprefix("models:/")
    if "@" in body:
        name, alias = body.split("@", 1)
        version = None
    elif "/" in body:
        name, version = body.rsplit("/", 1)
        alias = None
    else:
        name = alias = version = None
    if not name or (alias is None and not version) or (version is None and not alias):
        raise ValueError(
            f"{text!r}: give NAME@ALIAS (moneyline@champion), NAME/VERSION (moneyline/3) "
            "or MLflow's models:/NAME@ALIAS"
        )
    full = model_name(name, settings) if name in TARGETS else name
    return ModelReference(full, alias, version)


def load_reference(text: str, settings: Settings | None = None) -> ServingModel:
    """The model ``text`` names (:func:`parse_model_reference`), as a :class:`ServingModel`."""
    ref = parse_model_reference(text, settings)
    return load_serving_model(ref.name, alias=ref.alias, version=ref.version, settings=settings)


def log_evaluation(
    scores: pl.DataFrame,
    differences: pl.DataFrame,
    *,
    settings: Settings | None = None,
    run_name: str = "walk-forward",
    params: dict[str, Any] | None = None,
    folds: Sequence[FoldRun] = (),
    feature_set_version: str | None = None,
    moves: pl.DataFrame | None = None,
) -> str:
    """Log a walk-forward comparison as one run: a metric per target, season, scope and source.

    ``moves`` (:func:`mlbedge.training.move.move_report`) adds the move targets' scores as
    ``<target>.<season>.move.<metric>`` and ``moves.csv``.

    Each model of ``folds`` becomes a child run with its parameters, training window, feature
    set, out-of-fold metrics per calibration fold and gain importance (no model artifact: these
    models are for measuring, not serving).
    """
    settings = settings or get_settings()
    experiment_id = configure(settings)
    mlclient = client(settings)
    now = int(time.time() * 1000)
    metrics: list[Metric] = []
    for row in scores.iter_rows(named=True):
        for metric in ("log_loss", "brier", "auc", "ece", "accuracy", "rmse", "mae"):
            value = row[metric]
            if value is not None and math.isfinite(value):
                key = f"{row['target']}.{row['season']}.{row['scope']}.{row['source']}.{metric}"
                metrics.append(Metric(key, float(value), now, 0))
    for row in differences.iter_rows(named=True):
        base = f"{row['target']}.{row['season']}.{row['scope']}.model_minus_{row['versus']}.{row['metric']}"
        for suffix in ("estimate", "ci_low", "ci_high"):
            value = row[suffix]
            if value is not None and math.isfinite(value):
                metrics.append(Metric(f"{base}.{suffix}", float(value), now, 0))
    for row in (moves if moves is not None else pl.DataFrame()).iter_rows(named=True):
        for metric, value in row.items():
            if metric not in ("target", "season") and value is not None and math.isfinite(value):
                metrics.append(Metric(f"{row['target']}.{row['season']}.move.{metric}", float(value), now, 0))
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        _log_batch(
            mlclient, run.info.run_id, metrics, [Param(k, str(v)) for k, v in (params or {}).items()], []
        )
        mlflow.log_text(scores.write_csv(), "scores.csv")
        mlflow.log_text(differences.write_csv(), "differences.csv")
        if moves is not None:
            mlflow.log_text(moves.write_csv(), "moves.csv")
        mlflow.log_text(json.dumps(params or {}, default=str), "walk_forward.json")
        parent = run.info.run_id
    for fold in folds:
        _log_fold(mlclient, experiment_id, parent, fold, feature_set_version, now)
    return parent


def _log_fold(
    mlclient: MlflowClient,
    experiment_id: str,
    parent: str,
    fold: FoldRun,
    feature_set_version: str | None,
    now: int,
) -> None:
    """One walk-forward model as a child run of the comparison."""
    window = {
        "train_start": fold.fold.train_start.isoformat() if fold.fold.train_start else "",
        "train_end_exclusive": fold.fold.train_end.isoformat(),
        "test_start": fold.fold.test_start.isoformat(),
        "test_end": fold.fold.test_end.isoformat(),
        "gap_days": fold.fold.gap_days,
    }
    params = {
        **fold.params,
        **window,
        "target": fold.target,
        "n_train": len(fold.train_games),
        "n_early_stopping": len(fold.early_stopping_games),
        "n_test": len(fold.test_games),
        "best_iteration": fold.best_iteration,
        "calibration_method": fold.calibration,
    }
    if feature_set_version:
        params["feature_set_version"] = feature_set_version
    metrics = [Metric(k, v, now, 0) for k, v in _finite(fold.oof).items() if not k.startswith("oof_fold")]
    metrics += [Metric(k, float(v), now, step) for k, step, v in fold_metrics(fold.oof) if math.isfinite(v)]
    metrics.append(Metric("train_seconds", fold.seconds, now, 0))
    metrics += [Metric(f"gain.{k}", v, now, 0) for k, v in list(fold.importance.items())[:20]]
    tags = {
        "mlflow.parentRunId": parent,
        "mlflow.runName": f"{fold.target}-{fold.fold.name}",
        "mlbedge.target": fold.target,
        "mlbedge.fold": fold.fold.name,
    }
    child = mlclient.create_run(experiment_id, tags=tags)
    _log_batch(
        mlclient,
        child.info.run_id,
        metrics,
        [Param(k, str(v)) for k, v in params.items()],
        [],
    )
    mlclient.log_dict(child.info.run_id, fold.importance, "feature_importance_gain.json")
    mlclient.set_terminated(child.info.run_id)


# ----------------------------------------------------------------------------------------------
# train and register


@dataclass(frozen=True)
class Published:
    """One target trained, logged and registered: the version and the aliases it holds."""

    target: Target
    trained: TrainedModel
    logged: LoggedModel
    version: str
    aliases: tuple[str, ...]


def train_and_register(
    data: TrainingData,
    targets: Sequence[Target],
    *,
    settings: Settings | None = None,
    params: dict[str, object] | None = None,
    promote: bool = False,
) -> Iterator[Published]:
    """Per target: fit on ``data``, log the run, register a version with alias ``challenger`` (and
    ``champion`` with ``promote``, or when it is the target's first model). Yields each as it is done.
    """
    settings = settings or get_settings()
    for target in targets:
        trained = fit_target(
            data.labelled(target), target, data.feature_names, data.feature_set_version, **(params or {})
        )
        logged = log_training(trained, settings=settings)
        aliases = (CHALLENGER, CHAMPION) if promote else (CHALLENGER,)
        version = register(logged, trained, settings=settings, aliases=aliases)
        holder = champion(logged.name, settings=settings)
        held = (CHALLENGER, CHAMPION) if holder and str(holder.version) == version else (CHALLENGER,)
        yield Published(target, trained, logged, version, held)
