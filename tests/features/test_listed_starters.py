"""Listed starters on the real 2019 files: where SBRO's listed pitcher is not the one Retrosheet
says started (openers, late changes), the pitcher features follow the listed one."""

from __future__ import annotations

import polars as pl
import psycopg
from psycopg import sql

from mlbedge.features.io import copy_frame, read_inputs
from mlbedge.features.pipeline import GAME_COLUMNS, build_features
from mlbedge.features.pitcher import starter_key
from tests.features.conftest import CUTOFF
from tests.features.oracle import observation_times


def test_pitcher_features_follow_the_listed_starter_where_the_actual_one_differs(loaded_db_url: str) -> None:
    with psycopg.connect(loaded_db_url) as conn:
        inputs = read_inputs(conn, max_season=2019)
        games = copy_frame(
            conn,
            sql.SQL("(SELECT * FROM curated.games WHERE season = 2019) g"),
            {
                **GAME_COLUMNS,
                "home_starter": pl.String(),
                "in_sbro": pl.Boolean(),
                "in_retrosheet": pl.Boolean(),
            },
        )
    keyed = games.with_columns(
        listed=starter_key(pl.col("home_listed_starter")), actual=starter_key(pl.col("home_starter"))
    )
    differ = keyed.filter(
        pl.col("in_sbro"),
        pl.col("in_retrosheet"),
        pl.col("listed") != pl.col("actual"),
        pl.col("game_type") == "R",
    )
    # Openers and late changes: a few dozen home starters a season.
    assert 10 <= differ.height <= 100, differ.height
    built = build_features(inputs, cutoff_minutes=CUTOFF, game_ids=differ["game_id"].to_list())
    clock = observation_times(games, CUTOFF)
    timed = keyed.join(clock, on="game_id")
    # Recount: earlier 2019 games of the same team whose LISTED home or away starter is this one,
    # with a result observed by the cutoff.
    sides = pl.concat(
        [
            timed.select("result_observed_at", "home_score", team="home_team_id", key="listed"),
            timed.select(
                "result_observed_at",
                "home_score",
                team="away_team_id",
                key=starter_key(pl.col("away_listed_starter")),
            ),
        ]
    ).filter(pl.col("home_score").is_not_null(), pl.col("key").is_not_null())
    checked = 0
    for g in differ.join(clock.select("game_id", "as_of"), on="game_id").iter_rows(named=True):
        if g["listed"] is None:
            continue
        starts = sides.filter(
            pl.col("team") == g["home_team_id"],
            pl.col("key") == g["listed"],
            pl.col("result_observed_at") <= g["as_of"],
        ).height
        got = built.filter(pl.col("game_id") == g["game_id"])["home_sp_starts_season"].item()
        assert got == starts, f"{g['game_id']}: listed {g['listed']} has {starts} starts, features say {got}"
        checked += 1
    assert checked >= 10
