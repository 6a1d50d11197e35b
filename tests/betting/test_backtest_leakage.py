"""Leakage rules of the backtest, as named tests on the real 2016 season (SBRO + Pinnacle snapshots).

The rule every test here states: **a strategy's bets may depend only on facts observed at or before
its round's as_of** -- the schedule, features built under the cutoff, the prices quoted by then and
the results of its own earlier bets once observed. A result not yet observed, a closing line and a
quote after the cutoff must not change a single bet.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from mlbedge.betting.backtest import (
    SCHEDULE_COLUMNS,
    BacktestInputs,
    ModelStrategy,
    market_snapshots,
    run_backtest,
)
from mlbedge.features.pipeline import FeatureInputs
from tests.betting.conftest import CUTOFF, POLICY, Recorder, Run2016, Season2016, build_window_features
from tests.betting.poison import poison_games, poison_lines, with_scores

POISON_FROM = date(2016, 7, 8)  # results of games from this date on are poisoned (a Friday, 15 games)
BET_KEY = ["as_of", "game_id", "market", "side", "book", "line", "odds", "stake", "probability", "edge"]


def _poisoned(season_2016: Season2016, rng: np.random.Generator) -> BacktestInputs:
    """Every closing line scrambled, every result from POISON_FROM on replaced, every Pinnacle
    snapshot after its game's cutoff re-priced, and new snapshots added after each cutoff; then the
    features rebuilt from those inputs."""
    fi: FeatureInputs = season_2016.feature_inputs
    window = season_2016.window
    games = poison_games(window, rng, POISON_FROM)
    cutoffs = (
        window.select("pin_game_no", (pl.col("start_time_utc") - pl.duration(minutes=CUTOFF)).alias("cut"))
        .drop_nulls()
        .with_columns(pl.col("pin_game_no").cast(pl.Int64))
    )
    lines = poison_lines(fi.pinnacle_lines, cutoffs, rng)
    all_games = with_scores(fi.games, games)
    # The inputs the base run was built from, games and lines poisoned: every family is rebuilt.
    poisoned_inputs = replace(fi, games=all_games, pinnacle_lines=lines)
    features = build_window_features(poisoned_inputs, window["game_id"].to_list())
    snapshots = market_snapshots(games, pinnacle_lines=lines, cutoff_minutes=CUTOFF)
    return BacktestInputs(games, features, snapshots, CUTOFF)


def test_bets_do_not_change_when_unseen_facts_are_poisoned(
    season_2016: Season2016, run_2016: Run2016
) -> None:
    """Rule: results not yet observed, closing lines and quotes after the cutoff never reach a bet.

    Poisoned: every closing line of every game; every result from POISON_FROM on; every Pinnacle
    snapshot after its game's cutoff (re-priced), plus a new absurd snapshot one second after each
    cutoff; the features rebuilt from those inputs. Every bet of every round up to and including
    POISON_FROM - its stake too - is unchanged; later bets may differ only because the bankroll
    then holds different (poisoned) results of earlier bets.
    """
    base = run_2016.result
    recorder = Recorder(ModelStrategy(season_2016.models, POLICY))
    poisoned = run_backtest(_poisoned(season_2016, np.random.default_rng(7)), recorder)

    before = pl.col("date") <= POISON_FROM
    kept_base = base.bets.filter(before).select(BET_KEY).sort("as_of", "game_id", "market", "side")
    kept_poisoned = poisoned.bets.filter(before).select(BET_KEY).sort("as_of", "game_id", "market", "side")
    assert kept_base.height >= 50, "too few bets for the test to mean anything"
    assert set(kept_base["market"]) == {"moneyline", "total", "runline"}
    assert kept_poisoned.equals(kept_base)

    # The poison reached everything it could: the CLV of the same bets, and later bets.
    clv = base.bets.filter(before).join(poisoned.bets.filter(before), on=BET_KEY, suffix="_p")
    assert (clv["clv"] != clv["clv_p"]).fill_null(True).mean() > 0.5  # type: ignore[operator]
    later = lambda r: r.bets.filter(~before).select(BET_KEY)  # noqa: E731
    assert not later(base).equals(later(poisoned))

    # And no context ever held a later quote, a score or a close.
    for context in recorder.contexts:
        assert tuple(context.games.columns) == SCHEDULE_COLUMNS
        assert context.quotes.height == 0 or context.quotes["observed_at"].max() <= context.as_of
        assert not context.quotes.filter(pl.col("price_a") == -400).height
        assert context.features.filter(pl.col("as_of") != context.as_of).is_empty()
        history = context.history
        assert history.is_empty() or history["result_observed_at"].max() <= context.as_of


def test_a_result_is_revealed_to_the_bankroll_only_once_observed(run_2016: Run2016) -> None:
    """Rule: a bet's profit enters the bankroll at the end of its game's local date, never earlier:
    a game's own round, and every round before that moment, see its stake as pending."""
    bets = run_2016.result.bets
    assert bets.height > 0
    for context in run_2016.contexts[:: max(1, len(run_2016.contexts) // 40)]:
        settled = bets.filter(pl.col("result_observed_at") <= context.as_of)
        open_ = bets.filter(
            (pl.col("as_of") < context.as_of) & (pl.col("result_observed_at") > context.as_of)
        )
        assert context.bankroll == pytest.approx(1000.0 + settled["profit"].sum())
        assert context.pending_stake == pytest.approx(open_["stake"].sum())
        # Nothing of the round's own day is settled yet.
        assert settled.filter(pl.col("date") >= context.date).is_empty()
    assert (bets["result_observed_at"] > bets["as_of"] + timedelta(hours=1)).all()
