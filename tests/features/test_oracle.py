"""The oracle: each sampled game rebuilt from only what had been observed at its cutoff.

Runs on every real historical file (SBRO 2010-2020, Retrosheet 2010-2020, Pinnacle 2016). The
observation times come from :mod:`tests.features.oracle`, written from the documented time rules
and sharing no code with the pipeline's clock; a wrong clock in the pipeline (a result seen on
its own date, a doubleheader's first game seen by the second, a suspended game's result counted
on its first date) makes the full build see something the cut-down database does not hold.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta

import numpy as np
import polars as pl
import psycopg
import pytest
from psycopg import sql

from mlbedge.features.io import copy_frame, read_inputs
from mlbedge.features.pipeline import GAME_COLUMNS, FeatureInputs, build_features
from mlbedge.features.registry import Family, registry
from tests.features.conftest import CUTOFF, LABEL_SCHEMA
from tests.features.leakage import assert_same_rows
from tests.features.oracle import observation_times, observed_only

# Set by the mutation checks, which need one caught leak per mutant, not the list of every game.
FIRST_LEAK_ONLY = os.environ.get("MLBEDGE_TEST_FIRST_LEAK_ONLY") == "1"


@pytest.fixture(scope="module")
def everything(loaded_db_url: str) -> FeatureInputs:
    """Every real game (labels included: the full build must ignore them) and Pinnacle line."""
    with psycopg.connect(loaded_db_url) as conn:
        inputs = read_inputs(conn)
        games = copy_frame(conn, sql.SQL("curated.games"), {**GAME_COLUMNS, **LABEL_SCHEMA})
    return replace(inputs, games=games)


@pytest.fixture(scope="module")
def full(everything: FeatureInputs) -> pl.DataFrame:
    return build_features(everything, cutoff_minutes=CUTOFF)


@pytest.fixture(scope="module")
def clock(everything: FeatureInputs) -> pl.DataFrame:
    return observation_times(everything.games, CUTOFF)


def _doubleheader_seconds(full: pl.DataFrame, games: pl.DataFrame) -> pl.DataFrame:
    """Game 2 of each doubleheader whose game 1 has a result, with that game 1."""
    keyed = games.select("game_id", "date", "home_team_id", "away_team_id", "game_num", "home_score")
    first = keyed.filter(pl.col("game_num") == 1, pl.col("home_score").is_not_null()).select(
        "date", "home_team_id", "away_team_id", game1="game_id"
    )
    second = keyed.filter(pl.col("game_num") == 2).select(
        "date", "home_team_id", "away_team_id", game2="game_id"
    )
    pairs = first.join(second, on=["date", "home_team_id", "away_team_id"])
    return pairs.join(full.select(pl.col("game_id").alias("game2"), "start_known"), on="game2")


def _sample(full: pl.DataFrame, games: pl.DataFrame) -> list[str]:
    """Doubleheader second games (start known or not); when games carry completion dates, one game
    of each team of every suspended game between its first date and its completion; then two games
    per season with some history, last.

    The rare cases come first so that a run stopping at its first leak (the mutation checks) meets
    every kind of clock error within a few games.
    """
    pairs = _doubleheader_seconds(full, games).sort("game2")
    known = pairs.filter(pl.col("start_known"))["game2"].head(3).to_list()
    unknown = pairs.filter(~pl.col("start_known"))["game2"].sample(n=3, seed=7).to_list()
    picks: list[str] = [g for pair in zip(known, unknown, strict=True) for g in pair]
    if "completion_date" in games.columns:
        suspended = games.filter(pl.col("completion_date") > pl.col("date"))
        for s in suspended.iter_rows(named=True):
            for team in (s["home_team_id"], s["away_team_id"]):
                between = games.filter(
                    (pl.col("home_team_id") == team) | (pl.col("away_team_id") == team),
                    pl.col("date") > s["date"],
                    pl.col("date") < s["completion_date"],
                ).sort("date")
                if between.height:
                    picks.append(between["game_id"][between.height // 2])
    rng = np.random.default_rng(20240613)
    eligible = full.filter(pl.col("home_games_season") >= 3, pl.col("away_games_season") >= 3)
    for season in sorted(eligible["season"].unique().to_list()):
        ids = eligible.filter(pl.col("season") == season)["game_id"].sort().to_list()
        picks += [ids[i] for i in rng.choice(len(ids), size=2, replace=False)]
    return list(dict.fromkeys(picks))


def test_the_independent_clock_gives_the_pipelines_cutoffs(full: pl.DataFrame, clock: pl.DataFrame) -> None:
    """RULE: as_of is first pitch - 60 min, or midnight starting the local date when the start is
    unknown. The pipeline's as_of of every real game equals the independent one."""
    both = full.select("game_id", "as_of").join(clock.select("game_id", oracle="as_of"), on="game_id")
    assert both.height == full.height
    wrong = both.filter(pl.col("as_of") != pl.col("oracle"))
    assert wrong.is_empty(), f"{wrong.height} games with another cutoff, e.g. {wrong.head(3).to_dicts()}"


def test_each_sampled_game_rebuilt_from_what_was_observed_by_its_cutoff_is_unchanged(
    everything: FeatureInputs, full: pl.DataFrame, clock: pl.DataFrame
) -> None:
    """RULE: a feature of game G uses only facts observed at or before as_of(G).

    For each sampled game, every fact the independent clock says was observed after as_of(G) is
    taken out of the inputs (later games, later results, later opening and closing lines, the
    run line, later Pinnacle snapshots); G built from what is left equals G in the full build,
    to the last bit, every column."""
    sample = _sample(full, everything.games)
    assert len(sample) >= 25
    failures = []
    for game_id in sample:
        expected = full.filter(pl.col("game_id") == game_id)
        cut = expected["as_of"].item()
        got = build_features(
            observed_only(everything, clock, cut, keep=game_id), cutoff_minutes=CUTOFF, game_ids=[game_id]
        )
        try:
            assert_same_rows(got, expected, f"{game_id} rebuilt from what was observed by {cut}")
        except AssertionError as error:
            failures.append(str(error))
            if FIRST_LEAK_ONLY:
                break
    assert not failures, "\n".join(failures)


def test_the_oracle_sees_a_day_too_early_cut(
    everything: FeatureInputs, full: pl.DataFrame, clock: pl.DataFrame
) -> None:
    """Control: cutting the inputs one day before as_of(G) does change G's team features (the
    oracle's cut reaches the build; equality above is not vacuous)."""
    sample = _sample(full, everything.games)[-8:]  # ordinary games: the per-season picks
    team = ["game_id", *[f.name for f in registry().family(Family.TEAM)]]
    changed = 0
    for game_id in sample:
        expected = full.filter(pl.col("game_id") == game_id)
        cut = expected["as_of"].item() - timedelta(days=1)
        got = build_features(
            observed_only(everything, clock, cut, keep=game_id), cutoff_minutes=CUTOFF, game_ids=[game_id]
        )
        changed += not got.select(team).equals(expected.select(team))
    assert changed >= 6, f"only {changed} of {len(sample)} games noticed a cut one day early"
