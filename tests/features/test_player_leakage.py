"""Leakage proof for the player-level families (starter, availability, bullpen).

On the real files: SBRO 2015-2016, the 2015-2016 game logs (lineups, actual starters, completion
dates), Lahman, retrosplits team games and platoon splits, loaded by the project's loaders. The
observation times of the facts are recomputed in tests/features/leakage.py from the rules in
docs/features.md, not taken from the pipeline.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlbedge.features.pipeline import FeatureInputs, build_features
from mlbedge.features.players import PlayerInputs
from mlbedge.features.registry import Family, registry
from tests.features.conftest import CUTOFF
from tests.features.leakage import alter_after, assert_same_rows, player_fact_times

PLAYER_FAMILIES = (Family.STARTER, Family.AVAILABILITY, Family.BULLPEN)


def _columns(*families: Family) -> list[str]:
    return [f.name for family in families for f in registry().family(family)]


def _players(inputs: FeatureInputs) -> PlayerInputs:
    assert inputs.players is not None, "the feature fixture must load the player-level files"
    return inputs.players


def test_the_fixture_holds_every_player_level_input(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """The proofs below are only as good as their data: every input is there, and every new
    family computes values for most games."""
    p = _players(real_inputs)
    for name in ("game_facts", "lineups", "pitching", "batting", "platoon", "people", "team_games"):
        frame = getattr(p, name)
        assert frame is not None and frame.height > 1000, f"{name} is missing from the fixture"
    seasons = baseline.filter(pl.col("date") >= date(2015, 5, 1))
    for column in ("home_sp_fip_prior", "away_lineup_regulars_woba", "home_bp_irs_rate_season"):
        assert seasons[column].null_count() < 0.1 * seasons.height, f"{column} is mostly null"


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day=st.dates(min_value=date(2015, 4, 20), max_value=date(2016, 9, 25)), seed=st.integers(0, 2**31))
def test_poisoning_everything_observed_after_a_date_changes_no_game_up_to_it(
    day: date, seed: int, real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: nothing observed after a moment reaches a game whose cutoff precedes it.

    Take the latest cutoff of any game up to and on ``day`` and scramble (change or delete)
    everything observed after it: scores; team-game rows, lineups and actual starters of later
    games; listed starters of later dates; a later season's Lahman and platoon rows; and every
    game's own lineup where its start time is unknown (observed only at the end of its day).
    Every feature of every game up to and on ``day`` stays identical; later games do change."""
    upto = baseline.filter(pl.col("date") <= day)
    cut = upto["as_of"].max()
    altered = alter_after(
        real_inputs, cut, day, seed, delete_share=0.3, drop_later_games=False, inject=False,
        cutoff_minutes=CUTOFF,
    )  # fmt: skip
    got = build_features(altered, cutoff_minutes=CUTOFF)
    before = pl.col("date") <= day
    assert_same_rows(got.filter(before), baseline.filter(before), f"games up to {day}")
    columns = _columns(*PLAYER_FAMILIES)
    later = got.filter(~before).select(columns)
    assert not later.equals(baseline.filter(~before).select(columns)), "the poison reached nothing at all"


def test_a_games_own_lineup_is_never_read_where_its_start_time_is_unknown(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: a posted lineup is observed 120 minutes before first pitch, only where the start time
    is known. Replace the own lineups of a 2015 day's games (no start times): their rows are
    identical. Do the same for a 2016 day with start times: the posted-lineup features move."""
    p = _players(real_inputs)
    rng = np.random.default_rng(5)
    pool = p.lineups["player_id"].unique().sort()

    def replaced_lineups(day: date) -> tuple[FeatureInputs, list[str]]:
        ids = baseline.filter(pl.col("date") == day)["game_id"].to_list()
        mine = pl.col("game_id").is_in(ids)
        lineups = p.lineups.with_columns(
            player_id=pl.when(mine)
            .then(pl.Series(rng.choice(pool.to_numpy(), p.lineups.height)))
            .otherwise(pl.col("player_id"))
        )
        return replace(real_inputs, players=replace(p, lineups=lineups)), ids

    unknown, ids = replaced_lineups(date(2015, 7, 8))
    assert not baseline.filter(pl.col("game_id").is_in(ids))["start_known"].any()
    got = build_features(unknown, cutoff_minutes=CUTOFF, game_ids=ids)
    assert_same_rows(
        got, baseline.filter(pl.col("game_id").is_in(ids)), "2015-07-08 after replacing its lineups"
    )

    known, ids = replaced_lineups(date(2016, 7, 8))
    rows = baseline.filter(pl.col("game_id").is_in(ids))
    assert rows["start_known"].all() and rows["home_posted_lineup_woba"].null_count() == 0
    got = build_features(known, cutoff_minutes=CUTOFF, game_ids=ids)
    posted = ["home_posted_lineup_woba", "away_posted_lineup_woba"]
    assert not got.select(posted).equals(rows.select(posted)), "the posted lineup was not read at all"
    others = [
        c for c in got.columns if c not in (*posted, "home_posted_vs_regulars", "away_posted_vs_regulars")
    ]
    assert_same_rows(got.select(others), rows.select(others), "2016-07-08 apart from the posted lineup")


def test_posted_lineup_features_are_null_wherever_the_start_time_is_unknown(baseline: pl.DataFrame) -> None:
    """RULE: where the start time is unknown, as_of is the start of the local date and a posted
    lineup is never observed: its features are null for every such game, and present for most
    2016 games with start times (the control)."""
    posted = ["home_posted_lineup_woba", "away_posted_lineup_woba", "home_posted_vs_regulars"]
    unknown = baseline.filter(~pl.col("start_known"))
    assert unknown.height > 2000
    assert unknown.select(pl.col(posted).null_count()).row(0) == (unknown.height,) * len(posted)
    known = baseline.filter(pl.col("start_known"))
    assert known["home_posted_lineup_woba"].null_count() < 0.1 * known.height


def test_a_suspended_games_player_facts_count_from_its_completion_date(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: a suspended game's team-game rows, lineup and starters are observed at the end of its
    completion date. 2015-04-24 KC@CWS was finished on 04-26: rewriting everything the game logs
    and retrosplits say about it leaves the teams' next game (04-26, the completion date itself)
    unchanged, and changes their later games."""
    p = _players(real_inputs)
    game = real_inputs.games.filter(
        pl.col("date") == date(2015, 4, 24), pl.col("home_team_id") == 145, pl.col("away_team_id") == 118
    )["game_id"].item()
    assert real_inputs.games.filter(pl.col("game_id") == game)["completion_date"].item() == date(2015, 4, 26)
    mine = pl.col("game_id") == game
    rng = np.random.default_rng(11)
    pool = p.lineups["player_id"].unique().sort().to_numpy()
    altered = replace(
        p,
        team_games=p.team_games.with_columns(
            pitchers_used=pl.when(mine).then(9).otherwise("pitchers_used"),
            pitches=pl.when(mine).then(330).otherwise("pitches"),
            inherited_runners=pl.when(mine).then(7).otherwise("inherited_runners"),
            inherited_scored=pl.when(mine).then(7).otherwise("inherited_scored"),
            runs_allowed=pl.when(mine).then(19).otherwise("runs_allowed"),
        ),
        lineups=p.lineups.with_columns(
            player_id=pl.when(mine).then(pl.Series(rng.choice(pool, p.lineups.height))).otherwise("player_id")
        ),
        game_facts=p.game_facts.with_columns(
            home_starter_id=pl.when(mine).then(pl.lit(str(pool[0]))).otherwise("home_starter_id"),
            away_starter_id=pl.when(mine).then(pl.lit(str(pool[1]))).otherwise("away_starter_id"),
        ),
    )
    inputs = replace(real_inputs, players=altered)
    teams = pl.col("home_team_id").is_in([145, 118]) | pl.col("away_team_id").is_in([145, 118])
    keyed = baseline.join(real_inputs.games.select("game_id", "home_team_id", "away_team_id"), on="game_id")
    between = keyed.filter(teams, pl.col("date").is_between(date(2015, 4, 25), date(2015, 4, 26)))
    assert between["game_id"].to_list() == ["20150426-KC-CWS-0"]  # 04-25 was not played
    got = build_features(inputs, cutoff_minutes=CUTOFF, game_ids=between["game_id"].to_list())
    assert_same_rows(
        got, baseline.filter(pl.col("game_id").is_in(between["game_id"].implode())), "games before completion"
    )
    after = keyed.filter(teams, pl.col("date").is_between(date(2015, 4, 27), date(2015, 4, 29)))["game_id"]
    got = build_features(inputs, cutoff_minutes=CUTOFF, game_ids=after.to_list())
    columns = _columns(Family.BULLPEN, Family.AVAILABILITY)
    expected = baseline.filter(pl.col("game_id").is_in(after.implode())).select(columns)
    assert not got.select(columns).equals(expected), "the completed game never reached later games"


def test_a_seasons_lahman_and_platoon_rows_are_seen_only_from_the_next_season(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: a season-level row of season Y is observed at Y+1-01-01 UTC. Rewrite every 2015
    Lahman batting/pitching and platoon row: every 2015 game is unchanged, 2016's starter and
    availability features move."""
    p = _players(real_inputs)
    y2015 = pl.col("season") == 2015
    altered = replace(
        p,
        pitching=p.pitching.with_columns(
            *[
                pl.when(y2015).then(pl.col(c) * 3 + 1).otherwise(pl.col(c)).alias(c)
                for c in ("so", "bb", "hr", "ip_outs")
            ]
        ),
        batting=p.batting.with_columns(
            *[pl.when(y2015).then(pl.col(c) * 2 + 3).otherwise(pl.col(c)).alias(c) for c in ("h", "hr", "bb")]
        ),
        platoon=p.platoon.with_columns(
            *[pl.when(y2015).then(pl.col(c) * 2 + 1).otherwise(pl.col(c)).alias(c) for c in ("h", "hr", "so")]
        ),
    )
    got = build_features(replace(real_inputs, players=altered), cutoff_minutes=CUTOFF)
    in_2015 = pl.col("season") == 2015
    assert_same_rows(
        got.filter(in_2015), baseline.filter(in_2015), "2015 games after rewriting 2015's season rows"
    )
    columns = _columns(Family.STARTER, Family.AVAILABILITY)
    assert not got.filter(~in_2015).select(columns).equals(baseline.filter(~in_2015).select(columns))


def test_the_actual_starter_of_a_game_is_never_read_for_it(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: the listed starter is the pre-game fact; who actually started is known after the game.
    Swap the actual starters of a day's games: none of that day's rows changes."""
    p = _players(real_inputs)
    day = date(2016, 6, 15)
    ids = baseline.filter(pl.col("date") == day)["game_id"].to_list()
    mine = pl.col("game_id").is_in(ids)
    facts = p.game_facts.with_columns(
        home_starter_id=pl.when(mine).then(pl.col("away_starter_id")).otherwise("home_starter_id"),
        away_starter_id=pl.when(mine).then(pl.col("home_starter_id")).otherwise("away_starter_id"),
    )
    got = build_features(
        replace(real_inputs, players=replace(p, game_facts=facts)), cutoff_minutes=CUTOFF, game_ids=ids
    )
    assert_same_rows(got, baseline.filter(mine), f"{day} after swapping its actual starters")
    listed = facts.filter(mine).select("home_listed_starter_id").null_count().item()
    assert listed < len(ids), "the day's listed starters are resolved"


def test_bullpen_windows_recount_the_team_game_rows(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """The bullpen windows equal an independent recount: a team's relief appearances on the three
    dates before the game, counting only rows observed by the game's as_of (result rules from
    docs/features.md, computed in the test helper)."""
    p = _players(real_inputs)
    times = player_fact_times(real_inputs.games)
    rows = (
        p.team_games.join(times, on="game_id")
        .join(real_inputs.games.select("game_id", "date", "completion_date"), on="game_id")
        .select("team_id", "result_at", pl.max_horizontal("date", "completion_date").alias("on"),
                (pl.col("pitchers_used") - 1).clip(lower_bound=0).alias("relievers"))
    )  # fmt: skip
    sample = baseline.filter(pl.col("date") >= date(2015, 6, 1)).sample(200, seed=3)
    targets = sample.join(real_inputs.games.select("game_id", "home_team_id"), on="game_id").select(
        "game_id",
        "date",
        "as_of",
        pl.col("home_team_id").cast(pl.Int64).alias("team_id"),
        "home_bp_relievers_l3",
    )
    recount = (
        targets.join(rows, on="team_id")
        .filter(
            pl.col("on") >= pl.col("date") - pl.duration(days=3),
            pl.col("on") < pl.col("date"),
            pl.col("result_at") <= pl.col("as_of"),
        )
        .group_by("game_id")
        .agg(pl.col("relievers").sum().alias("recount"))
    )
    checked = targets.join(recount, on="game_id", how="left").with_columns(pl.col("recount").fill_null(0))
    bad = checked.filter(pl.col("home_bp_relievers_l3").cast(pl.Int64) != pl.col("recount"))
    assert bad.is_empty(), bad.select("game_id", "home_bp_relievers_l3", "recount").to_dicts()
    assert checked["recount"].sum() > 200, "the recount found relief appearances"


@pytest.mark.parametrize("side", ["home", "away"])
def test_prior_season_fip_recounts_lahman(
    side: str, real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """A starter's shrunk prior FIP equals a recount from his Lahman rows of the three seasons
    before the game's (weights 1.0/0.8/0.6, league constants from the same weighted seasons)."""
    from mlbedge.features.starter import FIP_PRIOR_IP

    p = _players(real_inputs)
    pit = p.pitching
    season = 2016
    weights = {season - 1: 1.0, season - 2: 0.8, season - 3: 0.6}
    w = pit.filter(pl.col("season").is_in(list(weights))).with_columns(
        w=pl.col("season").replace_strict(weights, return_dtype=pl.Float64)
    )
    lg = w.select(
        *[(pl.col(c) * pl.col("w")).sum().alias(c) for c in ("ip_outs", "hr", "bb", "hbp", "so", "er")]
    ).row(0, named=True)
    lg_ip = lg["ip_outs"] / 3
    lg_era = lg["er"] * 9 / lg_ip
    constant = lg_era - (13 * lg["hr"] + 3 * (lg["bb"] + lg["hbp"]) - 2 * lg["so"]) / lg_ip
    mine = w.group_by("player_id").agg(
        *[(pl.col(c) * pl.col("w")).sum().alias(c) for c in ("ip_outs", "hr", "bb", "hbp", "so")],
        last=pl.col("season").max(),
    )
    row = (
        baseline.filter(pl.col("season") == season)
        .join(
            p.game_facts.select("game_id", pl.col(f"{side}_listed_starter_id").alias("player_id")),
            on="game_id",
        )
        .join(mine, on="player_id")
        .filter(pl.col("last") == season - 1, pl.col("ip_outs") > 300)
        .head(25)
    )
    assert row.height == 25
    ip = row["ip_outs"] / 3
    core = 13 * row["hr"] + 3 * (row["bb"] + row["hbp"]) - 2 * row["so"]
    expected = (core + constant * ip + lg_era * FIP_PRIOR_IP) / (ip + FIP_PRIOR_IP)
    np.testing.assert_allclose(row[f"{side}_sp_fip_prior"].to_numpy(), expected.to_numpy(), rtol=1e-9)
