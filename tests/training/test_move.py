"""Scoring the open-to-close move: R² over dates, direction hit rate, open+move log loss, CLV."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from mlbedge.training.evaluation import compare
from mlbedge.training.move import move_report, r2_ci


def _predictions(pred: np.ndarray, move: np.ndarray, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = move.size
    p_open = rng.uniform(0.3, 0.7, n)
    logit_close = np.log(p_open / (1 - p_open)) + move
    p_close = 1 / (1 + np.exp(-logit_close))
    return pl.DataFrame(
        {
            "target": ["close_moneyline"] * n,
            "season": [2015] * (n // 2) + [2016] * (n - n // 2),
            "date": [date(2015, 4, 1) + timedelta(days=i // 10) for i in range(n)],
            "y": move,
            "p_model": pred,
            "market_open": p_open,
            "market_close": p_close,
            "outcome": (rng.random(n) < p_close).astype(np.float64),
            # Fair prices at the open: 1 / p for each side.
            "open_decimal_yes": 1 / p_open,
            "open_decimal_no": 1 / (1 - p_open),
        }
    )


def test_r2_is_one_for_a_perfect_prediction_and_negative_for_a_wrong_sign() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(0, 0.1, 400)
    days = np.repeat(np.arange(40), 10)
    perfect = r2_ci(y, y, days, n_resamples=200)
    assert perfect.estimate == pytest.approx(1.0) and perfect.low == pytest.approx(1.0)
    assert r2_ci(y, -y, days, n_resamples=200).estimate == pytest.approx(-3.0, abs=0.1)
    noisy = r2_ci(y, y + rng.normal(0, 0.1, 400), days, n_resamples=500)
    assert noisy.low < noisy.estimate < noisy.high


def test_move_report_scores_a_model_that_knows_the_move() -> None:
    rng = np.random.default_rng(2)
    move = rng.normal(0, 0.15, 600)
    report = move_report(_predictions(move * 0.5, move), threshold=0.04, n_resamples=200)
    assert report["season"].to_list() == ["2015", "2016", "pooled"]
    pooled = report.filter(pl.col("season") == "pooled").row(0, named=True)
    assert pooled["r2"] == pytest.approx(0.75, abs=0.01) and pooled["r2_low"] > 0.7
    assert pooled["hit_rate"] == 1.0
    assert pooled["n_signalled"] == int((np.abs(move * 0.5) > 0.04).sum()) == pooled["n_bets"]
    # Betting the side the close moves toward at a fair opening price always gains CLV.
    assert pooled["clv"] > 0 and pooled["clv_low"] > 0
    assert pooled["log_loss_open_plus_move"] < pooled["log_loss_open"]


def test_move_report_without_skill_and_compare_ignores_move_targets() -> None:
    rng = np.random.default_rng(3)
    move = rng.normal(0, 0.15, 600)
    frame = _predictions(rng.normal(0, 0.05, 600), move)
    pooled = move_report(frame, n_resamples=200).filter(pl.col("season") == "pooled").row(0, named=True)
    assert pooled["r2"] < 0 and pooled["r2_low"] < 0
    assert 0.35 < pooled["hit_rate"] < 0.65
    scores, differences = compare(frame)
    assert scores.is_empty() and differences.is_empty()
