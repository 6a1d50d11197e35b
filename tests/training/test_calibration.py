"""Calibration maps: what they recover, how they are chosen, how they are stored.

These are tests of arithmetic, so they use SYNTHETIC outcomes drawn (seeded) from known
probabilities; the out-of-fold fitting on real games is tested in test_trainer.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlbedge.betting.metrics import ece
from mlbedge.training.calibration import Calibrator, choose_calibrator, fit_calibrator


def _draw(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.2, 0.8, n)
    return truth, (rng.uniform(size=n) < truth).astype(float)


def _overconfident(p: np.ndarray) -> np.ndarray:
    z = np.log(p / (1 - p))
    return 1 / (1 + np.exp(-2.0 * z))


def test_platt_recovers_a_known_distortion() -> None:
    truth, y = _draw(40_000, 1)
    calibrator = fit_calibrator("platt", _overconfident(truth), y)
    # The forecast's log odds are twice the truth's: the map halves them.
    assert calibrator.params["a"] == pytest.approx(0.5, abs=0.03)
    assert calibrator.params["b"] == pytest.approx(0.0, abs=0.03)
    assert np.max(np.abs(calibrator(_overconfident(truth)) - truth)) < 0.03


def test_isotonic_is_monotone_and_clipped() -> None:
    truth, y = _draw(20_000, 2)
    calibrator = fit_calibrator("isotonic", _overconfident(truth), y)
    grid = np.linspace(0, 1, 501)
    mapped = calibrator(grid)
    assert np.all(np.diff(mapped) >= 0)
    assert mapped.min() >= 1e-3 and mapped.max() <= 1 - 1e-3
    assert ece(calibrator(_overconfident(truth)), y) < ece(_overconfident(truth), y)


def test_choice_by_validation() -> None:
    truth, y = _draw(20_000, 3)
    calibrated = choose_calibrator(truth, y)
    assert calibrated.calibrator.method in {"none", "platt"}  # nothing to fix: no isotonic steps
    distorted = choose_calibrator(_overconfident(truth), y)
    assert distorted.calibrator.method in {"platt", "isotonic"}
    losses = distorted.validation_log_loss
    assert losses[distorted.calibrator.method] < losses["none"]
    assert distorted.ece_after < distorted.ece_before
    assert distorted.n_fit + distorted.n_validation == truth.size
    assert choose_calibrator(truth[:40], y[:40]).calibrator.method == "none"  # too few to split


def test_round_trip_through_plain_numbers() -> None:
    truth, y = _draw(5_000, 4)
    for method in ("none", "platt", "isotonic"):
        fitted = fit_calibrator(method, truth, y)  # type: ignore[arg-type]
        again = Calibrator.from_dict(fitted.to_dict())
        assert np.array_equal(again(truth), fitted(truth))
    with pytest.raises(ValueError, match="unknown calibration method"):
        Calibrator.from_dict({"method": "magic"})
    with pytest.raises(ValueError, match="lacks"):
        Calibrator.from_dict({"method": "platt", "params": {"a": 1.0}})
