"""``mlbedge demo`` end to end in a subprocess, on the embedded default and the real data."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from mlbedge.notices import RETROSHEET_NOTICE
from tests.conftest import DATA_DIR

STAGES = (
    "load the historical files and link the games",
    "build the point-in-time features",
    "train small models on 2010-2015",
    "backtest 2016",
    "daily pipeline for 2016-08-02",
    "serve the API and ask it",
)


def test_demo_tells_the_whole_story_and_stops_cleanly(tmp_path: Path) -> None:
    """Every stage finishes, the report and the curve are written, predictions and bets for the
    historical date are printed, the API is gone afterwards, and the data credits close the output."""
    home = tmp_path / "home"
    # The embedded default: no server URL of this machine reaches the demo.
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLBEDGE_")}
    env.update({"MLBEDGE_DATA_DIR": str(DATA_DIR), "COLUMNS": "200"})
    started = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("mlbedge")), "demo", "--home", str(home)],
        env=env,
        capture_output=True,
        text=True,
        timeout=420,
    )
    seconds = time.monotonic() - started
    out = done.stdout
    assert done.returncode == 0, f"demo failed ({seconds:.0f} s):\n{out[-4000:]}\n{done.stderr[-4000:]}"
    for stage in STAGES:
        assert f"✓ {stage}" in out, f"stage {stage!r} did not finish:\n{out[-3000:]}"

    report = home / "reports" / "backtest_2016.html"
    assert report.is_file() and "<svg" in report.read_text()
    doc = json.loads((home / "reports" / "backtest_2016.json").read_text())
    assert doc["test_season"] == 2016 and doc["moneyline"]["n_games"] > 2000
    curve = json.loads((home / "reports" / "latest_backtest.json").read_text())["curve"]
    assert curve[0][1] == 1000.0
    # The verdict comes first; a season whose markets fail the skill gate bets nothing and says why.
    assert " ".join(doc["verdict"].split()) in " ".join(out.split())
    if doc["all"]["n_bets"]:
        assert len(curve) > 100
    else:
        assert doc["verdict"].startswith("no bets: ") and len(curve) == 1

    assert "15 games on 2016-08-02" in out
    assert "Predictions, 2016-08-02" in out
    assert "Recommended bets, 2016-08-02" in out or "no bets on 2016-08-02: " in out
    assert "dashboard: GET / -> 200" in out
    assert RETROSHEET_NOTICE.splitlines()[0].strip() in out
    assert "internal tests and demos only" in out.rstrip().splitlines()[-1]  # the credits come last

    # The API stopped with the demo: its port no longer answers.
    port = int(re.search(r"API at http://127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    print(f"demo wall time: {seconds:.1f} s")
