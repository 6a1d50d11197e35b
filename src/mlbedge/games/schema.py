"""``curated.games`` as the rest of the code reads it: one schema, each reader a subset of it.

The table (``storage/migrations``) holds one record per game linked across the sources; these are
the columns read back into Polars and their types. The features read the schedule, the opening
prices and the results (:data:`mlbedge.features.pipeline.GAME_COLUMNS`), the backtest also the
closing lines (:data:`mlbedge.betting.backtest.GAMES_SCHEMA`), the API's slate the schedule, the
opening prices and the live key (:data:`mlbedge.serving.slate.SCHEDULE_SCHEMA`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC

import polars as pl

GAMES_SCHEMA: dict[str, pl.DataType] = {
    # the schedule
    "game_id": pl.String(),
    "season": pl.Int32(),
    "date": pl.Date(),
    "game_type": pl.String(),
    "game_num": pl.Int16(),
    "home_team_id": pl.Int64(),
    "away_team_id": pl.Int64(),
    "home_team": pl.String(),
    "away_team": pl.String(),
    "start_time_utc": pl.Datetime("us", UTC),
    "day_night": pl.String(),
    # the starters listed before the game (features read these) and those who threw the first
    # pitch (known after the game: labels and reports only)
    "home_listed_starter": pl.String(),
    "away_listed_starter": pl.String(),
    "home_starter": pl.String(),
    "away_starter": pl.String(),
    "home_starter_hand": pl.String(),
    "away_starter_hand": pl.String(),
    "pin_game_no": pl.Int64(),
    "game_pk": pl.Int64(),
    # the results
    "home_score": pl.Int64(),
    "away_score": pl.Int64(),
    "completion_date": pl.Date(),  # a suspended game's result is known on this date
    # SBRO's opening prices (known before the cutoff)
    "home_ml_open": pl.Int64(),
    "away_ml_open": pl.Int64(),
    "total_open": pl.Float64(),
    "over_odds_open": pl.Int64(),
    "under_odds_open": pl.Int64(),
    # SBRO's closing prices and run line (benchmarks, never features)
    "home_ml_close": pl.Int64(),
    "away_ml_close": pl.Int64(),
    "total_close": pl.Float64(),
    "over_odds_close": pl.Int64(),
    "under_odds_close": pl.Int64(),
    "home_rl": pl.Float64(),
    "home_rl_odds": pl.Int64(),
    "away_rl_odds": pl.Int64(),
}


def games_columns(names: Iterable[str]) -> dict[str, pl.DataType]:
    """The part of :data:`GAMES_SCHEMA` named by ``names``, in their order (KeyError names an unknown one)."""
    out: dict[str, pl.DataType] = {}
    for name in names:
        if name not in GAMES_SCHEMA:
            raise KeyError(f"curated.games has no column {name!r} in mlbedge.games.schema.GAMES_SCHEMA")
        out[name] = GAMES_SCHEMA[name]
    return out
