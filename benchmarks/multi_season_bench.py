"""Multi-season walk-forward backtest: the previous path (one ``run_season`` per test season, every
model trained, each model's boosters one at a time) against ``run_seasons`` with the model cache,
first run (empty cache, boosters side by side on every core) and second run.

Each test season is trained on every season from the first training season on (trainer defaults,
quarter Kelly). The features are built once beforehand and timed apart, so the three runs compare
training, betting and scoring only. The goal of the six-season run (2010-2014 -> 2015-2020) is
<= 60 s for the first run and <= 15 s for the second; on a shared 2-core machine the default is a
shorter window (``MLBEDGE_BENCH_TRAIN=2013-2014``, ``MLBEDGE_BENCH_TEST=2015-2016``); set those to
``2010-2014`` and ``2015-2020`` for the full run. Only the files of those seasons are loaded.

``python -m benchmarks.multi_season_bench`` prints the numbers as a Markdown table.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import Result, scratch_database, timed
from mlbedge.games.link import rebuild_games
from mlbedge.research.multi_season import run_seasons, season_windows
from mlbedge.research.seasons import run_season
from mlbedge.settings import Settings
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from mlbedge.training.dataset import load_training_data
from mlbedge.training.model_cache import ModelCache
from mlbedge.training.trainer import model_params

BENCH = "multi-season backtest"


def _seasons(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def _season_of(path: Path) -> int:
    return int(re.findall(r"(\d{4})", path.name)[-1])


def _load(url: str, seasons: set[int]) -> None:
    files = historical_files(Settings().data_dir)
    with psycopg.connect(url) as conn:
        migrate(conn)
        load_sbro_files(conn, [p for p in files.sbro if _season_of(p) in seasons])
        if 2016 in seasons and files.pinnacle_games is not None and files.pinnacle_lines is not None:
            load_pinnacle(conn, files.pinnacle_games, files.pinnacle_lines)
        load_retrosheet_files(conn, [p for p in files.retrosheet if _season_of(p) in seasons])
        rebuild_games(conn)
        conn.commit()


def run() -> list[Result]:
    train = _seasons(os.environ.get("MLBEDGE_BENCH_TRAIN", "2013-2014"))
    tests = _seasons(os.environ.get("MLBEDGE_BENCH_TEST", "2015-2016"))
    label = f"{train[0]}-{train[-1]} -> {tests[0]}-{tests[-1]}"
    params = model_params(Settings())
    # The previous path also fitted a model's boosters one at a time.
    one_at_a_time = {**params, "n_jobs": 1}
    results: list[Result] = []
    with scratch_database() as url, tempfile.TemporaryDirectory() as folder:
        load_seconds, _ = timed(lambda: _load(url, {*train, *tests}))
        with psycopg.connect(url) as conn:
            features_seconds, _ = timed(lambda: load_training_data(conn, seasons=[*train, *tests]))
            conn.commit()
            started = time.perf_counter()
            for window, season in season_windows(train, tests):
                run_season(conn, window, season, model_params=one_at_a_time, build=False)
            previous = time.perf_counter() - started
            cache = ModelCache(Path(folder))
            first_seconds, first = timed(
                lambda: run_seasons(conn, train, tests, model_params=params, build=False, cache=cache)
            )
            trained = cache.misses
            again = ModelCache(Path(folder))
            second_seconds, _ = timed(
                lambda: run_seasons(conn, train, tests, model_params=params, build=False, cache=again)
            )
    n_models = len(tests) * 3
    results.append(Result(BENCH, f"load the files of {label} (not compared)", load_seconds, "s"))
    results.append(Result(BENCH, "build and store their features (not compared)", features_seconds, "s"))
    results.append(
        Result(
            BENCH, f"{label}: previous path, one run_season a season, boosters one at a time", previous, "s"
        )
    )
    results.append(
        Result(
            BENCH,
            f"{label}: run_seasons, first run (empty cache, boosters side by side)",
            first_seconds,
            "s",
            "<= 60 s (six seasons)",
            f"{previous / first_seconds:.2f}x faster; {trained} of {n_models} models trained; "
            f"train {first.timings['train']:.1f} s, backtest {first.timings['backtest']:.1f} s",
        )
    )
    results.append(
        Result(
            BENCH,
            f"{label}: run_seasons, second run (warm cache)",
            second_seconds,
            "s",
            "<= 15 s (six seasons)",
            f"{previous / second_seconds:.2f}x faster than the previous path; "
            f"{again.misses} models trained, {again.hits} read back",
        )
    )
    return results


if __name__ == "__main__":
    for r in run():
        print(f"| {r.benchmark} | {r.metric} | {r.value:.4g} | {r.unit} | {r.goal} | {r.note} |")
