"""``mlbedge demo``: the whole pipeline on the embedded default, end to end."""

from __future__ import annotations

import time
from pathlib import Path

from rich.progress import Progress

from mlbedge.cli.data import print_link_report, print_summaries
from mlbedge.cli.options import HomeOption, console, fail, print_frame, settings_for
from mlbedge.games.link import rebuild_games
from mlbedge.games.query import games_frame
from mlbedge.notices import DATA_NOTICE
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.database import connect


def demo(home: Path | None = HomeOption) -> None:
    """Load every historical file, link the games and show a few (more steps join as they land)."""
    settings = settings_for(home)
    files = historical_files(settings.data_dir)
    if not files.sbro:
        raise fail(f"no SBRO files under {settings.data_dir}; set MLBEDGE_DATA_DIR")
    console.rule("mlbedge demo")
    console.print(f"home: {settings.home}\ndata: {settings.data_dir}")
    started = time.perf_counter()
    with connect(settings) as conn:
        with Progress(console=console, transient=True) as progress:
            summaries = load_sbro_files(conn, files.sbro, progress=progress)
            if files.pinnacle_games and files.pinnacle_lines:
                summaries += load_pinnacle(
                    conn, files.pinnacle_games, files.pinnacle_lines, progress=progress
                )
            summaries += load_retrosheet_files(conn, files.retrosheet, progress=progress)
            report = rebuild_games(conn)
        print_summaries(summaries)
        print_link_report(report)
        latest = max(s.season for s in report.seasons)
        sample = games_frame(conn, latest).head(5)
    print_frame(
        sample.select(
            "game_id",
            "game_type",
            "home_score",
            "away_score",
            "home_ml_open",
            "away_ml_open",
            "total_open",
            "flags",
        ),
        title=f"First games of {latest}",
    )
    console.print(f"[green]done in {time.perf_counter() - started:.1f} s[/]")
    console.print(DATA_NOTICE)
