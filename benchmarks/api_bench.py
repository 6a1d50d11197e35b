"""The prediction API under open-loop load, on loopback, the load generator in a separate process.

Goals (issue 19): one game's prediction p99 <= 10 ms at 2,000 requests/s for 20 s; a 16-game batch
p99 <= 25 ms at 200 requests/s; no errors. Measured side by side in one run: the previous path (one
process, every prediction computed from the features: ``serve_ready_answers`` off) and the ready
answers served by ``serve_workers`` processes (``MLBEDGE_BENCH_API_WORKERS``, default 2).

Setup, all real: the 2016 season (SBRO file and Pinnacle games and line snapshots) into a scratch
database, the feature pipeline, materialization into the machine's Redis under a key prefix of
its own, and the three market models trained by the training module (its default parameters) on
the games before 2016-08-01 and registered in MLflow's embedded store under a temporary
MLBEDGE_HOME. The server is ``mlbedge serve`` (uvicorn), rate limiting on (a limit no phase
reaches, so its Redis round trip is in every request), access log off.

The load generator is :mod:`benchmarks.openloop`: requests sent on a fixed schedule whatever the
answers do, latency counted from each request's due time (so queueing shows, unlike ``wrk``'s
closed loop); every request asks for another game (the season's August and September games in
turn; batches of 16 consecutive ones). The load average is read before and after each phase.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import psycopg

from benchmarks.common import Result, scratch_database
from mlbedge.settings import Settings

REDIS_URL = os.environ.get("MLBEDGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SEASON = 2016
TRAIN_END = date(2016, 8, 1)
BENCH = "prediction API"
SINGLE_ROUTE = "/v1/predictions/{game_id}"
BATCH_ROUTE = "/v1/predictions"
BATCH_SIZE = 16


@dataclass(frozen=True)
class Phase:
    """One load phase: what is asked, how often and how long."""

    name: str
    route: str
    rate: float
    seconds: float
    goal_ms: float | None = None


WARMUP = Phase("warm-up", SINGLE_ROUTE, rate=500, seconds=4)
PHASES = (
    Phase("single game", SINGLE_ROUTE, rate=1000, seconds=20),
    Phase("single game", SINGLE_ROUTE, rate=2000, seconds=20, goal_ms=10.0),
    Phase("16-game batch", BATCH_ROUTE, rate=200, seconds=20, goal_ms=25.0),
)


def _requests(folder: Path, ids: list[str]) -> dict[str, Path]:
    """The request lists of both routes, as :mod:`benchmarks.openloop` reads them."""
    singles = [["GET", f"/v1/predictions/{g}", None] for g in ids]
    batches = [
        ["POST", BATCH_ROUTE, json.dumps({"game_ids": ids[i : i + BATCH_SIZE]})]
        for i in range(0, len(ids) - BATCH_SIZE, 7)
    ]
    paths = {SINGLE_ROUTE: folder / "singles.json", BATCH_ROUTE: folder / "batches.json"}
    paths[SINGLE_ROUTE].write_text(json.dumps(singles))
    paths[BATCH_ROUTE].write_text(json.dumps(batches))
    return paths


def run_openloop(url: str, phase: Phase, requests: Path) -> dict[str, Any]:
    """One phase from a separate process (:mod:`benchmarks.openloop`); its summary as a dict."""
    command = [
        sys.executable, "-m", "benchmarks.openloop", "--url", url, "--rate", str(phase.rate),
        "--seconds", str(phase.seconds), "--warmup", "2", "--requests", str(requests),
    ]  # fmt: skip
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=phase.seconds + 90
    ).stdout
    match = re.search(r"^OPENLOOP_JSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"the load generator printed no summary:\n{out}")
    return dict(json.loads(match.group(1)))


# ----------------------------------------------------------------------------------------------
# setup


def _prepare(db_url: str, home: Path, prefix: str) -> list[str]:
    """Load, build, materialize, train and register; returns the game ids to ask for."""
    from mlbedge.features.io import build_and_store
    from mlbedge.games.link import rebuild_games
    from mlbedge.sources.historical.pinnacle import load_pinnacle
    from mlbedge.sources.historical.sbro import load_sbro_files
    from mlbedge.storage.migrations import migrate
    from mlbedge.store.materialize import materialize
    from mlbedge.store.redis_store import RedisStore
    from mlbedge.training import registry
    from mlbedge.training.dataset import load_training_data
    from mlbedge.training.targets import MARKET_TARGETS, get_target
    from mlbedge.training.trainer import fit_target

    settings = Settings(home=home, database_url=db_url, model_name_prefix=prefix, mlflow_tracking_uri=None)
    data_dir = settings.data_dir
    with psycopg.connect(db_url) as conn:
        migrate(conn)
        load_sbro_files(conn, [data_dir / "sbr" / f"mlb_odds_sbr_{SEASON}.csv"])
        pin = data_dir / "pinnacle_2016"
        load_pinnacle(conn, pin / "pinnacle_mlb2016_games.csv", pin / "pinnacle_mlb2016_lines.csv.gz")
        rebuild_games(conn)
        build_and_store(conn, seasons=[SEASON], full=True, cutoff_minutes=60)
        conn.commit()
        store = RedisStore.from_url(REDIS_URL, prefix=prefix)
        materialize(conn, store, seasons=[SEASON])
        store.close()
        data = load_training_data(conn, seasons=[SEASON], build=False, cutoff_minutes=60)
    for market in MARKET_TARGETS:
        target = get_target(market)
        frame = data.labelled(target).filter(pl.col("date") < TRAIN_END)
        trained = fit_target(frame, target, data.feature_names, data.feature_set_version, num_threads=1)
        logged = registry.log_training(trained, settings=settings)
        registry.register(logged, trained, settings=settings)
    return data.features.filter(pl.col("date") >= TRAIN_END).sort("date", "game_id")["game_id"].to_list()


def _start_server(
    db_url: str, home: Path, prefix: str, port: int, log: Path, *, workers: int, ready: bool
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MLBEDGE_HOME": str(home),
        "MLBEDGE_DATABASE_URL": db_url,
        "MLBEDGE_REDIS_URL": REDIS_URL,
        "MLBEDGE_STORE_BACKEND": "redis",
        "MLBEDGE_STORE_KEY_PREFIX": prefix,
        "MLBEDGE_MODEL_NAME_PREFIX": prefix,
        "MLBEDGE_RATE_LIMIT_REQUESTS": "100000000",
        "MLBEDGE_SERVE_READY_ANSWERS": "true" if ready else "false",
    }
    env.pop("MLBEDGE_MLFLOW_TRACKING_URI", None)
    command = [
        str(Path(sys.executable).with_name("mlbedge")),
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mlbedge serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                time.sleep(2.0 * workers)  # every process up (each answers /ready once started)
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"mlbedge serve not ready after 120 s: {log.read_text()[-2000:]}")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clear(prefix: str) -> None:
    from mlbedge.store.redis_store import RedisStore

    store = RedisStore.from_url(REDIS_URL, prefix=prefix)
    try:
        store.clear()
        rate_keys = list(store.client.scan_iter(match=f"{prefix}:ratelimit:*"))
        if rate_keys:
            store.client.delete(*rate_keys)
    finally:
        store.close()


def _load_average() -> float:
    return os.getloadavg()[0]


def _measure(url: str, requests: dict[str, Path]) -> dict[tuple[str, float], dict[str, Any]]:
    """Every phase against the server at ``url``, after a warm-up; summaries by (route, rate)."""
    run_openloop(url, WARMUP, requests[WARMUP.route])
    out = {}
    for phase in PHASES:
        before = _load_average()
        summary = run_openloop(url, phase, requests[phase.route])
        summary["load_before"], summary["load_after"] = before, _load_average()
        print(f"  {phase.name} at {phase.rate:g}/s: {json.dumps(summary)}")
        out[(phase.route, phase.rate)] = summary
    return out


def run() -> list[Result]:
    """Measure both goals, the previous path beside the new one; returns the numbers."""
    prefix = f"mlbedge_bench_api_{uuid.uuid4().hex[:8]}"
    workers = int(os.environ.get("MLBEDGE_BENCH_API_WORKERS", "2"))
    configs = (
        ("previous path (1 process, computed)", 1, False),
        (f"ready answers, {workers} processes", workers, True),
    )
    results: list[Result] = []
    with scratch_database() as db_url, tempfile.TemporaryDirectory(prefix="mlbedge_api_bench_") as tmp:
        folder = Path(tmp)
        home = folder / "home"
        try:
            started = time.perf_counter()
            ids = _prepare(db_url, home, prefix)
            print(
                f"  setup (load, features, materialize, train, register): {time.perf_counter() - started:.1f} s"
            )
            requests = _requests(folder, ids)
            measured: dict[str, dict[tuple[str, float], dict[str, Any]]] = {}
            for label, n, ready in configs:
                port = _free_port()
                server = _start_server(
                    db_url, home, prefix, port, folder / f"serve-{n}.log", workers=n, ready=ready
                )
                try:
                    print(f"  {label}:")
                    measured[label] = _measure(f"http://127.0.0.1:{port}", requests)
                finally:
                    os.killpg(server.pid, signal.SIGTERM)
                    server.wait(timeout=60)
        finally:
            _clear(prefix)
    previous = measured[configs[0][0]]
    for phase in PHASES:
        key = (phase.route, phase.rate)
        for label, _, _ in configs:
            summary = measured[label][key]
            p99 = summary["p99_ms"]
            ok = phase.goal_ms is None or (p99 <= phase.goal_ms and summary["errors"] == 0)
            ratio = previous[key]["p99_ms"] / p99 if label != configs[0][0] and p99 > 0 else None
            results.append(
                Result(
                    BENCH,
                    f"{phase.name} at {phase.rate:g}/s, {label}: p99",
                    p99,
                    "ms",
                    f"<= {phase.goal_ms:g} ms, no errors" if phase.goal_ms is not None else "",
                    ("" if phase.goal_ms is None else f"{'PASS' if ok else 'FAIL'}; ")
                    + f"p50 {summary['p50_ms']:.2f}, p99.9 {summary['p999_ms']:.1f}, "
                    f"max {summary['max_ms']:.1f} ms; {summary['rate']:.0f} req/s answered, "
                    f"{summary['errors']} errors; load average {summary['load_before']:.1f} -> "
                    f"{summary['load_after']:.1f}"
                    + (f"; p99 {ratio:.1f}x lower than the previous path" if ratio is not None else ""),
                )
            )
    return results


if __name__ == "__main__":
    for result in run():
        print(
            f"| {result.benchmark} | {result.metric} | {result.value:.4g} | {result.unit} | {result.goal} | {result.note} |"
        )
