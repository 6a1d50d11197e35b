"""Monitoring measured both ways: false alarms on ordinary days, detection of injected faults.

Replay: for each test season Y in 2016-2019 a moneyline model is trained on 2010..Y-1 only
(small: 60 boosting rounds), the :class:`~mlbedge.monitoring.reference.Reference` is learned from
the same training rows, and every day of Y with games (``--every N``: every N-th day) is checked
as the daily monitor would: the day checks, the calendar-matched family drift of the 14 days up
to it, the model's output against the market, its performance on the settled games before it.

- **Quiet**: no fault injected. Alerts per week, as alert-days (a check that fires) and as
  episodes (a kind and subject firing on a check day after a check day where it did not).
- **Faults**: each kind of :mod:`mlbedge.monitoring.faults`, injected from each of
  ``STARTS_PER_SEASON`` dates per season spread over the season: detected on the first check
  (the fault's first day) and within one day (that check or the next), by an alert of the kind
  meant to catch it.
- **Source silent**: a synthetic fetch log (SYNTHETIC: two sources fetched every 15 and 60
  minutes with 3% failed fetches, over five days) in the scratch database; checks at random
  clocks, and the same after deleting one source's fetches from a random time in the 24 h before.

``python -m benchmarks.monitor_bench [--every N]`` prints the table.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import polars as pl
import psycopg

from benchmarks.common import Result, scratch_database
from mlbedge.features.io import build_and_store, read_features
from mlbedge.features.registry import feature_set_version
from mlbedge.games.link import rebuild_games
from mlbedge.monitoring import faults
from mlbedge.monitoring.alerts import (
    CONSTANT_VALUES,
    FRESHNESS,
    MISSING_VALUES,
    PERFORMANCE,
    PREDICTION_SHIFT,
    SCALE_JUMP,
    SIDES_SWAPPED,
)
from mlbedge.monitoring.checks import DayRows
from mlbedge.monitoring.freshness import check_freshness
from mlbedge.monitoring.reference import MIN_DAY_GAMES, fit_reference
from mlbedge.monitoring.runner import evaluate, model_predictions
from mlbedge.settings import Settings
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from mlbedge.training.targets import get_target, label_frame, read_labels
from mlbedge.training.trainer import fit_target

BENCH = "monitor"
TEST_SEASONS = (2016, 2017, 2018, 2019)
FIRST_TRAIN = 2010
STARTS_PER_SEASON = 6
SMALL = {"num_boost_round": 60, "early_stopping_rounds": 10, "num_threads": 1, "calibration_folds": 2}
# Features a fault nulls or freezes, in turn: one per family and the market's own price.
VICTIMS = ("ml_home_prob", "elo_diff", "home_sp_left", "home_win_pct_season", "total_line", "away_rest_days")
EXPECTED: dict[str, set[str]] = {
    "sides_swapped": {SIDES_SWAPPED},
    "feature_null": {MISSING_VALUES},
    "feature_constant": {CONSTANT_VALUES},
    "price_scale": {SCALE_JUMP},
    "prediction_shift": {PREDICTION_SHIFT},
    "predictions_misjoined": {PREDICTION_SHIFT, PERFORMANCE},
    "source_silent": {FRESHNESS},
}


def _load(url: str) -> None:
    files = historical_files(Settings().data_dir)
    with psycopg.connect(url) as conn:
        migrate(conn)
        load_sbro_files(conn, files.sbro)
        load_pinnacle(conn, files.pinnacle_games, files.pinnacle_lines)
        load_retrosheet_files(conn, files.retrosheet)
        rebuild_games(conn)
        build_and_store(conn, full=True, cutoff_minutes=60)
        conn.commit()


def _inject(
    kind: str, rows: pl.DataFrame, preds: pl.DataFrame, start: date, i: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    victim = VICTIMS[i % len(VICTIMS)]
    if kind == "sides_swapped":
        return faults.swap_sides(rows, start), preds
    if kind == "feature_null":
        return faults.null_feature(rows, victim, start), preds
    if kind == "feature_constant":
        return faults.freeze_feature(rows, victim, start), preds
    if kind == "price_scale":
        return faults.decimal_as_american(rows, start), preds
    if kind == "prediction_shift":
        return rows, faults.shift_predictions(preds, start)
    if kind == "predictions_misjoined":
        return rows, faults.misjoin_predictions(preds, start)
    raise ValueError(kind)


def _fired(
    rows: pl.DataFrame, preds: pl.DataFrame, day: date, reference: Any, settings: Settings
) -> list[Any]:
    window = DayRows.from_frame(rows, day, settings.monitor_recent_days)
    return evaluate(window, reference, predictions=preds, settings=settings).findings


def replay_season(
    features: pl.DataFrame, labels: pl.DataFrame, season: int, settings: Settings, *, every: int
) -> dict[str, Any]:
    """Train on the seasons before, then replay the season quiet and with each fault."""
    train = features.filter(pl.col("season").is_between(FIRST_TRAIN, season - 1))
    target = get_target("moneyline")
    names = [c for c in settings_feature_names(features)]
    started = time.perf_counter()
    trained = fit_target(label_frame(train, labels, target), target, names, feature_set_version(60), **SMALL)
    model = trained.to_serving()
    reference = fit_reference(
        train, f"bench@{season}", clock_patterns=settings.monitor_drift_calendar_features
    )
    fit_seconds = time.perf_counter() - started
    # The season and the weeks before it (the prediction-gap and drift windows reach back).
    rows = features.filter(pl.col("season").is_between(season - 1, season))
    preds = model_predictions("moneyline", model, rows, labels)
    days = rows.filter(pl.col("season") == season)["date"].unique().sort().to_list()
    quiet_days = days[::every]
    out: dict[str, Any] = {"season": season, "fit_seconds": fit_seconds, "days": len(quiet_days)}

    started = time.perf_counter()
    fired_by_day = {d: _fired(rows, preds, d, reference, settings) for d in quiet_days}
    out["quiet_seconds"] = time.perf_counter() - started
    alert_days: Counter[str] = Counter()
    episodes: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    previous: set[tuple[str, str]] = set()
    for d in quiet_days:
        now = {(f.kind, f.subject) for f in fired_by_day[d]}
        for f in fired_by_day[d]:
            alert_days[f.severity] += 1
            if (f.kind, f.subject) not in previous:
                episodes[f.severity] += 1
                if len(examples[f.severity]) < 6:
                    examples[f.severity].append(f"{d} {f.kind}/{f.subject}")
        previous = now
    out.update(alert_days=dict(alert_days), episodes=dict(episodes), examples=dict(examples))

    # Fault starts spread over the season's days with enough games to judge a day on (the
    # postseason's one to four games a day are below the day checks' minimum), after its first
    # two weeks (the drift and prediction-gap windows are full by then).
    games = rows.group_by("date").len()
    judged = set(games.filter(pl.col("len") >= MIN_DAY_GAMES)["date"].to_list())
    usable = [d for d in days if d >= days[0] + timedelta(days=14) and d in judged]
    step = max(len(usable) // STARTS_PER_SEASON, 1)
    starts = usable[step // 2 :: step][:STARTS_PER_SEASON]
    detected: dict[str, dict[str, int]] = {}
    missed: list[str] = []
    for kind in (k for k in faults.FAULT_KINDS if k != "source_silent"):
        first = within = 0
        for i, start in enumerate(starts):
            bad_rows, bad_preds = _inject(kind, rows, preds, start, i + season)
            next_day = next((d for d in days if d > start), None)
            hits = [
                EXPECTED[kind] & {f.kind for f in _fired(bad_rows, bad_preds, start, reference, settings)}
            ]
            if not hits[0] and next_day is not None:
                hits.append(
                    EXPECTED[kind]
                    & {f.kind for f in _fired(bad_rows, bad_preds, next_day, reference, settings)}
                )
            first += bool(hits[0])
            within += any(hits)
            if not any(hits):
                missed.append(f"{kind} from {start} ({VICTIMS[(i + season) % len(VICTIMS)]})")
        detected[kind] = {"injected": len(starts), "first_check": first, "within_one_day": within}
    out["missed"] = missed
    out["faults"] = detected
    return out


def settings_feature_names(features: pl.DataFrame) -> list[str]:
    """The registry's features present in the stored rows (what the model is trained on)."""
    from mlbedge.features.registry import registry

    return [n for n in registry().names if n in features.columns]


def silent_source(url: str, settings: Settings, *, checks: int = 100, seed: int = 20) -> dict[str, int]:
    """SYNTHETIC fetch log: quiet checks and checks after a source fell silent (see the module)."""
    rng = random.Random(seed)
    t0 = datetime(2019, 6, 1, tzinfo=UTC)
    rows = []
    for source, minutes in (("odds_api", 15), ("mlb_stats", 60)):
        t = t0
        while t < t0 + timedelta(days=5):
            ok = rng.random() > 0.03
            rows.append(
                (
                    uuid.uuid4(),
                    source,
                    "x",
                    "https://example.invalid",
                    t,
                    200 if ok else 503,
                    None if ok else "HTTP 503",
                    "parsed" if ok else "pending",
                )
            )
            t += timedelta(minutes=minutes, seconds=rng.uniform(-60, 60))
    out = {
        "quiet_checks": 0,
        "quiet_alerts": 0,
        "quiet_critical": 0,
        "injected": 0,
        "detected": 0,
        "within_one_day": 0,
    }
    with psycopg.connect(url) as conn:
        conn.cursor().executemany(
            "INSERT INTO raw.fetches (fetch_id, source, endpoint, url, fetched_at, http_status, fetch_error, "
            "parse_status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
        for _ in range(checks):
            now = t0 + timedelta(days=3, hours=rng.uniform(0, 24))
            _, found = check_freshness(conn, now=now, settings=settings)
            out["quiet_checks"] += 1
            out["quiet_alerts"] += len(found)
            out["quiet_critical"] += sum(f.severity == "critical" for f in found)
            source = rng.choice(["odds_api", "mlb_stats"])
            silent_from = now - timedelta(hours=rng.uniform(0, 24))
            with conn.transaction(force_rollback=True):
                conn.execute(
                    "DELETE FROM raw.fetches WHERE source = %s AND fetched_at > %s", (source, silent_from)
                )
                _, found = check_freshness(conn, now=now, settings=settings)
                # The next daily check, a day later, if this one was too early to tell.
                _, later = check_freshness(conn, now=now + timedelta(days=1), settings=settings)
            out["injected"] += 1
            out["detected"] += any(f.subject == source for f in found)
            out["within_one_day"] += any(f.subject == source for f in [*found, *later])
        conn.rollback()
    return out


def measure(every: int = 1) -> tuple[list[dict[str, Any]], dict[str, int], float]:
    """Every season's replay and the fetch-log check; the total seconds."""
    settings = Settings()
    started = time.perf_counter()
    with scratch_database() as url:
        _load(url)
        with psycopg.connect(url) as conn:
            features = read_features(conn, seasons=list(range(FIRST_TRAIN, TEST_SEASONS[-1] + 1)))
            labels = read_labels(conn)
        seasons = [replay_season(features, labels, s, settings, every=every) for s in TEST_SEASONS]
        silent = silent_source(url, settings)
    return seasons, silent, time.perf_counter() - started


def summarise(seasons: list[dict[str, Any]], silent: dict[str, int], every: int) -> list[Result]:
    """The benchmark's numbers."""
    weeks = sum(s["days"] for s in seasons) * every / 7.0
    results = []
    for sev in ("warning", "critical"):
        episodes = sum(s["episodes"].get(sev, 0) for s in seasons)
        days = sum(s["alert_days"].get(sev, 0) for s in seasons)
        goal = "<= 1" if sev == "warning" else "0"
        results.append(
            Result(
                BENCH,
                f"{sev} episodes per week, no fault",
                episodes / weeks,
                "/week",
                goal,
                f"{episodes} over {weeks:.0f} weeks",
            )
        )
        results.append(
            Result(
                BENCH,
                f"{sev} alert-days per week, no fault",
                days / weeks,
                "/week",
                "",
                f"{days} check-days with a {sev}",
            )
        )
    kinds = seasons[0]["faults"].keys()
    for kind in kinds:
        injected = sum(s["faults"][kind]["injected"] for s in seasons)
        first = sum(s["faults"][kind]["first_check"] for s in seasons)
        within = sum(s["faults"][kind]["within_one_day"] for s in seasons)
        results.append(
            Result(
                BENCH,
                f"{kind}: detected within one day",
                within / injected,
                "share",
                ">= 0.95",
                f"{within}/{injected}; first check {first}/{injected}",
            )
        )
    results.append(
        Result(
            BENCH,
            "source_silent: detected within one day",
            silent["within_one_day"] / silent["injected"],
            "share",
            ">= 0.95",
            f"{silent['within_one_day']}/{silent['injected']}; first check {silent['detected']}/{silent['injected']}; "
            f"quiet checks with an alert "
            f"{silent['quiet_alerts']}/{silent['quiet_checks']} ({silent['quiet_critical']} critical)",
        )
    )
    return results


def run(every: int = 3) -> list[Result]:
    """``make bench``: replay every third day (the full daily replay: ``--every 1``)."""
    seasons, silent, seconds = measure(every)
    results = summarise(seasons, silent, every)
    results.append(Result(BENCH, "replay wall time", seconds, "s", "", f"every {every} day(s), 2016-2019"))
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--every", type=int, default=3)
    args = parser.parse_args()
    seasons, silent, seconds = measure(args.every)
    for s in seasons:
        print(s)
    print(silent)
    print("| metric | value | goal | note |\n|---|---|---|---|")
    for r in summarise(seasons, silent, args.every):
        print(f"| {r.metric} | {r.value:.3g} | {r.goal} | {r.note} |")
    print(f"wall time {seconds:.0f} s")


if __name__ == "__main__":
    main()
