"""The leakage proof: nothing observed after a game's cutoff can reach its features.

These are the most important tests of the project. Each docstring states the rule it proves.
They run on the real SBRO 2015-2016, Retrosheet 2015 and Pinnacle 2016 data (plus SYNTHETIC live
quotes and splits on 240 games of 2016, since no historical splits exist); hypothesis chooses
the game and the alterations.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlbedge.features import market
from mlbedge.features.pipeline import FeatureInputs, build_features
from mlbedge.features.registry import Family, registry
from mlbedge.features.validation import LeakageError, validate_features
from tests.features.conftest import CUTOFF
from tests.features.leakage import CLOSING, SBRO_RUN_LINE, alter_after, as_of, assert_same_rows, poison_labels
from tests.features.oracle import observation_times

EXAMPLES = settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pool(live_baseline: pl.DataFrame, family: Family) -> list[str]:
    """Games worth probing for a family: ones where that family has something to lose."""
    b = live_baseline
    conditions = {
        Family.TEAM: (pl.col("home_games_season") >= 5) & (pl.col("away_games_season") >= 5),
        Family.PITCHER: (pl.col("home_sp_starts_season") >= 1) & (pl.col("away_sp_starts_season") >= 1),
        Family.TEMPORAL: pl.col("home_rest_days").is_not_null(),
        Family.MARKET: pl.col("market_books").str.contains("pinnacle").fill_null(False),
        Family.SPLITS: pl.col("splits_book_count") > 0,
    }
    return b.filter(conditions[family])["game_id"].sort().to_list()


@pytest.mark.parametrize("family", list(Family), ids=[f.value for f in Family])
@EXAMPLES
@given(data=st.data())
def test_facts_observed_after_the_cutoff_never_change_a_games_features(
    family: Family, data: st.DataObject, live_inputs: FeatureInputs, live_baseline: pl.DataFrame
) -> None:
    """RULE: a feature of game G uses only facts observed at or before as_of(G).

    For each family, take a game G and change or delete every fact observed after as_of(G) --
    the results of G and of every later game, opening lines of later days, every closing line
    and SBRO run line, later Pinnacle snapshots, later live quotes and splits (some deleted, some
    rewritten, some injected) -- rebuild, and G's row must be bit-identical.
    """
    pool = _pool(live_baseline, family)
    assert len(pool) > 50, f"too few {family.value} games to probe"
    game_id = data.draw(st.sampled_from(pool), label="game")
    expected = live_baseline.filter(pl.col("game_id") == game_id)
    cut = as_of(live_baseline, game_id)
    altered = alter_after(
        live_inputs,
        cut,
        expected["date"].item(),
        data.draw(st.integers(0, 2**31), label="seed"),
        delete_share=data.draw(st.sampled_from([0.0, 0.3, 1.0]), label="delete share"),
        drop_later_games=data.draw(st.booleans(), label="drop later games"),
        inject=data.draw(st.booleans(), label="inject later snapshots"),
        cutoff_minutes=CUTOFF,
    )
    got = build_features(altered, cutoff_minutes=CUTOFF, game_ids=[game_id])
    columns = ["game_id", *[f.name for f in registry().family(family)]]
    assert_same_rows(got.select(columns), expected.select(columns), f"{family.value} features of {game_id}")
    assert_same_rows(got, expected, f"whole row of {game_id}")


@pytest.mark.parametrize(
    "family", [Family.TEAM, Family.PITCHER, Family.MARKET, Family.SPLITS], ids=lambda f: f.value
)
def test_the_alterations_do_reach_features_when_made_before_the_cutoff(
    family: Family, live_inputs: FeatureInputs, live_baseline: pl.DataFrame
) -> None:
    """Control for the property above: the same alterations made from a moment BEFORE as_of(G)
    (six days earlier: a starter's previous start is inside) do change G's features, so the
    property test is not vacuous."""
    pool = _pool(live_baseline, family)
    changed = 0
    for game_id in pool[100:105]:
        expected = live_baseline.filter(pl.col("game_id") == game_id)
        cut = as_of(live_baseline, game_id) - timedelta(days=6)
        altered = alter_after(
            live_inputs, cut, expected["date"].item(), 7, delete_share=0.0, drop_later_games=False,
            inject=True, cutoff_minutes=CUTOFF,
        )  # fmt: skip
        got = build_features(altered, cutoff_minutes=CUTOFF, game_ids=[game_id])
        columns = [f.name for f in registry().family(family)]
        changed += not got.select(columns).equals(expected.select(columns))
    assert changed >= 4, f"only {changed} of 5 {family.value} rows reacted to earlier alterations"


def test_closing_lines_and_the_sbro_run_line_are_never_read(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: closing lines and SBRO's run line (closing-ish, no opening price) are labels and
    benchmarks only. Poisoned with random values, or deleted from the input altogether, every
    game's features are unchanged."""
    assert set(CLOSING + SBRO_RUN_LINE) <= set(real_inputs.games.columns)
    poisoned = poison_labels(real_inputs.games, np.random.default_rng(1))
    assert not poisoned.select(CLOSING).equals(real_inputs.games.select(CLOSING))
    got = build_features(replace(real_inputs, games=poisoned), cutoff_minutes=CUTOFF)
    assert_same_rows(got, baseline, "features with poisoned closing lines")
    deleted = real_inputs.games.drop(CLOSING + SBRO_RUN_LINE)
    got = build_features(replace(real_inputs, games=deleted), cutoff_minutes=CUTOFF)
    assert_same_rows(got, baseline, "features with the closing columns deleted")


@settings(max_examples=4, deadline=None)
@given(day=st.dates(min_value=date(2015, 4, 20), max_value=date(2016, 9, 30)))
def test_poisoned_final_scores_change_no_game_whose_cutoff_precedes_them(
    day: date, real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: a final score is observed at the end of its local date and never earlier. Poison
    every score from a day on: every game whose as_of precedes the first poisoned score's
    observation is unchanged -- and later games do change (the poison reached the pipeline)."""
    games = real_inputs.games
    clock = observation_times(games, CUTOFF)
    rng = np.random.default_rng(day.toordinal())
    late = pl.col("date") >= day
    poisoned = games.with_columns(
        home_score=pl.when(late)
        .then(pl.Series(rng.integers(0, 25, games.height)))
        .otherwise(pl.col("home_score")),
        away_score=pl.when(late)
        .then(pl.Series(rng.integers(0, 25, games.height)))
        .otherwise(pl.col("away_score")),
    )
    first_poison = (
        games.select("game_id", "date").join(clock, on="game_id").filter(late)["result_observed_at"].min()
    )
    got = build_features(replace(real_inputs, games=poisoned), cutoff_minutes=CUTOFF)
    before = pl.col("as_of") < first_poison
    assert_same_rows(got.filter(before), baseline.filter(before), f"games before the poison from {day}")
    assert baseline.filter(before).height > 0
    after_rows = got.filter(~before)
    if after_rows.height > 30:
        assert not after_rows.equals(baseline.filter(~before)), "poisoned scores changed nothing at all"


def _doubleheaders(baseline: pl.DataFrame, games: pl.DataFrame) -> pl.DataFrame:
    keyed = baseline.join(games.select("game_id", "home_team_id", "away_team_id", "game_num"), on="game_id")
    first = keyed.filter(pl.col("game_num") == 1).select(
        "date", "home_team_id", "away_team_id", pl.col("game_id").alias("game1")
    )
    second = keyed.filter(pl.col("game_num") == 2).select(
        "date", "home_team_id", "away_team_id", pl.col("game_id").alias("game2")
    )
    return first.join(second, on=["date", "home_team_id", "away_team_id"])


def test_doubleheader_game_two_does_not_see_game_one(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: when results are observed at the end of the local date, a doubleheader's game 2 never
    sees game 1's result -- even in 2016, where start times put game 2's cutoff after game 1.
    Both games get the same team state, and rewriting game 1's score leaves game 2 unchanged."""
    pairs = _doubleheaders(baseline, real_inputs.games)
    assert pairs.height >= 30, "expected the real doubleheaders of 2015-2016"
    team = [f.name for f in registry().family(Family.TEAM)]
    for row in pairs.iter_rows(named=True):
        g1 = baseline.filter(pl.col("game_id") == row["game1"])
        g2 = baseline.filter(pl.col("game_id") == row["game2"])
        assert g2.select(team).equals(g1.select(team)), (
            f"{row['game2']} sees something {row['game1']} does not"
        )
    # Rewrite each game 1's score (one pair at a time: a later game 2 may rightly see an earlier
    # doubleheader's game 1); its game 2 must not move.
    games = real_inputs.games
    sample = pl.concat([pairs.filter(pl.col("date").dt.year() == y).head(6) for y in (2015, 2016)])
    for row in sample.iter_rows(named=True):
        mine = pl.col("game_id") == row["game1"]
        rewritten = games.with_columns(
            home_score=pl.when(mine).then(pl.col("home_score") + 11).otherwise(pl.col("home_score")),
            away_score=pl.when(mine).then(0).otherwise(pl.col("away_score")),
        )
        got = build_features(
            replace(real_inputs, games=rewritten), cutoff_minutes=CUTOFF, game_ids=[row["game2"]]
        )
        expected = baseline.filter(pl.col("game_id") == row["game2"])
        assert_same_rows(got, expected, f"{row['game2']} after rewriting {row['game1']}")
    game2 = pairs["game2"].to_list()
    known_start = baseline.filter(pl.col("game_id").is_in(game2) & pl.col("start_known"))
    assert known_start.height >= 5, "the 2016 doubleheaders (start times known) must be among them"


def test_an_unknown_start_counts_only_results_observed_by_local_midnight(
    real_inputs: FeatureInputs, baseline: pl.DataFrame
) -> None:
    """RULE: with no start time, as_of is midnight starting the game's local date, and a team's
    record counts exactly its results observed by then (earlier dates only). Recounted here
    independently of the pipeline for every 2015 game."""
    games = real_inputs.games
    clock = observation_times(games, CUTOFF)
    season = baseline.filter(pl.col("season") == 2015)
    assert not season["start_known"].any()
    assert season.join(clock, on="game_id").filter(pl.col("as_of") != pl.col("day_start")).is_empty()
    played = games.filter(pl.col("season") == 2015, pl.col("home_score").is_not_null()).join(
        clock, on="game_id"
    )
    team_results = pl.concat(
        [
            played.select(pl.col("home_team_id").alias("team"), "date", "result_observed_at"),
            played.select(pl.col("away_team_id").alias("team"), "date", "result_observed_at"),
        ]
    )
    targets = season.join(games.select("game_id", "home_team_id", "date"), on=["game_id", "date"]).select(
        "game_id", pl.col("home_team_id").alias("team"), "as_of", "date", "home_games_season"
    )
    recount = (
        targets.join(team_results, on="team", suffix="_r")
        .filter(pl.col("result_observed_at") <= pl.col("as_of"))
        .group_by("game_id")
        .agg(pl.len().alias("seen"), pl.col("date_r").max().alias("latest"), pl.col("date").first())
    )
    checked = targets.join(recount, on="game_id", how="left").with_columns(pl.col("seen").fill_null(0))
    assert (checked["home_games_season"] == checked["seen"]).all()
    assert checked.filter(pl.col("latest") >= pl.col("date")).is_empty(), "a same-day result was counted"


def test_the_boundary_check_rejects_a_row_with_a_fact_after_its_cutoff(baseline: pl.DataFrame) -> None:
    """RULE: the pipeline refuses any row whose source timestamps are later than its as_of
    (Pydantic model at the boundary). One second too late is enough, and the game is named."""
    validate_features(baseline)
    row = baseline.filter(pl.col("market_books").is_not_null()).head(1)
    late = row.with_columns(src_market_observed_at=pl.col("as_of") + pl.duration(seconds=1))
    with pytest.raises(LeakageError, match=row["game_id"].item()):
        validate_features(late)


def test_the_pipeline_runs_the_boundary_check_itself(
    real_inputs: FeatureInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RULE: the check is part of the build, not only of the tests. With the market's as-of join
    turned the wrong way round (the first snapshot AFTER the cutoff), build_features fails."""
    original = market.quotes_at_cutoff

    def forward(targets: pl.LazyFrame, snapshots: pl.LazyFrame) -> pl.LazyFrame:
        later = targets.with_columns(as_of=pl.col("as_of") + pl.duration(hours=6))
        return original(later, snapshots)

    monkeypatch.setattr(market, "quotes_at_cutoff", forward)
    some_2016 = real_inputs.games.filter(pl.col("pin_game_no").is_not_null())["game_id"].head(50).to_list()
    with pytest.raises(LeakageError, match="market fact observed"):
        build_features(real_inputs, cutoff_minutes=CUTOFF, game_ids=some_2016)


def test_same_day_results_in_two_time_zones_count_only_once_both_are_observed() -> None:
    """RULE: a state summing several results is known only when the last of them is. A team
    listed in two parks on one date (a few such data errors exist in SBRO 2013/2014/2020) must not
    carry the western result into an eastern-midnight cutoff through the eastern one."""
    nyy, lad, bos, cws = 147, 119, 111, 145
    day = date(2015, 6, 1)
    games = pl.DataFrame(
        {
            "game_id": ["a-west", "b-east", "c-next"],
            "season": [2015] * 3,
            "date": [day, day, day + timedelta(days=1)],
            "game_type": ["R"] * 3,
            "game_num": [0, 0, 0],
            "home_team_id": [lad, bos, cws],
            "away_team_id": [nyy, nyy, nyy],
            "home_score": [1, 2, 3],
            "away_score": [5, 6, 7],
        }
    )
    base = build_features(FeatureInputs(games=games), cutoff_minutes=CUTOFF, game_ids=["c-next"])
    # The western result (midnight Pacific) is after the Central-midnight cutoff of the next game.
    changed = games.with_columns(
        home_score=pl.when(pl.col("game_id") == "a-west").then(15).otherwise("home_score")
    )
    again = build_features(FeatureInputs(games=changed), cutoff_minutes=CUTOFF, game_ids=["c-next"])
    assert_same_rows(again, base, "next day's game after rewriting the western result")
    # Only the eastern result is observed by the next game's (Central) midnight cutoff.
    assert base["away_games_season"].item() == 1
    assert (
        base["src_team_observed_at"].item() is None
        or base["src_team_observed_at"].item() <= base["as_of"].item()
    )


def test_the_actual_starters_are_never_read(real_inputs: FeatureInputs, baseline: pl.DataFrame) -> None:
    """RULE: the features read the starters LISTED before the game; who actually threw the first
    pitch (the box score's starter) is known only after it. Swapped or deleted, the actual
    starters change no feature; swapping the listed ones does (control)."""
    games = real_inputs.games
    assert games["home_starter"].null_count() < games.height
    swapped = games.with_columns(home_starter=pl.col("away_starter"), away_starter=pl.col("home_starter"))
    got = build_features(replace(real_inputs, games=swapped), cutoff_minutes=CUTOFF)
    assert_same_rows(got, baseline, "features with the actual starters swapped")
    got = build_features(
        replace(real_inputs, games=games.drop("home_starter", "away_starter")), cutoff_minutes=CUTOFF
    )
    assert_same_rows(got, baseline, "features with the actual starters deleted")
    listed = games.with_columns(
        home_listed_starter=pl.col("away_listed_starter"), away_listed_starter=pl.col("home_listed_starter")
    )
    got = build_features(replace(real_inputs, games=listed), cutoff_minutes=CUTOFF)
    pitcher = [f.name for f in registry().family(Family.PITCHER)]
    assert not got.select(pitcher).equals(baseline.select(pitcher))
