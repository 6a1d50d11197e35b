"""Quiet on an ordinary day, loud on a real fault: every historical file, a model trained on 2010-2018.

The session builds the features of every real season (a copy of ``loaded_db_url``), trains one
small moneyline model on 2010-2018 and learns the ordinary day from the same rows. The day
checked is 2019-07-04 (12 games; nothing wrong anywhere). Each fault of
:mod:`mlbedge.monitoring.faults` is injected from that day (SYNTHETIC faults on real rows) and
must raise the alert meant to catch it, on that very day's check.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
import psycopg
import pytest

from mlbedge.features.io import build_and_store, read_features
from mlbedge.features.registry import feature_set_version, registry
from mlbedge.monitoring import faults
from mlbedge.monitoring.alerts import (
    CONSTANT_VALUES,
    MISSING_VALUES,
    PERFORMANCE,
    PREDICTION_SHIFT,
    SCALE_JUMP,
    SIDES_SWAPPED,
    group_alerts,
    list_alerts,
)
from mlbedge.monitoring.checks import DayRows, sides_score
from mlbedge.monitoring.reference import Reference, fit_reference
from mlbedge.monitoring.runner import evaluate, model_predictions, run_monitor
from mlbedge.settings import Settings
from mlbedge.training.targets import get_target, label_frame, read_labels
from mlbedge.training.trainer import fit_target
from tests.conftest import ADMIN_URL, drop_database

DAY = date(2019, 7, 4)
SMALL = {"num_boost_round": 40, "early_stopping_rounds": 10, "num_threads": 1, "calibration_folds": 2}


@dataclass
class World:
    url: str
    rows: pl.DataFrame  # 2018-2019 feature rows (the checked season and the weeks before)
    predictions: pl.DataFrame
    reference: Reference


@pytest.fixture(scope="session")
def world(loaded_db_url: str) -> Iterator[World]:
    """Features of every season, a small model and the reference of 2010-2018."""
    name = f"mlbedge_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{loaded_db_url.rsplit("/", 1)[1]}"')
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        with psycopg.connect(url) as conn:
            build_and_store(conn, seasons=list(range(2010, 2020)), full=True, cutoff_minutes=60)
            conn.commit()
            features = read_features(conn, seasons=list(range(2010, 2020)))
            labels = read_labels(conn)
        train = features.filter(pl.col("season") <= 2018)
        target = get_target("moneyline")
        names = [n for n in registry().names if n in features.columns]
        model = fit_target(
            label_frame(train, labels, target), target, names, feature_set_version(60), **SMALL
        ).to_serving()
        reference = fit_reference(
            train, "test@2010-2018", clock_patterns=Settings().monitor_drift_calendar_features
        )
        rows = features.filter(pl.col("season") >= 2018)
        yield World(url, rows, model_predictions("moneyline", model, rows, labels), reference)
    finally:
        drop_database(url)


def _findings(
    world: World, rows: pl.DataFrame | None = None, predictions: pl.DataFrame | None = None
) -> list:
    settings = Settings()
    day = DayRows.from_frame(rows if rows is not None else world.rows, DAY, settings.monitor_recent_days)
    ev = evaluate(
        day,
        world.reference,
        predictions=predictions if predictions is not None else world.predictions,
        settings=settings,
    )
    assert ev.day_games == 12 and not ev.skipped, ev.skipped
    return ev.findings


def test_an_ordinary_day_is_quiet(world: World, mon_settings: Settings) -> None:
    """2019-07-04, nothing wrong: no critical alert, at most one warning; every check ran."""
    found = _findings(world)
    assert [f for f in found if f.severity == "critical"] == []
    assert len(found) <= 1, [f.message for f in found]
    # The clocks by design are left out of drift, not forgotten: they are checked for consistency.
    assert {"day_of_season", "home_games_season"} <= set(world.reference.clocks)
    # The sides check is confident on an ordinary day, and as confident the other way when swapped.
    z, n = sides_score(world.rows.filter(pl.col("date") == DAY), world.reference)  # type: ignore[misc]
    assert n == 12 and z > 3.0


def test_the_stored_pass_gives_a_one_line_verdict(world: World, mon_settings: Settings) -> None:
    """The same day through run_monitor on the database: stored alerts, verdict first, grouped."""
    with psycopg.connect(world.url) as conn:
        report = run_monitor(
            conn,
            as_of=DAY,
            now=datetime(2019, 7, 4, 16, tzinfo=UTC),
            settings=mon_settings,
            reference=world.reference,
            predictions=world.predictions,
            use_registry=False,
            retrain=False,
        )
        assert report.verdict().split()[0] in {"OK", "WARNING"}
        assert report.to_dict()["day_games"] == 12
        bad = faults.swap_sides(world.rows, DAY).filter(pl.col("date") == DAY)
        conn.execute("DELETE FROM curated.game_features WHERE date = %s", (DAY,))
        from mlbedge.features.io import write_features

        write_features(conn, bad, computed_at=datetime(2019, 7, 4, tzinfo=UTC))
        swapped = run_monitor(
            conn,
            as_of=DAY,
            settings=mon_settings,
            reference=world.reference,
            predictions=world.predictions,
            use_registry=False,
            retrain=False,
        )
        assert swapped.verdict().startswith("CRITICAL 2019-07-04")
        groups = group_alerts(list_alerts(conn))
        assert groups[0].severity == "critical" and SIDES_SWAPPED in {g.kind for g in groups}
        sides = next(g for g in groups if g.kind == SIDES_SWAPPED)
        assert "odds feed" in sides.look_at[0] and sides.evidence[0].startswith("market: z=-")
        conn.rollback()


@pytest.mark.parametrize(
    ("fault", "kind", "subject"),
    [
        ("sides_swapped", SIDES_SWAPPED, "market"),
        ("null_market", MISSING_VALUES, "market"),
        ("null_pitcher", MISSING_VALUES, "pitcher"),
        ("frozen_elo", CONSTANT_VALUES, "team"),
        ("price_scale", SCALE_JUMP, "market"),
        ("prediction_shift", PREDICTION_SHIFT, "moneyline"),
        ("predictions_misjoined", PREDICTION_SHIFT, "moneyline"),
    ],
)
def test_each_fault_is_caught_on_its_first_day(world: World, fault: str, kind: str, subject: str) -> None:
    """Injected from 2019-07-04, the fault raises its own alert on that day's check, with where to look."""
    rows, preds = world.rows, world.predictions
    if fault == "sides_swapped":
        rows = faults.swap_sides(rows, DAY)
    elif fault == "null_market":
        rows = faults.null_feature(rows, "ml_home_prob", DAY)
    elif fault == "null_pitcher":
        rows = faults.null_feature(rows, "home_sp_left", DAY)
    elif fault == "frozen_elo":
        rows = faults.freeze_feature(rows, "elo_diff", DAY)
    elif fault == "price_scale":
        rows = faults.decimal_as_american(rows, DAY)
    elif fault == "prediction_shift":
        preds = faults.shift_predictions(preds, DAY)
    else:
        preds = faults.misjoin_predictions(preds, DAY)
    found = [f for f in _findings(world, rows, preds) if f.kind == kind]
    assert [f.subject for f in found] == [subject]
    # A fault that breaks what the model reads or says is critical; a stuck value asks for a look
    # (a day when every away starter throws with the same hand is one value too).
    critical = {
        "sides_swapped",
        "null_market",
        "null_pitcher",
        "price_scale",
        "prediction_shift",
        "predictions_misjoined",
    }
    assert found[0].severity == ("critical" if fault in critical else "warning"), found[0].message
    assert found[0].evidence["look_at"] and "Look at" in found[0].message
    if kind in {MISSING_VALUES, CONSTANT_VALUES, SCALE_JUMP}:
        victims = set(found[0].evidence["features"])
        expected = {"null_market": "ml_home_prob", "null_pitcher": "home_sp_left", "frozen_elo": "elo_diff"}
        assert expected.get(fault, "ml_overround") in victims


def test_a_broken_model_shows_against_the_market_the_next_day(world: World) -> None:
    """Predictions attached to the wrong games since 2019-07-01: the settled games of the days
    after lose to the opening line, and the short window says so."""
    start = date(2019, 7, 1)
    preds = faults.misjoin_predictions(world.predictions, start)
    ev = evaluate(
        DayRows.from_frame(world.rows, DAY, 14), world.reference, predictions=preds, settings=Settings()
    )
    sudden = [f for f in ev.findings if f.kind == PERFORMANCE and f.subject == "moneyline:recent"]
    assert len(sudden) == 1 and sudden[0].evidence["mean_gap_open"] > 0.03
    assert sudden[0].evidence["games"] >= 30
    # Before the break, the same check on the same model is silent.
    calm = evaluate(
        DayRows.from_frame(world.rows, start - timedelta(days=1), 14),
        world.reference,
        predictions=world.predictions,
        settings=Settings(),
    )
    assert not [f for f in calm.findings if f.kind == PERFORMANCE]
