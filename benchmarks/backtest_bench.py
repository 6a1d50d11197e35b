"""Backtest (issue 6): the full walk-forward backtest 2015-2020 against the market, timed.

For each test season Y in 2015-2020, the markets' models are trained (trainer defaults, full
size) on 2010..Y-1 only, the season's features are built under the same cutoff, and
:class:`~mlbedge.betting.backtest.ModelStrategy` bets it round by round from a fresh bankroll of
1,000 (quarter Kelly, simultaneous, default caps). Goal: the whole run <= 5 minutes on this
machine (everything after the files are loaded: features, six trainings of three models, six
backtests, scoring).

Measured beside the time: per season and pooled, the moneyline model's log loss against the
de-vigged opening and closing lines on the same games, and per market the bets, ROI and
closing-line value. ``python -m benchmarks.backtest_bench`` prints them as a Markdown table.

The betting engine, side by side (goal: <= 1 ms a round): for the seasons in
``MLBEDGE_BENCH_ENGINE_SEASONS`` (default 2016, the season of Pinnacle's time-stamped rounds, and
2019), the same inputs and models bet by the model strategy's fast path and round by round (the
previous engine, kept as the reference path for any other strategy), with the skill gate (the
default) and without it (every market bets: the most slates to size), milliseconds a round and the
ratio, and whether the two gave the same bets and rounds to the last bit.
``python -m benchmarks.backtest_bench --engine`` runs that part alone (models trained once into
``MLBEDGE_HOME``'s model cache, then read back).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import polars as pl
import psycopg

from benchmarks.common import Result, scratch_database, timed
from mlbedge.betting.backtest import MARKETS, BacktestResult, ModelStrategy, load_inputs, run_backtest
from mlbedge.betting.metrics import log_loss, mean_ci, roi_ci
from mlbedge.games.link import rebuild_games
from mlbedge.research.seasons import SeasonBacktest, run_season
from mlbedge.settings import Settings
from mlbedge.skill import DEFAULT_MAX_EDGE
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from mlbedge.training.model_cache import ModelCache

BENCH = "backtest"
TEST_SEASONS = tuple(range(2015, 2021))
FIRST_TRAIN = 2010
GOAL_SECONDS = 300.0
ENGINE_GOAL_MS = 1.0


def _engine_seasons() -> list[int]:
    return [int(x) for x in os.environ.get("MLBEDGE_BENCH_ENGINE_SEASONS", "2016,2019").split(",") if x]


def _same(a: BacktestResult, b: BacktestResult) -> bool:
    return a.bets.equals(b.bets) and a.rounds.equals(b.rounds)


def engine_results(url: str, seasons: list[SeasonBacktest]) -> list[Result]:
    """Each season's engine time per round, fast path beside the round-by-round path, gate on and off."""
    results: list[Result] = []
    with psycopg.connect(url) as conn:
        for season in seasons:
            inputs = load_inputs(conn, season.test_season, cutoff_minutes=60)
            for gated in (True, False):
                strategy = ModelStrategy(
                    season.models,
                    season.policy,
                    gates=season.gates if gated else None,
                    max_edge=DEFAULT_MAX_EDGE if gated else None,
                )
                run_backtest(inputs, strategy)  # warm: imports, first-call costs of both paths
                fast_s, fast = timed(lambda: run_backtest(inputs, strategy))  # noqa: B023
                # A plain function hides the model strategy: the engine calls it round by round.
                old_s, old = timed(lambda: run_backtest(inputs, lambda context: strategy(context)))  # noqa: B023
                rounds = fast.rounds.height
                fast_ms, old_ms = fast_s / rounds * 1000, old_s / rounds * 1000
                label = "gate on" if gated else "no gate"
                results.append(
                    Result(
                        BENCH,
                        f"engine {season.test_season}, {label}: ms per round (fast path)",
                        fast_ms,
                        "ms",
                        f"<= {ENGINE_GOAL_MS:g} ms",
                        f"round by round {old_ms:.2f} ms: {old_ms / fast_ms:.1f}x faster; {rounds} rounds, "
                        f"{fast.bets.height} bets; same bets and rounds: {'yes' if _same(fast, old) else 'NO'}",
                    )
                )
    return results


def _engine_only() -> list[Result]:
    """The engine comparison alone: load the files, train (or read back) the seasons' models."""
    settings = Settings()
    cache = ModelCache.for_settings(settings)
    params = {"num_threads": settings.train_num_threads}
    with scratch_database() as url:
        _load(url)
        with psycopg.connect(url) as conn:
            seasons = [
                run_season(
                    conn, range(FIRST_TRAIN, y), y, cutoff_minutes=60, cache=cache, model_params=params
                )
                for y in _engine_seasons()
            ]
            conn.commit()
        return engine_results(url, seasons)


def _load(url: str) -> None:
    files = historical_files(Settings().data_dir)
    with psycopg.connect(url) as conn:
        migrate(conn)
        load_sbro_files(conn, files.sbro)
        load_pinnacle(conn, files.pinnacle_games, files.pinnacle_lines)
        load_retrosheet_files(conn, files.retrosheet)
        rebuild_games(conn)
        conn.commit()


def _walk(url: str) -> list[SeasonBacktest]:
    seasons = []
    with psycopg.connect(url) as conn:
        for season in TEST_SEASONS:
            seasons.append(run_season(conn, range(FIRST_TRAIN, season), season, cutoff_minutes=60))
            conn.commit()
    return seasons


def _pooled_forecasts(seasons: list[SeasonBacktest], market: str) -> dict[str, float]:
    """Pooled log loss of the model and both lines on the games each season scored them on together."""
    frames = []
    for s in seasons:
        rows = s.predictions.filter(pl.col("target") == market)
        priced = [c for c in ("market_open", "market_close") if rows[c].is_not_null().sum() >= 30]
        frames.append(rows.filter(pl.all_horizontal([pl.col(c).is_not_null() for c in priced])))
    rows = pl.concat(frames)
    y = rows["y"].to_numpy()
    out = {"n_games": float(rows.height), "model": log_loss(rows["p_model"].to_numpy(), y)}
    for column in ("market_open", "market_close"):
        priced = rows.filter(pl.col(column).is_not_null())
        if priced.height:
            out[column] = log_loss(priced[column].to_numpy(), priced["y"].to_numpy())
    return out


def run() -> list[Result]:
    results: list[Result] = []
    with scratch_database() as url:
        load_seconds, _ = timed(lambda: _load(url))
        started = time.perf_counter()
        seasons = _walk(url)
        total = time.perf_counter() - started
        engine_rows = engine_results(url, [s for s in seasons if s.test_season in _engine_seasons()])
    results.append(Result(BENCH, "load every historical file (not part of the goal)", load_seconds, "s"))
    results.append(
        Result(
            BENCH,
            "full backtest 2015-2020: features, 18 models, 6 seasons bet, scored",
            total,
            "s",
            f"<= {GOAL_SECONDS:.0f} s",
            "PASS" if total <= GOAL_SECONDS else "FAIL",
        )
    )
    for step in ("features", "train", "load", "backtest", "score"):
        results.append(
            Result(BENCH, f"time in {step}, all seasons", sum(s.timings.get(step, 0.0) for s in seasons), "s")
        )
    rounds = sum(s.result.rounds.height for s in seasons)
    engine = sum(s.result.seconds for s in seasons)
    results.append(Result(BENCH, "backtest engine: rounds decided", float(rounds), "rounds"))
    results.append(Result(BENCH, "backtest engine: time per round", engine / max(rounds, 1) * 1000, "ms"))
    results.extend(engine_rows)
    for s in seasons:
        doc = s.to_json(n_resamples=1000)
        ml = doc["moneyline"]
        results.append(
            Result(
                BENCH,
                f"{s.test_season} moneyline log loss model / open / close",
                ml["model"]["log_loss"],
                "nats",
                "",
                f"open {ml['market_open']['log_loss']:.4f}, close {ml['market_close']['log_loss']:.4f}, "
                f"{ml['n_games']} games; {s.timings['train'] + s.timings['backtest']:.0f} s",
            )
        )
        every = doc["all"]
        results.append(
            Result(
                BENCH,
                f"{s.test_season} all markets ROI",
                every["roi"] if every["roi"] is not None else float("nan"),
                "",
                "",
                f"{every['n_bets']} bets, staked {every['staked']:.0f}, CLV "
                + (f"{every['clv_mean']:+.4f}" if every["clv_mean"] is not None else "n/a")
                + f", final bankroll {every['final_bankroll']:.0f}, max drawdown {every['max_drawdown']:.2f}",
            )
        )
    for market in MARKETS:
        pooled = _pooled_forecasts(seasons, market)
        results.append(
            Result(
                BENCH,
                f"2015-2020 pooled {market} log loss model",
                pooled["model"],
                "nats",
                "",
                f"open {pooled.get('market_open', float('nan')):.4f}, close "
                f"{pooled.get('market_close', float('nan')):.4f}, {pooled['n_games']:.0f} games",
            )
        )
        bets = pl.concat([s.result.bets.filter(pl.col("market") == market) for s in seasons])
        action = bets.filter(pl.col("result") != "void")
        if action.is_empty():
            results.append(Result(BENCH, f"2015-2020 {market} bets", 0.0, "bets", "", "no bet placed"))
            continue
        roi = roi_ci(action["profit"].to_numpy(), action["stake"].to_numpy(), n_resamples=1000)
        clv_values = action["clv"].drop_nulls().to_numpy()
        clv = mean_ci(clv_values, n_resamples=1000)
        results.append(
            Result(
                BENCH,
                f"2015-2020 {market} ROI (bets pooled)",
                roi.estimate,
                "",
                "",
                f"95% CI {roi.low:+.4f}..{roi.high:+.4f}; {action.height} bets; CLV {clv.estimate:+.4f} "
                f"({clv.low:+.4f}..{clv.high:+.4f}, {clv_values.size} bets); mean edge "
                f"{float(np.nanmean(action['edge'].to_numpy())):.4f}",
            )
        )
    return results


if __name__ == "__main__":
    for r in _engine_only() if "--engine" in sys.argv[1:] else run():
        print(f"| {r.benchmark} | {r.metric} | {r.value:.4g} | {r.unit} | {r.goal} | {r.note} |")
