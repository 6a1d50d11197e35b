"""Suspended games: a result is observed on the date the game was completed, not its first date.

Real data: 2019-05-19 OAK@DET was suspended and finished on 2019-09-06 (in Oakland), 2019-08-07
KC@BOS on 2019-08-22 (Retrosheet's completion field).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import polars as pl
import psycopg
import pytest

from mlbedge.features.asof import game_clock
from mlbedge.features.io import read_inputs
from mlbedge.features.pipeline import FeatureInputs, build_features
from tests.features.conftest import CUTOFF
from tests.features.leakage import assert_same_rows

SUSPENDED = "20190519-ATH-DET-0"  # Oakland is ATH (its current MLB abbreviation)
OAK, DET = 133, 116


@pytest.fixture(scope="module")
def inputs_2019(loaded_db_url: str) -> FeatureInputs:
    with psycopg.connect(loaded_db_url) as conn:
        return read_inputs(conn, max_season=2019)


def test_completion_dates_reach_the_games(inputs_2019: FeatureInputs) -> None:
    games = inputs_2019.games.filter(pl.col("completion_date").is_not_null())
    found = dict(games.select("game_id", "completion_date").iter_rows())
    assert found[SUSPENDED] == date(2019, 9, 6)
    assert found["20190807-KC-BOS-0"] == date(2019, 8, 22)
    # 2010-2019 logs hold 21 games completed on a later date.
    assert (games["completion_date"] > games["date"]).sum() == 21


def test_a_suspended_games_result_is_observed_after_its_completion(inputs_2019: FeatureInputs) -> None:
    clock = game_clock(inputs_2019.games.filter(pl.col("game_id") == SUSPENDED).lazy(), CUTOFF).collect()
    # Midnight after 2019-09-06, Pacific (PDT, UTC-7).
    assert clock["result_observed_at"].item() == datetime(2019, 9, 7, 7, tzinfo=UTC)
    assert clock["result_date"].item() == date(2019, 9, 6)


def _team_games(games: pl.DataFrame, first: date, last: date) -> list[str]:
    return (
        games.filter(
            pl.col("home_team_id").is_in([OAK, DET]) | pl.col("away_team_id").is_in([OAK, DET]),
            pl.col("date").is_between(first, last),
        )["game_id"]
        .sort()
        .to_list()
    )


def test_altering_the_suspended_score_changes_nothing_before_its_completion(
    inputs_2019: FeatureInputs,
) -> None:
    """RULE: every feature of every OAK and DET game from 2019-05-20 to 2019-09-05 is the same
    whatever the score of the 2019-05-19 game finished on 09-06; games after it do move."""
    games = inputs_2019.games
    between = _team_games(games, date(2019, 5, 20), date(2019, 9, 5))
    after = _team_games(games, date(2019, 9, 7), date(2019, 9, 20))
    assert len(between) > 180 and len(after) > 10
    mine = pl.col("game_id") == SUSPENDED
    altered = games.with_columns(
        home_score=pl.when(mine).then(pl.col("home_score") + 9).otherwise("home_score"),
        away_score=pl.when(mine).then(0).otherwise("away_score"),
    )
    assert not altered.equals(games)
    wanted = between + after
    base = build_features(inputs_2019, cutoff_minutes=CUTOFF, game_ids=wanted)
    # Only the score differs: the player-level inputs stay, so every family is compared.
    got = build_features(replace(inputs_2019, games=altered), cutoff_minutes=CUTOFF, game_ids=wanted)
    before = pl.col("game_id").is_in(between)
    assert_same_rows(got.filter(before), base.filter(before), "OAK/DET games before the completion")
    assert not got.filter(~before).equals(base.filter(~before)), "the completed result never counted"
