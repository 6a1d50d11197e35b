"""The prediction API under load, on loopback, with the load generator in a separate process.

Goals (issue 8): one game's prediction p99 <= 10 ms at 200 requests/s sustained for 30 s with no
errors; a 16-game batch p99 <= 25 ms. Beside the load generator's numbers, the server's own
latency histogram (``/metrics``, the requests of each phase only) is reported.

Setup, all real: the 2016 season (SBRO file and Pinnacle games and line snapshots) into a scratch
database, the feature pipeline, materialization into the machine's Redis under a key prefix of
its own, and the three market models trained by the training module (its default parameters) on
the games before 2016-08-01 and registered in MLflow's embedded store under a temporary
MLBEDGE_HOME. The server is ``mlbedge serve`` (uvicorn, one process), rate limiting on (a limit
no phase reaches, so its Redis round trip is in every request), access log off.

The load generator is ``wrk`` (Debian package ``wrk``): a fixed number of connections, each
sending its next request a fixed delay after the previous answer, which sets the rate; every
request asks for another game (the served season's August and September games in turn).
"""

from __future__ import annotations

import json
import os
import re
import shutil
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
    """One load phase: what is asked, how hard and how long."""

    name: str
    route: str
    connections: int
    delay_ms: int
    seconds: int


# Rate ~ connections / (delay + latency): 8 connections, 35 ms apart, is a little over 200 req/s.
SINGLE = Phase("single game", SINGLE_ROUTE, connections=8, delay_ms=35, seconds=30)
BATCH = Phase("16-game batch", BATCH_ROUTE, connections=4, delay_ms=38, seconds=20)
WARMUP = Phase("warm-up", SINGLE_ROUTE, connections=2, delay_ms=5, seconds=3)

_LUA = """
local ids = {IDS}
local batches = {BATCHES}
local mode = "{MODE}"
local counter = 0
local delay_ms = {DELAY}

function init(args)
  counter = math.random(1, #ids)
end

function request()
  counter = counter + 1
  if mode == "single" then
    return wrk.format("GET", "/v1/predictions/" .. ids[(counter % #ids) + 1])
  end
  local body = batches[(counter % #batches) + 1]
  return wrk.format("POST", "/v1/predictions", {["Content-Type"] = "application/json"}, body)
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  local out = string.format(
    '{"requests": %d, "seconds": %.3f, "non2xx": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "p999_us": %d, "max_us": %d, "mean_us": %.1f}',
    summary.requests, summary.duration / 1e6, summary.errors.status, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean)
  io.write("WRK_JSON " .. out .. "\\n")
end
"""


def _lua_list(values: list[str]) -> str:
    return "{" + ", ".join(json.dumps(v) for v in values) + "}"


def _script(folder: Path, phase: Phase, ids: list[str]) -> Path:
    batches = [json.dumps({"game_ids": ids[i : i + BATCH_SIZE]}) for i in range(0, len(ids) - BATCH_SIZE, 7)]
    text = (
        _LUA.replace("{IDS}", _lua_list(ids))
        .replace("{BATCHES}", _lua_list(batches))
        .replace("{MODE}", "single" if phase.route == SINGLE_ROUTE else "batch")
        .replace("{DELAY}", str(phase.delay_ms))
    )
    path = folder / f"{phase.name.replace(' ', '_')}.lua"
    path.write_text(text)
    return path


def run_wrk(url: str, phase: Phase, script: Path) -> dict[str, Any]:
    """One wrk run (a separate process); its summary as a dict."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    command = [
        wrk, "-t", "1", "-c", str(phase.connections), "-d", f"{phase.seconds}s",
        "--timeout", "2s", "-s", str(script), url,
    ]  # fmt: skip
    out = subprocess.run(
        command, capture_output=True, text=True, check=True, timeout=phase.seconds + 60
    ).stdout
    match = re.search(r"^WRK_JSON (.*)$", out, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    summary = json.loads(match.group(1))
    summary["rate"] = summary["requests"] / summary["seconds"]
    summary["errors"] = sum(summary[k] for k in ("non2xx", "connect", "read", "write", "timeout"))
    return summary


# ----------------------------------------------------------------------------------------------
# the server's own histogram


def histogram(text: str, route: str) -> dict[float, float]:
    """Cumulative bucket counts ``{upper bound: count}`` of one route's 200 answers."""
    buckets: dict[float, float] = {}
    pattern = re.compile(r"^mlbedge_http_request_duration_seconds_bucket\{(.*)\} (\S+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if not match:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if labels.get("route") == route and labels.get("status") == "200":
            bound = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + float(match.group(2))
    return buckets


def quantile(buckets: dict[float, float], q: float) -> float:
    """The q-quantile of a cumulative histogram, interpolated inside its bucket (as Prometheus'
    ``histogram_quantile``); seconds."""
    bounds = sorted(buckets)
    total = buckets[bounds[-1]] if bounds else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * ((rank - below) / max(count - below, 1e-12))
        lower, below = bound, count
    return lower


def _delta(after: dict[float, float], before: dict[float, float]) -> dict[float, float]:
    return {k: v - before.get(k, 0.0) for k, v in after.items()}


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


def _start_server(db_url: str, home: Path, prefix: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MLBEDGE_HOME": str(home),
        "MLBEDGE_DATABASE_URL": db_url,
        "MLBEDGE_REDIS_URL": REDIS_URL,
        "MLBEDGE_STORE_BACKEND": "redis",
        "MLBEDGE_STORE_KEY_PREFIX": prefix,
        "MLBEDGE_MODEL_NAME_PREFIX": prefix,
        "MLBEDGE_RATE_LIMIT_REQUESTS": "100000000",
    }
    env.pop("MLBEDGE_MLFLOW_TRACKING_URI", None)
    command = [
        str(Path(sys.executable).with_name("mlbedge")),
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
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


def run() -> list[Result]:
    """Measure both goals; returns the numbers with their goals."""
    prefix = f"mlbedge_bench_api_{uuid.uuid4().hex[:8]}"
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
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            server = _start_server(db_url, home, prefix, port, folder / "serve.log")
            try:
                run_wrk(url, WARMUP, _script(folder, WARMUP, ids))
                for phase, goal_ms, goal in (
                    (SINGLE, 10.0, "p99 <= 10 ms at 200 req/s for 30 s, no errors"),
                    (BATCH, 25.0, "p99 <= 25 ms"),
                ):
                    before = histogram(httpx.get(f"{url}/metrics").text, phase.route)
                    summary = run_wrk(url, phase, _script(folder, phase, ids))
                    after = histogram(httpx.get(f"{url}/metrics").text, phase.route)
                    served = _delta(after, before)
                    p50_server = quantile(served, 0.50) * 1e3
                    p99_server = quantile(served, 0.99) * 1e3
                    n_server = served.get(float("inf"), 0.0)
                    print(
                        f"  {phase.name}: {json.dumps(summary)}; server p50 {p50_server:.2f} ms, p99 {p99_server:.2f} ms"
                    )
                    note = (
                        f"wrk, {phase.connections} connections, {summary['requests']} requests in "
                        f"{summary['seconds']:.0f} s"
                    )
                    results += [
                        Result(BENCH, f"{phase.name}: rate", summary["rate"], "req/s", "200" if phase is SINGLE else "", note),
                        Result(BENCH, f"{phase.name}: p50 (wrk)", summary["p50_us"] / 1e3, "ms", "", note),
                        Result(BENCH, f"{phase.name}: p99 (wrk)", summary["p99_us"] / 1e3, "ms", goal,
                               "PASS" if summary["p99_us"] / 1e3 <= goal_ms and summary["errors"] == 0 else "FAIL"),
                        Result(BENCH, f"{phase.name}: p99.9 / max (wrk)", summary["p999_us"] / 1e3, "ms", "",
                               f"max {summary['max_us'] / 1e3:.1f} ms"),
                        Result(BENCH, f"{phase.name}: errors", summary["errors"], "requests", "0", ""),
                        Result(BENCH, f"{phase.name}: p50 (server /metrics)", p50_server, "ms", "",
                               f"{n_server:.0f} requests in the histogram"),
                        Result(BENCH, f"{phase.name}: p99 (server /metrics)", p99_server, "ms", goal,
                               "interpolated inside the histogram's bucket"),
                    ]  # fmt: skip
            finally:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(timeout=30)
        finally:
            _clear(prefix)
    return results


if __name__ == "__main__":
    for result in run():
        print(result)
