"""The move models' inputs are known at the open: nothing observed after it can reach them.

The move targets (``close_moneyline``, ``close_total``) bet the opening price, so their inputs
must be fixed at the start of the game's local date (when the SBRO open is bettable), not at the
pre-game cutoff: no price, movement or split snapshot and no posted lineup may be among them, the
features (the player-level families included) are built as of the open
(:func:`~mlbedge.training.dataset.at_the_open`), and the close is their label only.
Same data and alterations as :mod:`tests.features.test_leakage`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from mlbedge.features.pipeline import FeatureInputs, build_features
from mlbedge.features.registry import registry
from mlbedge.training.dataset import at_the_open
from mlbedge.training.targets import (
    LABEL_SCHEMA,
    MOVE_TARGETS,
    OPEN_INPUTS,
    OPEN_TIME_SOURCES,
    label_frame,
    model_columns,
)
from tests.features.conftest import CUTOFF
from tests.features.leakage import alter_after, assert_same_rows, poison_labels
from tests.features.oracle import observation_times

EXAMPLES = settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow], phases=[Phase.generate]
)


def _inputs(features: pl.DataFrame, games: pl.DataFrame, target: str) -> pl.DataFrame:
    """The move model's input columns of these feature rows, labelled from ``games``."""
    labels = games.select(list(LABEL_SCHEMA))
    return label_frame(features, labels, target).select("game_id", *model_columns(registry().names, target))


def test_move_inputs_read_only_sources_known_at_the_open() -> None:
    """RULE: a move model's features read only open-time sources (schedule, listed starters,
    earlier days' results, parks, and the player-level facts of earlier days and seasons) and the
    opening prices; no market, movement or splits feature, no posted lineup, no label or closing
    price. Every player-level family known at the open is among them."""
    late = {"pinnacle_lines", "live_quotes", "live_splits", "posted_lineup", "sbro_open"}
    assert not OPEN_TIME_SOURCES & late
    for name in MOVE_TARGETS:
        columns = model_columns(registry().names, name)
        features = [registry().get(c) for c in columns if c not in (*OPEN_INPUTS, "target_line")]
        assert len(features) > 180, name
        assert not [f.name for f in features if set(f.sources) & late], name
        assert not set(columns) & {"y", "market_open", "market_close", "outcome", "ml_home_prob"}
        families = {f.family.value for f in features}
        assert {"starter", "availability", "bullpen", "park", "umpire"} <= families, families
        assert not families & {"market", "splits"}


@pytest.mark.parametrize("target", MOVE_TARGETS)
@EXAMPLES
@given(data=st.data())
def test_facts_observed_after_the_open_never_change_a_move_models_inputs(
    target: str, data: st.DataObject, live_inputs: FeatureInputs, live_baseline: pl.DataFrame
) -> None:
    """RULE: a move model's inputs for game G use only facts observed by the start of G's local
    date (when the open is bettable). Every fact observed after it is changed or deleted -- live
    quotes, splits and Pinnacle snapshots of G's own day, results, later opens, every closing
    line, and the player-level facts (lineups, G's own posted one included, starters, team-game
    rows, season rows) observed later -- and G's inputs stay bit-identical."""
    pool = live_baseline.filter(pl.col("market_books").is_not_null())["game_id"].sort().to_list()
    assert len(pool) > 50
    game_id = data.draw(st.sampled_from(pool), label="game")
    expected_row = live_baseline.filter(pl.col("game_id") == game_id)
    clock = observation_times(live_inputs.games, CUTOFF).filter(pl.col("game_id") == game_id)
    cut = clock["day_start"].item()
    altered = alter_after(
        live_inputs,
        cut,
        expected_row["date"].item(),
        data.draw(st.integers(0, 2**31), label="seed"),
        delete_share=data.draw(st.sampled_from([0.0, 0.3, 1.0]), label="delete share"),
        drop_later_games=data.draw(st.booleans(), label="drop later games"),
        inject=True,
        cutoff_minutes=CUTOFF,
    )
    got_row = build_features(at_the_open(altered), cutoff_minutes=CUTOFF, game_ids=[game_id])
    expected_open = build_features(at_the_open(live_inputs), cutoff_minutes=CUTOFF, game_ids=[game_id])
    assert_same_rows(
        _inputs(got_row, altered.games, target),
        _inputs(expected_open, live_inputs.games, target),
        f"{target} inputs of {game_id}",
    )


def test_at_the_open_a_late_previous_night_result_is_not_yet_known(
    live_inputs: FeatureInputs, live_baseline: pl.DataFrame
) -> None:
    """RULE: the open is the start of the local date even where the start time is known. A team
    whose previous game ended in a western park is observed after the next day's open in an
    eastern or central one: the pre-game cutoff sees that result, the open does not, so some
    team features of games with a known start differ between the two builds."""
    known = live_inputs.games.filter(pl.col("start_time_utc").is_not_null())["game_id"].sort().to_list()[:400]
    at_cutoff = live_baseline.filter(pl.col("game_id").is_in(known)).sort("game_id")
    at_open = build_features(at_the_open(live_inputs), cutoff_minutes=CUTOFF, game_ids=known).sort("game_id")
    team = [f.name for f in registry() if f.sources == ("results",)]
    a, b = at_cutoff.select(team).to_numpy(), at_open.select(team).to_numpy()
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)
    assert 0 < differ.sum() < len(known)


def test_at_the_open_a_games_own_posted_lineup_is_never_seen(
    live_inputs: FeatureInputs, live_baseline: pl.DataFrame
) -> None:
    """RULE: a game's own lineup is posted two hours before first pitch, after the open. Built at
    the open, the features that read it are null for every game -- where the start time is known
    too, whose cutoff rows do read it -- and the move models leave them out."""
    posted = [f.name for f in registry() if "posted_lineup" in f.sources]
    assert posted
    known = live_inputs.games.filter(pl.col("start_time_utc").is_not_null())["game_id"].sort().to_list()[:300]
    at_open = build_features(at_the_open(live_inputs), cutoff_minutes=CUTOFF, game_ids=known)
    at_cutoff = live_baseline.filter(pl.col("game_id").is_in(known))
    assert at_cutoff.select(posted).null_count().row(0) != tuple([len(known)] * len(posted))
    assert at_open.select(posted).null_count().row(0) == tuple([len(known)] * len(posted))
    for target in MOVE_TARGETS:
        assert not set(posted) & set(model_columns(registry().names, target))


def test_the_alterations_after_the_open_do_reach_the_cutoff_features(
    live_inputs: FeatureInputs, live_baseline: pl.DataFrame
) -> None:
    """Control: the same alterations after the open change the cutoff-time market features of
    games with live quotes, so the property above is not vacuous (those are what the move models
    leave out)."""
    pool = live_baseline.filter(pl.col("market_books").str.contains("pinnacle").fill_null(False))
    changed = 0
    for game_id in pool["game_id"].sort().to_list()[100:105]:
        expected = live_baseline.filter(pl.col("game_id") == game_id)
        cut = (
            observation_times(live_inputs.games, CUTOFF)
            .filter(pl.col("game_id") == game_id)["day_start"]
            .item()
        )
        altered = alter_after(
            live_inputs, cut, expected["date"].item(), 7, delete_share=0.0, drop_later_games=False,
            inject=True, cutoff_minutes=CUTOFF,
        )  # fmt: skip
        got = build_features(altered, cutoff_minutes=CUTOFF, game_ids=[game_id])
        changed += not got.select("ml_home_prob", "mkt_minutes_since_last_quote").equals(
            expected.select("ml_home_prob", "mkt_minutes_since_last_quote")
        )
    assert changed >= 4, f"only {changed} of 5 rows reacted to alterations after the open"


def test_the_close_is_the_move_models_label_only(real_inputs: FeatureInputs, baseline: pl.DataFrame) -> None:
    """RULE: the closing line is the move target's label, never its input: poisoning every
    closing price changes the labels and leaves every input column identical."""
    poisoned = poison_labels(real_inputs.games, np.random.default_rng(3))
    for target in MOVE_TARGETS:
        clean = label_frame(baseline, real_inputs.games.select(list(LABEL_SCHEMA)), target)
        dirty = label_frame(baseline, poisoned.select(list(LABEL_SCHEMA)), target)
        columns = model_columns(registry().names, target)
        assert_same_rows(dirty.select("game_id", *columns), clean.select("game_id", *columns), target)
        assert not dirty["y"].equals(clean["y"], null_equal=True), target
        # The label is the logit move from the de-vigged open to the de-vigged close.
        both = clean.filter(pl.col("y").is_not_null())
        p0, p1 = both["market_open"].to_numpy(), both["market_close"].to_numpy()
        expected = np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0))
        assert both.height > 1000 and np.allclose(both["y"].to_numpy(), expected)
