"""Loading every historical file into PostgreSQL (goal: under 15 s on this machine)."""

from __future__ import annotations

import psycopg

from benchmarks.common import Result, scratch_database, timed
from mlbedge.games.link import rebuild_games
from mlbedge.settings import Settings
from mlbedge.sources.historical.files import historical_files
from mlbedge.sources.historical.pinnacle import load_pinnacle
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.migrations import migrate


def run() -> list[Result]:
    files = historical_files(Settings().data_dir)
    results: list[Result] = []
    with scratch_database() as url, psycopg.connect(url) as conn:
        migrate(conn)
        conn.commit()
        for attempt in ("first load", "repeat load (idempotent)"):
            steps = {
                "sbro": lambda: load_sbro_files(conn, files.sbro),
                "pinnacle": lambda: load_pinnacle(conn, files.pinnacle_games, files.pinnacle_lines),
                "retrosheet": lambda: load_retrosheet_files(conn, files.retrosheet),
                "link": lambda: rebuild_games(conn),
            }
            total = 0.0
            for name, step in steps.items():
                seconds, _ = timed(step)
                conn.commit()
                total += seconds
                results.append(Result("historical load", f"{attempt}: {name}", seconds, "s"))
            results.append(
                Result(
                    "historical load",
                    f"{attempt}: total",
                    total,
                    "s",
                    goal="< 15 s" if attempt == "first load" else "",
                )
            )
    return results


if __name__ == "__main__":
    for r in run():
        print(r)
