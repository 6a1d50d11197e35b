"""Walk-forward models trained once: a disk cache of fitted models shared by every command.

``models evaluate`` and ``backtest`` fit the same models (one per target and training window);
a researcher re-running either after changing nothing but the betting rule should not wait for
LightGBM again. A fit is keyed by what determines it:

- the **data**: a SHA-256 fingerprint of the training rows exactly as the trainer sees them (game
  ids, dates, labels and every model input, in order), so a corrected game or a rebuilt feature
  gives a new key;
- the **feature-set version**, the **target**, the **training seasons**;
- the estimator's **parameters** (every one, defaults included, but ``n_jobs``, which only says
  how many boosters are fitted at once) and the LightGBM version.

A key's folder under ``MLBEDGE_HOME/cache/models/<key>/`` holds the serving model's files
(:meth:`~mlbedge.training.artifact.ServingModel.save`) and ``fit.json`` (which rows were fitted,
early-stopped on and calibrated on, the out-of-fold report, the gain importance). A model is
always returned as read back from its files, hit or miss, so a first and a second run predict
exactly alike. Folders are written under a temporary name and renamed, so two processes filling
the same key never leave half a model. Every lookup is counted (:attr:`ModelCache.hits`,
:attr:`ModelCache.misses`) and appended to ``hits.log``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl

from mlbedge.settings import Settings, get_settings
from mlbedge.training.artifact import ServingModel
from mlbedge.training.targets import Target, handicap_rows, model_columns

FIT_FILE = "fit.json"
OOF_FILE = "oof.parquet"  # the out-of-fold record the skill gate is judged on
LOG_FILE = "hits.log"
# Regressions keep an out-of-fold record since the close strategy's gate (a move model's predicted
# moves and opening prices): their fits stored before it carry none, so their keys differ.
REGRESSION_RECORD = "oof-moves-1"


def fingerprint(rows: pl.DataFrame, columns: Sequence[str]) -> str:
    """SHA-256 of the training rows as the trainer reads them: ``game_id``, ``date``, ``y`` and
    ``columns`` (cast to float64, nulls as NaN), in row order."""
    digest = hashlib.sha256()
    digest.update(json.dumps(list(columns)).encode())
    digest.update("\n".join(rows["game_id"].cast(pl.String).to_list()).encode())
    digest.update(rows["date"].cast(pl.Int32).to_numpy().astype(np.int32).tobytes())
    digest.update(rows["y"].cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64).tobytes())
    matrix = rows.select(pl.col(c).cast(pl.Float64).fill_null(np.nan) for c in columns).to_numpy()
    digest.update(np.ascontiguousarray(matrix, dtype=np.float64).tobytes())
    return digest.hexdigest()


@dataclass
class CachedFit:
    """A fitted model from the cache: the serving model (its ``meta`` as :meth:`TrainedModel.meta`),
    the training seconds it cost when it was fitted, and the record of what it was fitted on."""

    key: str
    model: ServingModel
    hit: bool
    seconds: float
    record: dict[str, Any] = field(default_factory=dict)

    oof: pl.DataFrame | None = None

    @property
    def meta(self) -> dict[str, Any]:
        """What the model files and the registry record about it."""
        return self.model.meta

    def oof_record(self) -> pl.DataFrame:
        """The out-of-fold record the model was fitted with (:meth:`TrainedModel.oof_record`): the
        skill gate is judged on it, whether the model was trained now or read back."""
        if self.oof is None:
            raise ValueError(f"cached model {self.key} carries no out-of-fold record")
        return self.oof


class ModelCache:
    """Fitted models on disk, keyed by data, feature set, target, seasons and parameters."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    @classmethod
    def for_settings(cls, settings: Settings | None = None) -> ModelCache:
        """The cache under ``MLBEDGE_HOME/cache/models``."""
        return cls((settings or get_settings()).home / "cache" / "models")

    def key(
        self,
        data: str,
        *,
        target: str,
        feature_set_version: str,
        seasons: Sequence[int],
        params: Mapping[str, Any],
        record: str | None = None,
    ) -> str:
        """The folder name of one fit (a SHA-256 of everything that determines it; ``record``, when
        given, names the version of the out-of-fold record kept beside the model)."""
        spec = {
            "data": data,
            "target": target,
            "feature_set_version": feature_set_version,
            "seasons": sorted(int(s) for s in seasons),
            "params": {k: params[k] for k in sorted(params)},
            "lightgbm": lgb.__version__,
            **({"record": record} if record is not None else {}),
        }
        return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def fit_target(
        self,
        labelled: pl.DataFrame,
        target: Target,
        feature_names: Sequence[str],
        feature_set_version: str,
        **params: Any,
    ) -> CachedFit:
        """:func:`mlbedge.training.trainer.fit_target` through the cache: the same rows (the run
        line at both handicaps, labelled, by date and game), the same fit."""
        rows = handicap_rows(labelled).filter(pl.col("y").is_not_null()).sort("date", "game_id")
        if rows.is_empty():
            raise ValueError(f"no labelled games to train {target.name} on")
        return self.fit(rows, target, feature_names, feature_set_version, **params)

    def fit(
        self,
        rows: pl.DataFrame,
        target: Target,
        feature_names: Sequence[str],
        feature_set_version: str,
        **params: Any,
    ) -> CachedFit:
        """The model of ``target`` fitted on ``rows`` (exactly the rows fitted, in order), from the cache
        when the same fit was made before, else fitted now and stored."""
        from mlbedge.training.trainer import MarketModel, TrainedModel, row_prices

        columns = model_columns(list(feature_names), target)
        seasons = sorted(rows["season"].unique().to_list()) if "season" in rows.columns else []
        effective = MarketModel.for_target(target, **params).get_params()
        # How many boosters are fitted at once does not change the fit.
        effective.pop("n_jobs", None)
        key = self.key(
            fingerprint(rows, columns),
            target=target.name,
            feature_set_version=feature_set_version,
            seasons=seasons,
            params=effective,
            record=REGRESSION_RECORD if target.kind == "regression" else None,
        )
        folder = self.root / key
        if (folder / FIT_FILE).is_file() and (folder / OOF_FILE).is_file():
            record = json.loads((folder / FIT_FILE).read_text())
            self._log("hit", key, target.name)
            self.hits += 1
            oof = pl.read_parquet(folder / OOF_FILE)
            return CachedFit(key, ServingModel.load(folder), True, float(record["seconds"]), record, oof)
        started = time.perf_counter()
        model = MarketModel.for_target(target, **params)
        model.fit(rows.select(columns), rows["y"].to_numpy(), dates=rows["date"].to_numpy())
        seconds = time.perf_counter() - started
        trained = TrainedModel(
            target=target,
            model=model,
            feature_set_version=feature_set_version,
            train_start=rows["date"].min(),  # type: ignore[arg-type]
            train_end=rows["date"].max(),  # type: ignore[arg-type]
            seasons=seasons,
            n_train=rows["game_id"].n_unique(),  # games, not rows: the run line has two per game
            seconds=seconds,
            games=rows["game_id"].unique(maintain_order=True).to_list(),
            row_games=rows["game_id"].to_list(),
            row_prices=row_prices(rows, target),
        )
        record = {
            "seconds": seconds,
            "fit_index": model.fit_index_.tolist(),
            "valid_index": model.valid_index_.tolist(),
            "calibration_index": model.calibration_index_.tolist(),
            "best_iteration": model.best_iteration_,
            "calibration": model.calibrator_.method,
            "oof": dict(model.calibration_report_),
            "importance": model.gain_importance(),
            "params": model.get_params(),
        }
        oof = trained.oof_record()
        self._store(folder, trained.to_serving(), record, oof)
        self._log("miss", key, target.name)
        self.misses += 1
        return CachedFit(key, ServingModel.load(folder), False, seconds, record, oof)

    def _store(self, folder: Path, model: ServingModel, record: dict[str, Any], oof: pl.DataFrame) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.root))
        try:
            model.save(staging)
            oof.write_parquet(staging / OOF_FILE)
            (staging / FIT_FILE).write_text(json.dumps(record, default=str))
            try:
                os.replace(staging, folder)
            except OSError:
                # Another process stored the same key first: its files are the same fit.
                if not (folder / FIT_FILE).is_file():
                    raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def _log(self, outcome: str, key: str, target: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / LOG_FILE).open("a", encoding="utf-8") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {outcome} {key} {target}\n")
