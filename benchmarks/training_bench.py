"""Models (issue 5): walk-forward against the market, training time, MLflow and serving costs.

Measured, never tuned on: the test seasons 2015-2020 are predicted by models trained only on
earlier seasons with the trainer's defaults (chosen on 2012-2014). Goals:

- moneyline, 2015-2020 pooled: model log loss below the de-vigged opening line's (0.6743 in
  DESIGN.md), toward the closing line's (0.6717); per season; totals and run line likewise;
- training every target on 2010-2020 in <= 60 s; the walk-forward over 6 test seasons in <= 5 min.

Also: MLflow server start-up (PostgreSQL backend), logging + registering a model against it and
against the embedded sqlite store, and one prediction on a numpy row through the plain model
files against the pyfunc wrapper. The comparison tables are printed (Markdown) for BENCHMARKS.md
and logged to MLflow (the configured store, experiment ``mlbedge-benchmarks``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
import psycopg

from benchmarks.common import Result, scratch_database, timed
from mlbedge.features.io import build_and_store
from mlbedge.games.link import rebuild_games
from mlbedge.settings import Settings, get_settings
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate
from mlbedge.training.dataset import TrainingData, load_training_data
from mlbedge.training.evaluation import compare, markdown_table
from mlbedge.training.targets import MARKET_TARGETS, TARGETS, get_target, model_columns, parse_targets
from mlbedge.training.trainer import TrainedModel, fit_target
from mlbedge.training.walk_forward import FoldRun, run_walk_forward, season_folds

TEST_SEASONS = list(range(2015, 2021))
BENCH = "models"


def _load(conn: psycopg.Connection, settings: Settings) -> TrainingData:
    files = historical_files(settings.data_dir)
    migrate(conn)
    load_sbro_files(conn, files.sbro)
    load_pinnacle(conn, files.pinnacle_games, files.pinnacle_lines)
    load_retrosheet_files(conn, files.retrosheet)
    rebuild_games(conn)
    build_and_store(conn, full=True)
    conn.commit()
    return load_training_data(conn, build=False)


def _walk_forward(
    data: TrainingData, threads: int
) -> tuple[list[Result], str, pl.DataFrame, pl.DataFrame, list[FoldRun]]:
    results: list[Result] = []
    markets = parse_targets(",".join(MARKET_TARGETS))
    folds = season_folds(data.features, TEST_SEASONS)
    labelled = {t.name: data.labelled(t) for t in markets}
    walk = run_walk_forward(
        labelled, markets, folds, data.feature_names, model_params={"num_threads": threads}
    )
    results.append(
        Result(
            BENCH, "walk-forward 2015-2020, 3 market targets (18 models)", walk.seconds, "s", goal="<= 300 s"
        )
    )
    regressions = parse_targets("total_runs,run_diff")
    labelled_r = {t.name: data.labelled(t) for t in regressions}
    walk_r = run_walk_forward(
        labelled_r, regressions, folds, data.feature_names, model_params={"num_threads": threads}
    )
    results.append(Result(BENCH, "walk-forward 2015-2020, 2 regressions (12 models)", walk_r.seconds, "s"))
    predictions = pl.concat([walk.predictions, walk_r.predictions])
    scores, differences = compare(predictions)
    text = []
    for name in [*MARKET_TARGETS, "total_runs", "run_diff"]:
        for scope in ("common", "open", "close"):
            table = markdown_table(scores, differences, name, scope)
            if table:
                text.append(f"### {name} ({scope})\n\n{table}\n")
    pooled = scores.filter(pl.col("season") == "pooled")
    for name in MARKET_TARGETS:
        for scope in ("common", "open", "close"):
            rows = {
                r["source"]: r
                for r in pooled.filter(pl.col("target") == name, pl.col("scope") == scope).iter_rows(
                    named=True
                )
            }
            if not rows:
                continue
            n = rows["model"]["n_games"]
            goal = ""
            if name == "moneyline" and scope == "common":
                goal = "< opening (DESIGN: open 0.6743, close 0.6717)"
            for source, row in rows.items():
                results.append(
                    Result(
                        BENCH,
                        f"{name} 2015-2020 pooled log loss, {source} ({scope}, {n:,} games)",
                        row["log_loss"],
                        "nats",
                        goal=goal if source == "model" else "",
                    )
                )
            versus = "market_close" if scope == "close" else "market_open"
            diff = differences.filter(
                pl.col("target") == name, pl.col("season") == "pooled", pl.col("scope") == scope,
                pl.col("versus") == versus, pl.col("metric") == "log_loss",
            )  # fmt: skip
            if diff.height:
                r = diff.row(0, named=True)
                results.append(
                    Result(
                        BENCH,
                        f"{name} pooled log loss, model - {versus} ({scope})",
                        r["estimate"],
                        "nats",
                        note=f"95% CI {r['ci_low']:+.4f} .. {r['ci_high']:+.4f}",
                    )
                )
    for row in (
        scores.filter(
            pl.col("target") == "moneyline", pl.col("scope") == "common", pl.col("season") != "pooled"
        )
        .pivot("source", index="season", values="log_loss")
        .iter_rows(named=True)
    ):
        results.append(
            Result(
                BENCH,
                f"moneyline {row['season']} log loss, model vs opening",
                row["model"] - row["market_open"],
                "nats",
                note=f"model {row['model']:.4f}, open {row['market_open']:.4f}, close {row['market_close']:.4f}",
            )
        )
    labels = {"model": "model", "market_open": "opening total", "market_close": "closing total"}
    for name in ("total_runs", "run_diff"):
        for row in pooled.filter(pl.col("target") == name, pl.col("scope") == "common").iter_rows(named=True):
            what = f"{name} 2015-2020 pooled RMSE, {labels[row['source']]} ({row['n_games']:,} games)"
            results.append(Result(BENCH, what, row["rmse"], "runs"))
    return results, "\n".join(text), scores, differences, [*walk.runs, *walk_r.runs]


def _train_all(data: TrainingData, threads: int) -> tuple[list[Result], dict[str, TrainedModel]]:
    results: list[Result] = []
    trained: dict[str, TrainedModel] = {}
    total = 0.0
    for target in TARGETS.values():
        frame = data.labelled(target).filter(pl.col("season").is_between(2010, 2020))
        seconds, model = timed(
            lambda f=frame, t=target: fit_target(
                f, t, data.feature_names, data.feature_set_version, num_threads=threads
            )
        )
        trained[target.name] = model
        total += seconds
        results.append(
            Result(
                BENCH,
                f"train {target.name} on 2010-2020",
                seconds,
                "s",
                note=f"{model.n_train:,} games, {model.model.best_iteration_} rounds",
            )
        )
    results.append(Result(BENCH, "train all 5 targets on 2010-2020", total, "s", goal="<= 60 s"))
    return results, trained


def _mlflow(trained: TrainedModel, data: TrainingData) -> list[Result]:
    """Log + register on the embedded store and on a real server; serving latency, plain vs pyfunc."""
    import mlflow.pyfunc

    from mlbedge.training import registry
    from mlbedge.training.mlflow_server import running_mlflow_server

    results: list[Result] = []
    columns = model_columns(data.feature_names, trained.target)
    rows = data.labelled(trained.target).filter(pl.col("season") == 2020).select(columns)
    x = rows.select(pl.all().cast(pl.Float64)).to_numpy()
    saved = {k: os.environ.get(k) for k in ("MLBEDGE_HOME", "MLBEDGE_MLFLOW_TRACKING_URI")}
    with tempfile.TemporaryDirectory() as tmp, scratch_database() as backend:
        try:
            os.environ["MLBEDGE_HOME"] = str(Path(tmp) / "home")
            os.environ.pop("MLBEDGE_MLFLOW_TRACKING_URI", None)
            get_settings.cache_clear()
            settings = get_settings()
            seconds, logged = timed(lambda: registry.log_training(trained, settings=settings))
            results.append(
                Result(
                    BENCH,
                    "log a training run + model, embedded sqlite (first: creates the store)",
                    seconds,
                    "s",
                )
            )
            seconds, logged = timed(lambda: registry.log_training(trained, settings=settings))
            results.append(Result(BENCH, "log a training run + model, embedded sqlite", seconds, "s"))
            seconds, _ = timed(lambda: registry.register(logged, trained, settings=settings))
            results.append(Result(BENCH, "register a version + aliases, embedded sqlite", seconds, "s"))
            name = registry.model_name(trained.target.name, settings)
            seconds, served = timed(lambda: registry.load_serving_model(name, settings=settings))
            results.append(Result(BENCH, "load the champion for serving (download + parse)", seconds, "s"))
            n = 500
            started = time.perf_counter()
            for i in range(n):
                served.predict(x[i % len(x)])
            plain = (time.perf_counter() - started) / n * 1e6
            pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@champion")
            frame = rows.to_pandas()
            started = time.perf_counter()
            for i in range(50):
                pyfunc.predict(frame.iloc[[i]])
            wrapped = (time.perf_counter() - started) / 50 * 1e6
            results.append(Result(BENCH, "one prediction on a numpy row, plain model files", plain, "us"))
            results.append(
                Result(
                    BENCH,
                    "one prediction on a one-row DataFrame, MLflow pyfunc",
                    wrapped,
                    "us",
                    note=f"{wrapped / plain:.0f}x the plain path",
                )
            )
            with running_mlflow_server(backend, Path(tmp) / "server-artifacts") as server:
                results.append(
                    Result(
                        BENCH, "mlflow server start (PostgreSQL backend, fresh)", server.startup_seconds, "s"
                    )
                )
                os.environ["MLBEDGE_MLFLOW_TRACKING_URI"] = server.url
                get_settings.cache_clear()
                remote = get_settings()
                seconds, logged = timed(lambda: registry.log_training(trained, settings=remote))
                results.append(Result(BENCH, "log a training run + model, mlflow server", seconds, "s"))
                seconds, _ = timed(lambda: registry.register(logged, trained, settings=remote))
                results.append(Result(BENCH, "register a version + aliases, mlflow server", seconds, "s"))
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            get_settings.cache_clear()
    return results


def run() -> list[Result]:
    settings = Settings()
    threads = settings.train_num_threads
    results: list[Result] = []
    with scratch_database() as url, psycopg.connect(url) as conn:
        seconds, data = timed(lambda: _load(conn, settings))
    results.append(Result(BENCH, "setup: load every file and build features", seconds, "s"))
    walk_results, tables, scores, differences, folds = _walk_forward(data, threads)
    results += walk_results
    print(tables)  # the Markdown tables for BENCHMARKS.md
    train_results, trained = _train_all(data, threads)
    results += train_results
    results += _mlflow(trained[get_target("moneyline").name], data)
    try:
        from mlbedge.training import registry

        bench_settings = settings.model_copy(update={"mlflow_experiment": "mlbedge-benchmarks"})
        run_id = registry.log_evaluation(
            scores,
            differences,
            settings=bench_settings,
            params={"test_seasons": "2015-2020"},
            folds=folds,
            feature_set_version=data.feature_set_version,
        )
        print(f"walk-forward logged to MLflow ({registry.tracking_uri(bench_settings)}), run {run_id}")
    except Exception as exc:  # the numbers above stand without the log
        print(f"could not log the walk-forward to MLflow: {exc!r}")
    assert np.isfinite([r.value for r in results]).all()
    return results
