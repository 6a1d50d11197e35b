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
"""

from __future__ import annotations

import time

import numpy as np
import polars as pl
import psycopg

from benchmarks.common import Result, scratch_database, timed
from mlbedge.betting.backtest import MARKETS
from mlbedge.betting.metrics import log_loss, mean_ci, roi_ci
from mlbedge.games.link import rebuild_games
from mlbedge.research.seasons import SeasonBacktest, run_season
from mlbedge.settings import Settings
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate

BENCH = "backtest"
TEST_SEASONS = tuple(range(2015, 2021))
FIRST_TRAIN = 2010
GOAL_SECONDS = 300.0


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
    for r in run():
        print(f"| {r.benchmark} | {r.metric} | {r.value:.4g} | {r.unit} | {r.goal} | {r.note} |")
