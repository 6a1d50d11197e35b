"""A trained model as plain files, and the small predictor serving uses.

A model is three files: ``booster.txt`` (LightGBM's own text format), ``calibrator.json`` (a few
numbers, see :mod:`mlbedge.training.calibration`) and ``model.json`` (input columns, kind, the
market column used as init score and its fallback, and metadata). No pickles: the files are
readable, diffable and load in milliseconds.

:class:`ServingModel` predicts from a numpy row (or matrix) in the order of ``feature_names``,
with nulls as NaN. The estimator in :mod:`mlbedge.training.trainer` predicts through the same
:func:`raw_scores` function, so a model gives the same numbers before and after a round trip
through these files (and through the MLflow registry, which stores them as artifacts).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from mlbedge.training.calibration import Calibrator

FloatArray = npt.NDArray[np.float64]
BOOSTER_FILE = "booster.txt"
CALIBRATOR_FILE = "calibrator.json"
MODEL_FILE = "model.json"
FILES = (BOOSTER_FILE, CALIBRATOR_FILE, MODEL_FILE)


def logit(p: npt.ArrayLike) -> FloatArray:
    """Log odds, clipped away from 0 and 1."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-9, 1.0 - 1e-9)
    return np.log(q) - np.log1p(-q)


def sigmoid(z: npt.ArrayLike) -> FloatArray:
    """Inverse of :func:`logit`."""
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def init_scores(x: FloatArray, market_index: int | None, fallback: float) -> FloatArray:
    """The base score of each row: the market's log odds, or ``fallback`` where the market is missing."""
    if market_index is None:
        return np.zeros(x.shape[0])
    market = x[:, market_index]
    ok = np.isfinite(market) & (market > 0.0) & (market < 1.0)
    return np.where(ok, logit(np.where(ok, market, 0.5)), fallback)


def raw_scores(booster: lgb.Booster, x: FloatArray, market_index: int | None, fallback: float) -> FloatArray:
    """The booster's raw score plus the init score (log odds for binary models).

    One thread: a prediction is microseconds of work, and starting a thread team for it costs
    more than it saves (measured: ~40 us per row on one thread, up to milliseconds on two).
    """
    return booster.predict(x, raw_score=True, num_threads=1) + init_scores(x, market_index, fallback)


@dataclass
class ServingModel:
    """A trained model ready to predict from numpy rows, without any MLflow wrapper."""

    booster: lgb.Booster
    feature_names: list[str]
    kind: str
    calibrator: Calibrator
    market_index: int | None = None
    init_fallback: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def _matrix(self, x: npt.ArrayLike) -> FloatArray:
        array = np.asarray(x, dtype=np.float64)
        if array.ndim == 1:
            array = array.reshape(1, -1)
        if array.shape[1] != len(self.feature_names):
            raise ValueError(
                f"model expects {len(self.feature_names)} columns ({self.feature_names[:3]}...), "
                f"got {array.shape[1]}"
            )
        return array

    def predict_raw(self, x: npt.ArrayLike) -> FloatArray:
        """Uncalibrated probabilities (binary) or predicted values (regression)."""
        scores = raw_scores(self.booster, self._matrix(x), self.market_index, self.init_fallback)
        return sigmoid(scores) if self.kind == "binary" else scores

    def predict_many(self, x: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities (binary) or values (regression), one per row."""
        raw = self.predict_raw(x)
        return self.calibrator(raw) if self.kind == "binary" else raw

    def predict(self, row: npt.ArrayLike) -> float:
        """One calibrated probability (or value) for one row of features."""
        return float(self.predict_many(row)[0])

    # ------------------------------------------------------------------------------------------
    # files

    def save(self, folder: Path) -> Path:
        """Write the three model files into ``folder``; returns it."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / BOOSTER_FILE).write_text(self.booster.model_to_string())
        (folder / CALIBRATOR_FILE).write_text(json.dumps(self.calibrator.to_dict()))
        (folder / MODEL_FILE).write_text(
            json.dumps(
                {
                    "feature_names": self.feature_names,
                    "kind": self.kind,
                    "market_index": self.market_index,
                    "init_fallback": self.init_fallback,
                    "meta": self.meta,
                },
                indent=2,
                default=str,
            )
        )
        return folder

    @classmethod
    def load(cls, folder: Path) -> ServingModel:
        """Read a model written by :meth:`save` (FileNotFoundError names the missing file)."""
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder}: model files missing: {missing}")
        spec = json.loads((folder / MODEL_FILE).read_text())
        booster = lgb.Booster(model_str=(folder / BOOSTER_FILE).read_text())
        return cls(
            booster=booster,
            feature_names=list(spec["feature_names"]),
            kind=spec["kind"],
            calibrator=Calibrator.from_dict(json.loads((folder / CALIBRATOR_FILE).read_text())),
            market_index=spec["market_index"],
            init_fallback=float(spec["init_fallback"]),
            meta=spec.get("meta", {}),
        )
