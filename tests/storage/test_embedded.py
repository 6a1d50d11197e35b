"""The embedded default: a real PostgreSQL from pgserver under MLBEDGE_HOME, end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from mlbedge.games.link import rebuild_games
from mlbedge.games.query import games_frame
from mlbedge.settings import Settings
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.database import connect, database_url
from mlbedge.storage.embedded import stop_embedded_postgres


def _postmaster_running(home: Path) -> bool:
    return (home / "postgres" / "postmaster.pid").exists()


def test_embedded_postgres_starts_migrates_loads_queries_and_stops(tmp_path: Path, data_dir: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home, database_url=None, data_dir=data_dir)
    try:
        with connect(settings) as conn:
            load_sbro_files(conn, [data_dir / "sbr" / "mlb_odds_sbr_2015.csv"])
            load_retrosheet_files(conn, [data_dir / "retrosheet" / "GL2015.TXT"])
            rebuild_games(conn)
        assert _postmaster_running(home)
        url = database_url(settings)
        assert "host=" in url and str(home) in url  # a socket under MLBEDGE_HOME, not the machine's server
        with psycopg.connect(url) as conn:
            frame = games_frame(conn, 2015)
            version = conn.execute("SHOW server_version").fetchone()[0]
        assert frame.height == 2465
        assert (
            frame.filter(pl_in_retro := frame["in_retrosheet"]).height == 2429 and pl_in_retro.sum() == 2429
        )
        assert version
    finally:
        stop_embedded_postgres(home)
    assert not _postmaster_running(home)


def test_the_cli_on_the_embedded_default_stops_its_server_at_exit(tmp_path: Path, data_dir: Path) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLBEDGE_")}
    env["MLBEDGE_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "mlbedge.cli.main", "data", "load", "retrosheet",
         str(data_dir / "retrosheet" / "GL2019.TXT"), "--home", str(home)],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "GL2019.TXT" in result.stdout
    assert (home / "postgres" / "PG_VERSION").exists()
    assert not _postmaster_running(home)


_HOLDER = """
import sys
from pathlib import Path
from mlbedge.storage.embedded import embedded_postgres_url
print(embedded_postgres_url(Path(sys.argv[1])), flush=True)
sys.stdin.readline()  # held until the test says so, like a running `mlbedge serve`
"""


def test_a_cli_command_beside_a_server_leaves_its_postgres_up(tmp_path: Path, data_dir: Path) -> None:
    """The first process on a home starts PostgreSQL; a CLI command on the same home attaches and
    exits without stopping it; the server stops when the first process is done."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLBEDGE_")}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(home)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdin is not None
        url = holder.stdout.readline().strip()
        assert url.startswith("postgresql://")
        cli = subprocess.run(
            [sys.executable, "-m", "mlbedge.cli.main", "data", "load", "retrosheet",
             str(data_dir / "retrosheet" / "GL2019.TXT"), "--home", str(home)],
            capture_output=True, text=True, env={**env, "MLBEDGE_DATA_DIR": str(data_dir)}, timeout=300,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        assert _postmaster_running(home)
        with psycopg.connect(url) as conn:  # the holder's server answers, with the CLI's games
            assert conn.execute("SELECT count(*) FROM staging.retrosheet_games").fetchone() == (2429,)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=120) == 0
        assert not _postmaster_running(home)
    finally:
        if holder.poll() is None:
            holder.kill()
