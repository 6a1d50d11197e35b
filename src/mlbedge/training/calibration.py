"""Calibration: a monotone map from the model's raw probability to one that means what it says.

Fitted **out of fold** only. A model's probabilities on its own training rows are too confident,
so the calibration map is learnt from predictions each made by a model that never saw that row
(:func:`out_of_fold` in the trainer: contiguous date blocks, each predicted by a model trained on
the blocks before it). Three candidates:

- ``none``: the identity (an init score from the market often leaves little to correct);
- ``platt``: a logistic regression on the logit of the probability, ``sigmoid(a * logit(p) + b)``;
- ``isotonic``: a non-decreasing step function, linearly interpolated between its knots.

:func:`choose_calibrator` picks by validation in time order: each candidate is fitted on the
earlier out-of-fold predictions and scored (log loss) on the later ones; the winner is refitted
on all of them. The expected calibration error (ECE) is reported on the validation predictions,
before and after the winning map (fitted without them).

A fitted calibrator is a few numbers (:meth:`Calibrator.to_dict`), applied with numpy only, so
serving needs neither scikit-learn nor pickles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mlbedge.scoring import ece, log_loss

Method = Literal["none", "platt", "isotonic"]
METHODS: tuple[Method, ...] = ("none", "platt", "isotonic")
FloatArray = npt.NDArray[np.float64]

# Calibrated probabilities stay inside this band: one surprising game cannot score log(0).
P_MIN = 1e-3
P_MAX = 1.0 - P_MIN


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-9, 1.0 - 1e-9)
    return np.log(q) - np.log1p(-q)


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibration map. ``params``: Platt ``a, b``; isotonic knots ``x, y``; nothing for none."""

    method: Method
    params: dict[str, Any] = field(default_factory=dict)

    def __call__(self, probability: npt.ArrayLike) -> FloatArray:
        """Calibrated probabilities of raw ones (any shape)."""
        p = np.asarray(probability, dtype=np.float64)
        if self.method == "none":
            out = p
        elif self.method == "platt":
            z = self.params["a"] * _logit(p) + self.params["b"]
            out = 1.0 / (1.0 + np.exp(-z))
        elif self.method == "isotonic":
            out = np.interp(p, np.asarray(self.params["x"]), np.asarray(self.params["y"]))
        else:  # pragma: no cover - from_dict checks the method
            raise ValueError(f"unknown calibration method {self.method!r}")
        return np.clip(out, P_MIN, P_MAX)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {"method": self.method, "params": self.params}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        """Inverse of :meth:`to_dict` (ValueError names an unknown method or missing parameter)."""
        method = data.get("method")
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")
        params = dict(data.get("params") or {})
        needed = {"none": (), "platt": ("a", "b"), "isotonic": ("x", "y")}[method]
        missing = [k for k in needed if k not in params]
        if missing:
            raise ValueError(f"{method} calibrator lacks {missing}")
        return cls(method, params)


def fit_calibrator(method: Method, probability: npt.ArrayLike, outcome: npt.ArrayLike) -> Calibrator:
    """Fit one calibration map on (out-of-fold) probabilities and binary outcomes."""
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    if method == "none":
        return Calibrator("none")
    if p.size < 2 or np.unique(y).size < 2:
        raise ValueError(f"{method} calibration needs both outcomes among at least 2 rows, got {p.size} rows")
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        # Nearly unpenalised: with one input and thousands of rows the fit is well determined.
        model = LogisticRegression(C=1e6, solver="lbfgs", max_iter=1000)
        model.fit(_logit(p).reshape(-1, 1), y)
        return Calibrator("platt", {"a": float(model.coef_[0, 0]), "b": float(model.intercept_[0])})
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        iso = IsotonicRegression(y_min=P_MIN, y_max=P_MAX, out_of_bounds="clip")
        iso.fit(p, y)
        return Calibrator(
            "isotonic",
            {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in iso.y_thresholds_]},
        )
    raise ValueError(f"unknown calibration method {method!r}; known: {', '.join(METHODS)}")


@dataclass(frozen=True)
class CalibrationChoice:
    """The chosen calibrator and the numbers it was chosen by."""

    calibrator: Calibrator
    validation_log_loss: dict[str, float]
    n_fit: int
    n_validation: int
    ece_before: float
    ece_after: float

    def report(self) -> dict[str, float]:
        """Flat numbers for logging (``cal_valid_log_loss_<method>``, ECE before/after, counts)."""
        out = {f"cal_valid_log_loss_{m}": v for m, v in self.validation_log_loss.items()}
        out.update(
            cal_n_fit=float(self.n_fit),
            cal_n_validation=float(self.n_validation),
            cal_valid_ece_raw=self.ece_before,
            cal_valid_ece_calibrated=self.ece_after,
        )
        return out


def choose_calibrator(
    probability: npt.ArrayLike,
    outcome: npt.ArrayLike,
    *,
    methods: tuple[Method, ...] = METHODS,
    valid_fraction: float = 0.3,
) -> CalibrationChoice:
    """Pick the calibration method by time-ordered validation, then refit it on every row.

    ``probability`` and ``outcome`` are out-of-fold predictions **in time order**. Each method is
    fitted on the first ``1 - valid_fraction`` and scored by log loss on the rest; ties go to
    the simpler method (the order of ``methods``). With too few rows to split, the identity is kept.
    """
    p = np.asarray(probability, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    if p.shape != y.shape:
        raise ValueError(f"one outcome per probability is needed, got {y.size} and {p.size}")
    cut = round(p.size * (1.0 - valid_fraction))
    scores: dict[str, float] = {}
    fitted: dict[str, Calibrator] = {}
    fit_p, fit_y, val_p, val_y = p[:cut], y[:cut], p[cut:], y[cut:]
    enough = min(cut, p.size - cut) >= 50 and np.unique(fit_y).size == 2
    if not enough:
        chosen = Calibrator("none")
        before = after = ece(p, y) if p.size else math.nan
    else:
        for method in methods:
            try:
                fitted[method] = fit_calibrator(method, fit_p, fit_y)
            except ValueError:
                scores[method] = math.inf
                continue
            scores[method] = log_loss(fitted[method](val_p), val_y)
        best = min(methods, key=lambda m: (scores[m], methods.index(m)))
        # Reliability is measured where the map was not fitted: on the validation rows.
        before = ece(val_p, val_y)
        after = ece(fitted[best](val_p), val_y) if best in fitted else math.nan
        chosen = fit_calibrator(best, p, y)
    return CalibrationChoice(chosen, scores, cut, p.size - cut, before, after)
