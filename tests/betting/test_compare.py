"""Champion against challenger: Diebold-Mariano by hand and against scipy's t test, the paired
bootstrap intervals, the promotion gate, and ``mlbedge models compare`` on registered models."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import psycopg
import pytest
from scipy import stats

from mlbedge.betting.compare import compare_bets, gate
from mlbedge.promotion import (
    compare_errors,
    compare_forecasts,
    diebold_mariano,
    newey_west_lags,
    promotion_gate,
)
from mlbedge.scoring import per_game_log_loss
from mlbedge.settings import get_settings
from tests.betting.conftest import CliRun, invoke

# ----------------------------------------------------------------------------------------------
# Diebold-Mariano


def test_dm_is_the_t_test_when_every_game_is_its_own_day() -> None:
    """With one game per day and no lags, DM with the HLN factor is the one-sample t test of d."""
    rng = np.random.default_rng(1)
    a = rng.uniform(0.5, 0.9, 200)
    b = a + rng.normal(-0.01, 0.05, 200)
    dm = diebold_mariano(a, b, lags=0)
    t = stats.ttest_1samp(b - a, 0.0)
    assert dm.statistic == pytest.approx(t.statistic, rel=1e-10)
    assert dm.p_value == pytest.approx(t.pvalue, rel=1e-8)
    assert (dm.n_days, dm.lags) == (200, 0)


def test_dm_on_daily_sums_by_hand() -> None:
    """d = b - a per game: day 1 [0.2, 0.1], day 2 [0.3], day 3 [-0.1, 0.0, 0.1]. Mean 0.1; daily
    sums less count x mean: [0.1, 0.2, -0.3]; their squares sum to 0.14 (lag 0), plus
    2 * 1/2 * (0.1*0.2 + 0.2*-0.3) = -0.04 with one lag."""
    d = np.array([0.2, 0.1, 0.3, -0.1, 0.0, 0.1])
    days = np.array(["2020-08-01", "2020-08-01", "2020-08-02", "2020-08-03", "2020-08-03", "2020-08-03"])
    a = np.full(6, 0.7)
    for lags, long_run in ((0, 0.14), (1, 0.10)):
        dm = diebold_mariano(a, a + d, days, lags=lags)
        expected = 0.1 / (math.sqrt(long_run) / 6) * math.sqrt(2 / 3)
        assert dm.statistic == pytest.approx(expected, rel=1e-9)
        assert dm.p_value == pytest.approx(2 * stats.t.sf(expected, df=2), rel=1e-9)
    assert newey_west_lags(100) == 4 and newey_west_lags(60) == 3


def test_dm_undefined_without_variation_or_days() -> None:
    same = np.full(10, 0.69)
    assert math.isnan(diebold_mariano(same, same).statistic)
    assert math.isnan(diebold_mariano(same[:3], same[:3] + 0.1, np.zeros(3)).p_value)
    with pytest.raises(ValueError, match="one loss per game"):
        diebold_mariano(same, same[:5])


# ----------------------------------------------------------------------------------------------
# forecasts and bets


def test_compare_forecasts_difference_and_direction() -> None:
    """b sharper than a: negative difference (b - a), its day-bootstrap interval below zero."""
    rng = np.random.default_rng(5)
    n = 3000
    truth = rng.uniform(0.3, 0.7, n)
    y = (rng.uniform(size=n) < truth).astype(float)
    sharp = truth
    noisy = np.clip(truth + rng.normal(0, 0.12, n), 0.02, 0.98)
    days = np.repeat(np.arange(200), 15)
    result = compare_forecasts(y, noisy, sharp, days, n_resamples=500)
    expected = float(np.mean(per_game_log_loss(sharp, y) - per_game_log_loss(noisy, y)))
    assert result.difference.estimate == pytest.approx(expected)
    assert result.log_loss_b - result.log_loss_a == pytest.approx(expected)
    assert result.difference.high < 0 and result.dm.statistic < -3 and result.dm.p_value < 0.01
    assert (result.n_games, result.n_days) == (3000, 200)
    swapped = compare_forecasts(y, sharp, noisy, days, n_resamples=500)
    assert swapped.difference.estimate == pytest.approx(-expected)
    assert swapped.dm.statistic == pytest.approx(-result.dm.statistic)


def _bets(rows: list[tuple[str, float, float, str, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"date": pl.String, "stake": pl.Float64, "profit": pl.Float64, "result": pl.String, "clv": pl.Float64},
        orient="row",
    ).with_columns(pl.col("date").str.to_date())  # fmt: skip


def test_compare_bets_by_hand() -> None:
    """A: +10 on 100, -20 on 50 (ROI -10/150), a void bet ignored; B: +30 on 100 (ROI 0.3).
    CLV means over bets with a close: A (0.02 + 0.04) / 2, B -0.01."""
    a = _bets(
        [
            ("2020-08-01", 100, 10, "win", 0.02),
            ("2020-08-02", 50, -20, "loss", 0.04),
            ("2020-08-02", 70, 0, "void", 0.5),
        ]
    )
    b = _bets([("2020-08-01", 100, 30, "win", -0.01), ("2020-08-03", 10, 0, "push", None)])
    result = compare_bets(a, b, n_resamples=300)
    assert (result.n_bets_a, result.n_bets_b, result.n_days) == (2, 2, 3)
    assert result.roi_a == pytest.approx(-10 / 150) and result.roi_b == pytest.approx(30 / 110)
    assert result.roi_difference.estimate == pytest.approx(30 / 110 + 10 / 150)
    assert result.clv_a == pytest.approx(0.03) and result.clv_b == pytest.approx(-0.01)
    assert result.clv_difference.estimate == pytest.approx(-0.04)
    assert result.roi_difference.low <= result.roi_difference.estimate <= result.roi_difference.high
    empty = compare_bets(a.clear(), b.clear())
    assert math.isnan(empty.roi_a) and math.isnan(empty.roi_difference.estimate)


# ----------------------------------------------------------------------------------------------
# the gate


def test_promotion_gate_rules() -> None:
    rng = np.random.default_rng(9)
    n = 2000
    truth = rng.uniform(0.35, 0.65, n)
    y = (rng.uniform(size=n) < truth).astype(float)
    worse = np.clip(truth + rng.normal(0, 0.1, n), 0.02, 0.98)
    days = np.repeat(np.arange(100), 20)
    better = compare_forecasts(y, worse, truth, days, n_resamples=200)  # challenger b is sharper
    gain = better.log_loss_a - better.log_loss_b
    assert gain > 0
    assert promotion_gate(better).promote
    assert promotion_gate(better, alpha=0.05).promote
    assert not promotion_gate(better, margin=gain + 1e-4).promote
    assert "below the margin" in promotion_gate(better, margin=gain + 1e-4).reason
    assert not promotion_gate(better, min_games=n + 1).promote
    # b better than a on two games only: a real gain, but no evidence (t = -sqrt(2), p ~ 0.16).
    nudged = worse.copy()
    nudged[:2] = np.where(y[:2] == 1.0, worse[:2] + 0.01, worse[:2] - 0.01)
    slightly = compare_forecasts(y, worse, nudged, n_resamples=200)
    assert slightly.log_loss_b < slightly.log_loss_a and slightly.dm.p_value > 0.1
    assert promotion_gate(slightly).promote
    assert "not significant at 0.05" in promotion_gate(slightly, alpha=0.05).reason
    worse_challenger = compare_forecasts(y, truth, worse, days, n_resamples=200)
    assert not promotion_gate(worse_challenger).promote


class _Fixed:
    """A model stand-in that returns the column ``p`` of its input."""

    def __init__(self, column: str) -> None:
        self.feature_names = [column]

    def predict_many(self, x):  # type: ignore[no-untyped-def]
        return np.asarray(x, dtype=np.float64)[:, 0]


def test_a_regression_is_compared_and_gated_by_squared_error() -> None:
    """A regression's models (``retrain`` of total runs) go through the same gate, by mean squared
    error: the champion is off by 2 runs on every game (MSE 4), the challenger by 1 (MSE 1)."""
    y = np.tile([3.0, 5.0, 7.0, 9.0], 30)
    champion = y + 2.0
    challenger = y + np.tile([1.0, -1.0], 60)
    days = np.repeat(np.arange(60), 2)
    c = compare_errors(y, champion, challenger, days, n_resamples=200)
    assert (c.metric, c.n_games, c.n_days) == ("mse", 120, 60)
    assert (c.loss_a, c.loss_b) == (4.0, 1.0)
    assert c.difference.estimate == pytest.approx(-3.0)
    promoted = promotion_gate(c, margin=2.9)
    assert promoted.promote and promoted.reason.startswith("promoted: mse 1.0000 (challenger) vs 4.0000")
    assert "below the margin" in promotion_gate(c, margin=3.1).reason
    assert not promotion_gate(c, min_games=121).promote


def test_gate_puts_champion_first_and_skips_unlabelled_games() -> None:
    rng = np.random.default_rng(2)
    n = 400
    truth = rng.uniform(0.3, 0.7, n)
    y = (rng.uniform(size=n) < truth).astype(float)
    start = date(2020, 8, 1)
    frame = pl.DataFrame(
        {"date": [start + timedelta(days=i // 10) for i in range(n)], "y": y, "good": truth,
         "bad": np.clip(truth + rng.normal(0, 0.15, n), 0.02, 0.98)}
    ).with_columns(y=pl.when(pl.int_range(pl.len()) < 10).then(None).otherwise(pl.col("y")))  # fmt: skip
    decision = gate(_Fixed("bad"), _Fixed("good"), frame, min_games=100, n_resamples=200)
    assert decision.promote and decision.forecasts is not None
    assert decision.forecasts.n_games == n - 10
    assert not gate(_Fixed("good"), _Fixed("bad"), frame, min_games=100, n_resamples=200).promote


# ----------------------------------------------------------------------------------------------
# the command


def test_models_compare_on_registered_models(cli_backtest: CliRun, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two registered moneyline models (trained on 2018 and on 2019) compared on 2020 by
    ``mlbedge models compare``: the numbers are those of the models' own predictions."""
    from mlbedge.training import registry
    from mlbedge.training.dataset import load_training_data
    from mlbedge.training.targets import get_target
    from mlbedge.training.trainer import fit_target

    env = {"MLBEDGE_DATABASE_URL": cli_backtest.database_url, "MLBEDGE_HOME": str(cli_backtest.home)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLBEDGE_MLFLOW_TRACKING_URI", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    target = get_target("moneyline")
    with psycopg.connect(cli_backtest.database_url) as conn:
        data = load_training_data(conn, seasons=[2018, 2019, 2020], build=False)
    for season in (2018, 2019):
        labelled = data.labelled(target).filter(pl.col("season") == season)
        trained = fit_target(
            labelled, target, data.feature_names, data.feature_set_version, num_boost_round=30, num_threads=1
        )
        registry.register(registry.log_training(trained, settings=settings), trained, settings=settings)

    out = cli_backtest.home.parent / "compare.json"
    printed = invoke(
        ["models", "compare", "moneyline/1", "moneyline/2", "--test-seasons", "2020", "--json", str(out)], env
    )
    doc = json.loads(out.read_text())
    assert doc["target"] == "moneyline" and doc["seasons"] == [2020]
    test = data.labelled(target).filter((pl.col("season") == 2020) & pl.col("y").is_not_null())
    y = test["y"].to_numpy()
    for key, version in (("log_loss_a", "1"), ("log_loss_b", "2")):
        model = registry.load_serving_model("mlbedge-moneyline", version=version, settings=get_settings())
        p = model.predict_many(test.select(pl.col(model.feature_names).cast(pl.Float64)).to_numpy())
        assert doc["forecasts"][key] == pytest.approx(float(np.mean(per_game_log_loss(p, y))))
    assert doc["forecasts"]["n_games"] == test.height
    assert doc["forecasts"]["difference"]["estimate"] == pytest.approx(
        doc["forecasts"]["log_loss_b"] - doc["forecasts"]["log_loss_a"]
    )
    # The gate at the CLI's defaults (margin 0, no significance test, at least 100 games): promote
    # exactly when the challenger's log loss, recomputed above, is no higher than the champion's.
    assert doc["forecasts"]["n_games"] >= 100
    b_better = doc["forecasts"]["log_loss_b"] <= doc["forecasts"]["log_loss_a"]
    assert doc["decision"]["promote"] is b_better
    assert doc["decision"]["reason"].startswith("promoted" if b_better else "kept: improvement below")
    assert "Diebold-Mariano" in printed and "log loss" in printed
    # Swapped, the same two models give the other decision (unless they tie exactly).
    invoke(
        ["models", "compare", "moneyline/2", "moneyline/1", "--test-seasons", "2020", "--json", str(out)], env
    )
    swapped = json.loads(out.read_text())
    assert swapped["forecasts"]["log_loss_a"] == pytest.approx(doc["forecasts"]["log_loss_b"])
    if doc["forecasts"]["log_loss_a"] != doc["forecasts"]["log_loss_b"]:
        assert swapped["decision"]["promote"] is not b_better
    get_settings.cache_clear()
