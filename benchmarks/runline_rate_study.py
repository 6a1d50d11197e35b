"""The run line's learning rate, chosen on the validation seasons 2012-2014 only (not part of
``make bench``: it is a model choice, made once and recorded in BENCHMARKS.md).

The run line is three quarters of a walk-forward's training time: two rows a game and, with no
market price to start from, hundreds of boosting rounds at the trainer's learning rate of 0.01. A
higher rate needs fewer rounds; it is adopted only if the validation seasons show it is no worse.
Each validation season is predicted by a model of every earlier season from 2010 (the product's
trainer, calibration and both handicaps), and the pooled log loss at the favourite's line is
compared with the 0.01 model's on the same games (interval of the change over days, Diebold-Mariano).
The test seasons 2015-2020 are not loaded.

``python -m benchmarks.runline_rate_study`` prints a Markdown table.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import polars as pl
import psycopg

from benchmarks.common import machine, scratch_database
from mlbedge.games.link import rebuild_games
from mlbedge.promotion import compare_forecasts
from mlbedge.settings import Settings
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.lahman import load_lahman_files
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.retrosplits import load_retrosplits_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from mlbedge.training.dataset import load_training_data
from mlbedge.training.targets import get_target
from mlbedge.training.trainer import model_params
from mlbedge.training.tuning import TEST_SEASONS
from mlbedge.training.walk_forward import run_walk_forward, season_folds

SEASONS = list(range(2010, 2015))
VALIDATION = [2012, 2013, 2014]
RATES = [float(r) for r in os.environ.get("MLBEDGE_STUDY_RATES", "0.01,0.02,0.03,0.05").split(",")]


def _season(path: Path) -> int | None:
    years = re.findall(r"(\d{4})", path.name)
    return int(years[-1]) if years else None


def main() -> None:
    assert not set(SEASONS) & set(TEST_SEASONS), "the study never loads a test season"
    files = historical_files(Settings().data_dir)
    target = get_target("runline")
    base = model_params(Settings())
    with scratch_database() as url, psycopg.connect(url) as conn:
        migrate(conn)
        load_sbro_files(conn, [p for p in files.sbro if _season(p) in SEASONS])
        load_retrosheet_files(conn, [p for p in files.retrosheet if _season(p) in SEASONS])
        load_lahman_files(conn, files.lahman)
        load_retrosplits_files(conn, [p for p in files.retrosplits if _season(p) in SEASONS])
        rebuild_games(conn)
        conn.commit()
        data = load_training_data(conn, seasons=SEASONS)
        conn.commit()
    labelled = {target.name: data.labelled(target)}
    folds = season_folds(data.features, VALIDATION)
    runs: dict[float, tuple[pl.DataFrame, float, list[int]]] = {}
    for rate in RATES:
        started = time.perf_counter()
        result = run_walk_forward(
            labelled, [target], folds, data.feature_names, model_params={**base, "learning_rate": rate}
        )
        seconds = time.perf_counter() - started
        rows = result.predictions.filter(pl.col("y").is_not_null()).sort("game_id")
        runs[rate] = (rows, seconds, [r.best_iteration for r in result.runs])
    reference, reference_seconds, _ = runs[RATES[0]]
    print(f"machine: {machine()}\n")
    print(
        f"| learning rate | games | log loss | change vs {RATES[0]} (95% CI) | DM p | boosting rounds kept "
        "| walk-forward seconds |\n|---|---:|---:|---|---:|---|---:|"
    )
    for rate, (rows, seconds, rounds) in runs.items():
        assert rows["game_id"].to_list() == reference["game_id"].to_list()
        c = compare_forecasts(
            rows["y"].to_numpy(),
            reference["p_model"].to_numpy(),
            rows["p_model"].to_numpy(),
            rows["date"].to_numpy(),
        )
        print(
            f"| {rate} | {c.n_games:,} | {c.loss_b:.4f} | {c.difference.estimate:+.4f} "
            f"({c.difference.low:+.4f}, {c.difference.high:+.4f}) | {c.dm.p_value:.3f} | "
            f"{', '.join(map(str, rounds))} | {seconds:.1f} ({reference_seconds / seconds:.2f}x) |"
        )


if __name__ == "__main__":
    main()
