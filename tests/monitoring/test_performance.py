"""Degradation: the champion against the de-vigged opening and closing lines over its last settled
games, on the real 2016 outcomes and prices; the CLV trend; the retraining hook.

The "model" is SYNTHETIC: it echoes the real opening line (so it is exactly as good as the
market's open), and for the worsening case it turns overconfident on the last 300 games.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import psycopg
import pytest

from mlbedge.betting.metrics import brier, log_loss
from mlbedge.monitoring.alerts import PERFORMANCE, list_alerts
from mlbedge.monitoring.performance import (
    check_clv,
    check_performance,
    clv_trend,
    performance_window,
    rolling_scores,
)
from mlbedge.monitoring.runner import run_monitor
from mlbedge.settings import Settings
from mlbedge.training.targets import label_frame, read_labels


@pytest.fixture(scope="module")
def echo_predictions(season_db: str, season_rows: pl.DataFrame) -> pl.DataFrame:
    """Real 2016 moneyline outcomes and de-vigged prices; p_model = the opening line."""
    with psycopg.connect(season_db) as conn:
        labels = read_labels(conn, seasons=[2016])
    labelled = label_frame(season_rows, labels, "moneyline").filter(pl.col("y").is_not_null())
    return labelled.select(
        pl.lit("moneyline").alias("target"),
        "game_id",
        "date",
        "y",
        pl.col("market_open").alias("p_model"),
        "market_open",
        "market_close",
    )


def _worsen(predictions: pl.DataFrame, last: int) -> pl.DataFrame:
    """The last ``last`` settled games forecast 2.5 times further from a coin flip than the open."""
    ordered = predictions.filter(pl.col("market_open").is_not_null()).sort("date", "game_id")
    cut = ordered.height - last
    return ordered.with_columns(
        p_model=pl.when(pl.int_range(pl.len()) >= cut)
        .then((0.5 + 2.5 * (pl.col("market_open") - 0.5)).clip(0.02, 0.98))
        .otherwise(pl.col("p_model"))
    )


def test_rolling_scores_by_hand() -> None:
    """Window of 2 games: each date's row averages its last game and the one before."""
    frame = pl.DataFrame(
        {
            "target": ["moneyline"] * 4,
            "game_id": ["a", "b", "c", "d"],
            "date": [date(2024, 5, 1), date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)],
            "y": [1.0, 0.0, 1.0, 1.0],
            "p_model": [0.6, 0.3, 0.5, 0.8],
            "market_open": [0.5, 0.5, 0.5, 0.5],
            "market_close": [None, 0.4, 0.55, 0.6],
        }
    )
    curve = rolling_scores(frame, "moneyline", games=2)
    assert curve["date"].to_list() == [date(2024, 5, 1), date(2024, 5, 2), date(2024, 5, 3)]
    assert curve["n_games"].to_list() == [2, 2, 2]
    expected = [
        (-math.log(0.6) - math.log(0.7)) / 2,  # a, b
        (-math.log(0.7) - math.log(0.5)) / 2,  # b, c
        (-math.log(0.5) - math.log(0.8)) / 2,  # c, d
    ]
    assert curve["model_log_loss"].to_list() == pytest.approx(expected, abs=1e-12)
    assert curve["open_log_loss"].to_list() == pytest.approx([math.log(2)] * 3, abs=1e-12)
    assert curve["model_brier"].to_list() == pytest.approx(
        [(0.16 + 0.09) / 2, (0.09 + 0.25) / 2, (0.25 + 0.04) / 2]
    )
    window = performance_window(frame, "moneyline", games=3)
    assert window is not None and window.n_games == 3 and window.start == date(2024, 5, 1)
    assert window.n_close == 3  # b, c, d have a close
    assert window.close_log_loss == pytest.approx(
        (-math.log(0.6) - math.log(0.55) - math.log(0.6)) / 3, abs=1e-12
    )
    with pytest.raises(ValueError, match="lacks columns"):
        rolling_scores(frame.drop("market_open"), "moneyline", games=2)
    with pytest.raises(ValueError, match=r"game a has y=2\.0"):
        rolling_scores(
            frame.with_columns(y=pl.when(pl.col("game_id") == "a").then(2.0).otherwise("y")),
            "moneyline",
            games=2,
        )


def test_echo_of_the_open_is_not_degraded(echo_predictions: pl.DataFrame, mon_settings: Settings) -> None:
    """A model equal to the opening line scores exactly the line: no alert, real-sized numbers."""
    windows, findings = check_performance(echo_predictions, settings=mon_settings)
    assert findings == []
    (w,) = windows
    assert w.n_games == mon_settings.monitor_perf_games == 500
    assert w.gap_open == 0.0 and w.model_brier == w.open_brier
    assert 0.6 < w.open_log_loss < 0.72 and 0.2 < w.open_brier < 0.26
    assert w.n_close == 500 and w.close_log_loss is not None
    last = echo_predictions.sort("date", "game_id").tail(500)
    assert w.close_log_loss == pytest.approx(log_loss(last["market_close"], last["y"]), abs=1e-12)
    assert w.end == last["date"][-1]


def test_synthetic_worsening_raises_a_performance_alert(
    conn: psycopg.Connection, echo_predictions: pl.DataFrame, mon_settings: Settings
) -> None:
    """An overconfident model over the last 300 games falls well behind the open: critical."""
    worse = _worsen(echo_predictions, 300)
    calls: list[dict[str, Any]] = []

    def record(conn: psycopg.Connection, targets: list, **kwargs: Any) -> list[dict[str, Any]]:
        calls.append({"targets": [t.name for t in targets], **kwargs})
        return [{"target": t.name, "promoted": False, "reason": "recorded"} for t in targets]

    end = worse["date"].max()
    as_of = end + timedelta(days=1)
    report = run_monitor(
        conn, as_of=as_of, predictions=worse, use_registry=False, settings=mon_settings, retrain_fn=record
    )
    (w,) = report.performance
    last = worse.sort("date", "game_id").tail(500)
    assert w.model_log_loss == pytest.approx(log_loss(last["p_model"], last["y"]), abs=1e-12)
    assert w.model_brier == pytest.approx(brier(last["p_model"], last["y"]), abs=1e-12)
    assert w.gap_open > mon_settings.monitor_perf_critical
    (alert,) = list_alerts(conn, kinds=[PERFORMANCE])
    assert (alert.subject, alert.severity) == ("moneyline", "critical")
    assert alert.evidence["gap_open"] == pytest.approx(w.gap_open)
    assert alert.evidence["rolling"][-1]["gap_open"] == pytest.approx(w.gap_open, abs=1e-6)
    # The first firing started one retraining cycle, for that target, recorded in the evidence.
    assert calls == [{"targets": ["moneyline"], "as_of": as_of, "force": True, "settings": mon_settings}]
    assert alert.evidence["retrain"]["decisions"][0]["reason"] == "recorded"

    # The same window again: the same alert, no second cycle. The next day's window supersedes it:
    # still the same episode, still no cycle.
    run_monitor(
        conn, as_of=as_of, predictions=worse, use_registry=False, settings=mon_settings, retrain_fn=record
    )
    assert len(calls) == 1 and len(list_alerts(conn, status="all", kinds=[PERFORMANCE])) == 1
    extra = worse.filter(pl.col("date") == end).with_columns(
        game_id=pl.col("game_id") + "-next", date=pl.lit(as_of)
    )
    run_monitor(
        conn,
        as_of=as_of + timedelta(days=1),
        predictions=pl.concat([worse, extra]),
        use_registry=False,
        settings=mon_settings,
        retrain_fn=record,
    )
    assert len(calls) == 1
    assert [a.resolution for a in list_alerts(conn, status="all", kinds=[PERFORMANCE])] == [
        None,
        "superseded",
    ]

    # Before the worsening began, the same champion was fine: only games before as_of count.
    start_of_worse = worse.sort("date", "game_id").tail(300)["date"][0]
    windows, findings = check_performance(worse, as_of=start_of_worse, settings=mon_settings)
    assert findings == [] and windows[0].end < start_of_worse


def test_clv_trend(mon_settings: Settings) -> None:
    """Bets that beat the close, then stop: the trend turns and the mean alerts."""
    rng = np.random.default_rng(7)
    days = [date(2024, 4, 1) + timedelta(days=i // 10) for i in range(600)]
    good = rng.normal(0.02, 0.03, 400)
    bad = rng.normal(-0.03, 0.03, 200)
    bets = pl.DataFrame(
        {"date": days, "game_id": [f"g{i}" for i in range(600)], "clv": np.concatenate([good, bad])}
    )
    trend, findings = check_clv(bets, settings=mon_settings)
    assert trend is not None and trend.n_bets == 200
    assert trend.mean_clv == pytest.approx(bad.mean()) and trend.previous_mean_clv == pytest.approx(
        good[-200:].mean()
    )
    assert [f.severity for f in findings] == ["critical"]
    fine = clv_trend(bets.head(400), n_bets=200, warning=0.0, critical=-0.02)
    assert fine is not None and fine.severity is None and fine.mean_clv > 0
    assert clv_trend(bets.head(10), n_bets=200, min_bets=50) is None
    # Over the turn the slope of CLV against bet order is clearly negative.
    turning = clv_trend(bets.slice(300, 200), n_bets=200)
    assert turning is not None and turning.slope_per_100_bets < -0.01
