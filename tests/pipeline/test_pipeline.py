"""The daily pipeline against real services: PostgreSQL, Redis, an MLflow server, the real 2016 season."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import psycopg
import pytest

from mlbedge.betting.settlement import settle
from mlbedge.pipeline import (
    DAILY_JOB,
    RETRAIN_JOB,
    STEPS,
    PipelineConfig,
    add_jobs,
    run_pipeline,
)
from mlbedge.settings import Settings
from mlbedge.storage.database import fetch_frame
from tests.pipeline.conftest import DAY_ONE, DAY_TWO

OFFLINE = {"offline": True, "retries": 0, "retrain": False, "trigger": "test"}


def _table(url: str, sql: str) -> pl.DataFrame:
    with psycopg.connect(url) as conn:
        return fetch_frame(conn, sql)


def _outputs(settings: Settings) -> dict[str, Any]:
    """Everything the pipeline writes except its own run records."""
    from mlbedge.store.factory import online_store

    url = str(settings.database_url)
    store = online_store(settings)
    try:
        slate = [
            (r.game_id, r.as_of, r.feature_set_version, r.values) for r in store.read_slate(DAY_TWO).rows
        ]
    finally:
        store.close()
    return {
        "predictions": _table(url, "SELECT * FROM ops.predictions ORDER BY game_id, market"),
        "bets": _table(url, "SELECT * FROM ops.recommended_bets ORDER BY game_id, market, side"),
        "features": _table(url, "SELECT count(*) AS n, max(computed_at) AS last FROM curated.game_features"),
        "alerts": _table(
            url,
            "SELECT kind, subject, window_key, severity, resolution FROM monitoring.alerts "
            "ORDER BY kind, subject, window_key",
        ),
        "slate": slate,
    }


def test_a_full_day_then_the_same_day_again_changes_nothing(
    pipeline_settings: Callable[..., Settings],
) -> None:
    """Day one, then day two (which settles day one's bets from the real scores), then day two
    again: every step ran, and the second run of day two wrote nothing new."""
    settings = pipeline_settings()
    first = run_pipeline(settings, DAY_ONE, PipelineConfig(**OFFLINE))
    assert first.status == "ok", [(s.step, s.status, s.detail) for s in first.steps]
    assert first.step("ingest").status == "skipped" and "offline" in first.step("ingest").detail
    assert first.step("materialize").counts["games"] > 0
    day_one_bets = _table(str(settings.database_url), "SELECT * FROM ops.recommended_bets")
    assert day_one_bets.height > 0, "the small models should find at least one edge on a 15-game slate"
    assert (day_one_bets["date"] == DAY_ONE).all()

    second = run_pipeline(settings, DAY_TWO, PipelineConfig(**OFFLINE))
    assert second.status == "ok", [(s.step, s.status, s.detail) for s in second.steps]
    assert [s.step for s in second.steps] == list(STEPS)
    predicted = second.step("predict").counts
    assert predicted["games"] == second.step("materialize").counts["games"]
    assert predicted["predictions"] == 3 * predicted["games"]  # every market of every game
    settled = second.step("settle").counts
    assert settled["date"] == DAY_ONE.isoformat()
    assert settled["settled"] == settled["bets"] == day_one_bets.height

    # Settlement matches the scalar reference bet by bet, on the real final scores.
    url = str(settings.database_url)
    rows = _table(
        url,
        "SELECT b.market, b.side, b.line, b.odds, b.stake, b.result, b.profit, g.home_score, g.away_score "
        "FROM ops.recommended_bets b JOIN curated.games g USING (game_id) WHERE b.date = '2016-08-01'",
    )
    for r in rows.iter_rows(named=True):
        line = -r["line"] if r["market"] == "runline" and r["side"] == "away" else r["line"]
        expected = settle(
            r["market"], r["side"], r["stake"], r["odds"], r["home_score"], r["away_score"], line
        )
        assert (r["result"], r["profit"]) == (expected.result.value, pytest.approx(expected.profit))
    assert settled["profit"] == pytest.approx(round(float(rows["profit"].sum()), 2))

    before = _outputs(settings)
    again = run_pipeline(settings, DAY_TWO, PipelineConfig(**OFFLINE))
    assert again.status == "ok"
    assert again.step("features").counts["written"] == 0
    assert again.step("materialize").counts["switched"] == 0
    assert again.step("predict").counts["changed"] == 0
    assert again.step("recommend").counts["changed"] == 0
    assert again.step("recommend").counts["removed"] == 0
    assert again.step("settle").counts["changed"] == 0
    after = _outputs(settings)
    for name, value in before.items():
        if isinstance(value, pl.DataFrame):
            assert value.equals(after[name]), name
        else:
            assert value == after[name], name

    # One run record per run and one per step attempt, with timings.
    runs = _table(url, "SELECT run_date, status, trigger FROM ops.pipeline_runs ORDER BY started_at")
    assert runs.rows() == [(DAY_ONE, "ok", "test"), (DAY_TWO, "ok", "test"), (DAY_TWO, "ok", "test")]
    steps = _table(url, "SELECT step, status, seconds FROM ops.pipeline_steps")
    assert steps.height == 3 * len(STEPS)
    assert (steps["seconds"] >= 0).all()


def test_the_pipeline_predicts_what_the_api_serves(pipeline_settings: Callable[..., Settings]) -> None:
    """The stored predictions and bets are the API's own answers for the day."""
    from fastapi.testclient import TestClient

    from mlbedge.serving.app import create_app

    settings = pipeline_settings()
    report = run_pipeline(settings, DAY_TWO, PipelineConfig(**OFFLINE, bankroll=2500.0))
    assert report.status == "ok"
    url = str(settings.database_url)
    with TestClient(create_app(settings)) as client:
        body = client.get(
            "/v1/recommendations", params={"date": DAY_TWO.isoformat(), "bankroll": 2500}
        ).json()
        game = _table(
            url, "SELECT game_id, probability FROM ops.predictions WHERE market = 'moneyline' LIMIT 1"
        )
        served = client.get(f"/v1/predictions/{game['game_id'][0]}").json()
        page = client.get("/", params={"date": DAY_TWO.isoformat(), "bankroll": 2500}).text
    bets = _table(url, "SELECT game_id, market, side, stake, odds FROM ops.recommended_bets ORDER BY 1, 2, 3")
    api = sorted((b["game_id"], b["market"], b["side"], b["stake"], b["odds"]) for b in body["bets"])
    assert bets.rows() == api
    moneyline = next(m for m in served["markets"] if m["market"] == "moneyline")
    assert moneyline["sides"][0]["probability"] == pytest.approx(game["probability"][0], abs=1e-12)

    # The dashboard lists the alerts the monitor step stored (the most severe twenty).
    from mlbedge.monitoring.alerts import list_alerts

    with psycopg.connect(url) as conn:
        alerts = list_alerts(conn, limit=20)
    assert alerts, "the monitor step stores alerts on this season"
    assert page.count('<tr class="alert" ') == len(alerts)  # one row per alert, under its kind's group
    assert f'<b id="n-bets">{len(api)}</b>' in page


def test_a_failing_step_is_retried_reported_and_the_independent_steps_still_run(
    pipeline_settings: Callable[..., Settings],
) -> None:
    """Materialize fails every time: it is retried, then predict and recommend (which need it) are
    skipped, while settle and monitor run; a resumed run then finishes only what is missing."""
    settings = pipeline_settings()
    calls: list[int] = []

    def broken(_run: Any) -> dict[str, Any]:
        calls.append(1)
        raise ConnectionError("redis at 127.0.0.1:1 refused the connection")

    config = PipelineConfig(**{**OFFLINE, "retries": 2, "retry_seconds": 0.0})
    report = run_pipeline(settings, DAY_TWO, config, steps={"materialize": broken})
    assert report.status == "partial"
    assert len(calls) == 3
    failed = report.step("materialize")
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert "ConnectionError: redis at 127.0.0.1:1" in failed.detail
    for name in ("predict", "recommend"):
        assert report.step(name).status == "skipped"
        assert report.step(name).detail.startswith("needs materialize")
    for name in ("features", "settle", "monitor"):
        assert report.step(name).status == "ok", report.step(name).detail
    attempts = _table(
        str(settings.database_url),
        "SELECT attempt, status, detail FROM ops.pipeline_steps WHERE step = 'materialize' ORDER BY attempt",
    )
    assert attempts["attempt"].to_list() == [1, 2, 3]
    assert set(attempts["status"]) == {"failed"}

    resumed = run_pipeline(settings, DAY_TWO, PipelineConfig(**{**OFFLINE, "resume": True}))
    assert resumed.status == "ok"
    for name in ("ingest", "features", "settle", "monitor"):
        assert "earlier run" in resumed.step(name).detail
    for name in ("materialize", "predict", "recommend"):
        assert resumed.step(name).status == "ok"


def test_the_schedule_runs_the_daily_job_and_holds_the_retraining_cadence(
    pipeline_settings: Callable[..., Settings],
) -> None:
    """A real APScheduler scheduler: the daily job fires, records a run, and the scheduler lives on."""
    from apscheduler.schedulers.background import BackgroundScheduler

    settings = pipeline_settings(retrain_every_days=5)
    scheduler = BackgroundScheduler(timezone="America/New_York")
    add_jobs(scheduler, settings, PipelineConfig(**{**OFFLINE, "trigger": "schedule"}), at="06:30")
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {DAILY_JOB, RETRAIN_JOB}
    assert "days=5" in str(jobs[RETRAIN_JOB].trigger) or "5 days" in str(jobs[RETRAIN_JOB].trigger)
    assert "hour='6'" in str(jobs[DAILY_JOB].trigger) and "minute='30'" in str(jobs[DAILY_JOB].trigger)
    scheduler.start()
    try:
        scheduler.get_job(DAILY_JOB).modify(next_run_time=datetime.now(UTC))
        deadline = time.monotonic() + 120
        url = str(settings.database_url)
        while time.monotonic() < deadline:
            done = _table(
                url,
                "SELECT status FROM ops.pipeline_runs WHERE trigger = 'schedule' AND finished_at IS NOT NULL",
            )
            if done.height:
                break
            time.sleep(0.5)
        assert done.height == 1, "the scheduled run did not finish"
        assert scheduler.running and scheduler.get_job(DAILY_JOB).next_run_time is not None
    finally:
        scheduler.shutdown(wait=True)
    with pytest.raises(ValueError, match="HH:MM"):
        add_jobs(BackgroundScheduler(), settings, PipelineConfig(), at="25h")


def test_historical_days_skip_the_live_ingest() -> None:
    """A day before yesterday has nothing live to fetch."""
    from mlbedge.pipeline import historical

    now = datetime(2026, 5, 10, 18, tzinfo=UTC)
    assert historical(date(2016, 8, 2), now)
    assert not historical(date(2026, 5, 9), now)
    assert not historical(date(2026, 5, 10), now)
