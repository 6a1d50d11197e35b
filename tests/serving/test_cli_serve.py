"""``mlbedge serve`` as a user runs it: a separate process, configured by the environment."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.serving.conftest import SLATE_DAY, Online, Registered, ServingDb, free_port


def _serve_env(serving_db: ServingDb, online: Online, registered: Registered) -> dict[str, str]:
    """The environment of a ``mlbedge serve`` child on the session's database, store and models."""
    return {
        **os.environ,
        "MLBEDGE_DATABASE_URL": serving_db.url,
        "MLBEDGE_REDIS_URL": online.url,
        "MLBEDGE_STORE_BACKEND": "redis",
        "MLBEDGE_STORE_KEY_PREFIX": online.prefix,
        "MLBEDGE_MLFLOW_TRACKING_URI": registered.tracking_uri,
        "MLBEDGE_MODEL_NAME_PREFIX": registered.prefix,
        # The session's other apps count their requests under the same key prefix and address.
        "MLBEDGE_RATE_LIMIT_REQUESTS": "100000",
    }


def test_mlbedge_serve_answers_ready_then_predicts(
    serving_db: ServingDb, online: Online, registered: Registered, tmp_path: Path
) -> None:
    port = free_port()
    env = _serve_env(serving_db, online, registered)
    command = [
        str(Path(sys.executable).with_name("mlbedge")),
        "serve",
        "--port",
        str(port),
        "--home",
        str(tmp_path),
    ]
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"{url}/ready", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, log.read_text()[-3000:]
        games = httpx.get(f"{url}/v1/games", params={"date": SLATE_DAY.isoformat()}).json()["games"]
        prediction = httpx.get(f"{url}/v1/predictions/{games[0]['game_id']}")
        assert prediction.status_code == 200
        assert {m["market"] for m in prediction.json()["markets"]} == {"moneyline", "total", "runline"}
        assert (tmp_path / "serving" / "champions.json").is_file()  # the cache a restart needs
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
    # A graceful shutdown, then a normal exit (so exit hooks ran: embedded servers are stopped).
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "Application shutdown complete" in text
    assert f"http://127.0.0.1:{port}" in text


def test_mlbedge_serve_workers_share_the_port_and_stop_together(
    serving_db: ServingDb, online: Online, registered: Registered, tmp_path: Path
) -> None:
    """``--workers 2``: two API processes on one port (both answer, each with its own metrics),
    predictions served, and SIGTERM stops them all, exit code 0."""
    port = free_port()
    env = _serve_env(serving_db, online, registered)
    command = [str(Path(sys.executable).with_name("mlbedge")), "serve", "--port", str(port), "--workers", "2",
               "--home", str(tmp_path)]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        workers: set[str] = set()
        while time.monotonic() < deadline and process.poll() is None and len(workers) < 2:
            try:
                # A new connection each time: the kernel spreads connections over the processes.
                with httpx.Client(timeout=2) as client:
                    response = client.get(f"{url}/ready")
                if response.status_code == 200:
                    metrics = httpx.get(f"{url}/metrics", timeout=2).text
                    # Each process's counters were created at its own start (the ``_created`` samples).
                    workers |= {
                        line
                        for line in metrics.splitlines()
                        if line.startswith("mlbedge_rate_limited_created")
                    }
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        assert len(workers) == 2, log.read_text()[-3000:]
        games = httpx.get(f"{url}/v1/games", params={"date": SLATE_DAY.isoformat()}).json()["games"]
        for game in games[:6]:
            assert httpx.get(f"{url}/v1/predictions/{game['game_id']}").status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert text.count("Application shutdown complete") == 2
    assert "2 processes" in text
