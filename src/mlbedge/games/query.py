"""Read unified games out of ``curated.games`` in the shape of the CLI contract."""

from __future__ import annotations

import polars as pl
import psycopg

from mlbedge.storage.database import fetch_frame

# The `data games` columns promised by DESIGN.md, then the extras a user wants beside them.
CONTRACT_COLUMNS = [
    "game_id", "season", "date", "game_type", "home_team_id", "away_team_id", "home_team",
    "away_team", "home_score", "away_score", "home_ml_open", "away_ml_open", "home_ml_close",
    "away_ml_close", "total_open", "total_close", "over_odds_open", "under_odds_open",
    "over_odds_close", "under_odds_close", "home_rl", "home_rl_odds", "away_rl_odds", "flags",
]  # fmt: skip
EXTRA_COLUMNS = [
    "game_num", "start_time_utc", "day_night", "home_starter", "away_starter", "home_starter_hand",
    "away_starter_hand", "in_sbro", "in_retrosheet", "in_pinnacle",
]  # fmt: skip
_ODDS = [
    c
    for c in CONTRACT_COLUMNS
    if c.endswith(("_ml_open", "_ml_close", "_odds_open", "_odds_close", "_rl_odds"))
]
_LINES = ["total_open", "total_close", "home_rl"]


def games_frame(conn: psycopg.Connection, season: int) -> pl.DataFrame:
    """One row per game of ``season`` with the columns of DESIGN.md's ``data games``.

    Odds are American integers, totals and handicaps floats; missing is null (empty in CSV).
    """
    columns = ", ".join(CONTRACT_COLUMNS + EXTRA_COLUMNS)
    frame = fetch_frame(
        conn,
        f"SELECT {columns} FROM curated.games WHERE season = %s ORDER BY date, game_id",
        (season,),
    )
    if frame.is_empty():
        return frame
    return frame.with_columns(
        *(pl.col(c).cast(pl.Int64) for c in _ODDS),
        *(pl.col(c).cast(pl.Float64) for c in _LINES),
        pl.col("date").cast(pl.Date),
    )
