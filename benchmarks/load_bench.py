"""Loading every historical file into PostgreSQL (goal: under 15 s on this machine).

SBRO, Pinnacle 2016, the game logs 2010-2020 (games and lineups), the Lahman tables and the
retrosplits files, then the link (listed starters resolved to Retrosheet ids included).
"""

from __future__ import annotations

import psycopg

from benchmarks.common import Result, scratch_database, timed
from mlbedge.games.link import rebuild_games
from mlbedge.settings import Settings
from mlbedge.sources.historical.common import RawFile
from mlbedge.sources.historical.files import HistoricalFiles, historical_files
from mlbedge.sources.historical.lahman import load_lahman_files
from mlbedge.sources.historical.pinnacle import load_pinnacle, parse_pinnacle_games, parse_pinnacle_lines
from mlbedge.sources.historical.retrosheet import load_retrosheet_files
from mlbedge.sources.historical.retrosplits import load_retrosplits_files
from mlbedge.sources.historical.sbro import load_sbro_files
from mlbedge.storage.bulk import upsert_frame
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
                "lahman": lambda: load_lahman_files(conn, files.lahman),
                "retrosplits": lambda: load_retrosplits_files(conn, files.retrosplits),
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
        results.extend(_copy_vs_inserts(conn, files))
    return results


def _copy_vs_inserts(conn: psycopg.Connection, files: HistoricalFiles) -> list[Result]:
    """COPY + merge (what the loaders use) against row-by-row INSERTs of the same 50k snapshots."""
    games, _ = parse_pinnacle_games(RawFile.read(files.pinnacle_games))
    lines, _ = parse_pinnacle_lines(RawFile.read(files.pinnacle_lines), games)
    sample = lines.head(50_000)
    results = []
    for name in ("copy", "insert"):
        conn.execute(f"CREATE TABLE staging.bench_{name} (LIKE staging.pinnacle_lines INCLUDING ALL)")
    copy_s, _ = timed(
        lambda: upsert_frame(conn, "staging.bench_copy", sample, key=["pin_game_no", "observed_at"])
    )
    columns = ", ".join(sample.columns)
    marks = ", ".join(["%s"] * len(sample.columns))
    statement = f"INSERT INTO staging.bench_insert ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"

    def row_by_row() -> None:
        with conn.cursor() as cur:
            for row in sample.iter_rows():
                cur.execute(statement, row)

    insert_s, _ = timed(row_by_row)
    conn.rollback()
    results.append(Result("bulk write, 50k line snapshots", "COPY + merge", copy_s, "s"))
    results.append(Result("bulk write, 50k line snapshots", "row-by-row INSERT", insert_s, "s"))
    results.append(
        Result("bulk write, 50k line snapshots", "INSERT / COPY", insert_s / copy_s, "x", note="same run")
    )
    return results


if __name__ == "__main__":
    for r in run():
        print(r)
