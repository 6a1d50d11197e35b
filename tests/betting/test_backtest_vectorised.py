"""The engine's fast path for the model strategy (every round decided at once but for the bankroll)
against the round-by-round path, on the real 2016 window: the same bets and rounds to the last bit.

The round-by-round path is the reference: the leakage tests run it with every context recorded.
Wrapping the strategy in a plain function sends a run down that path; the model strategy itself
takes the fast one.
"""

from __future__ import annotations

from datetime import date

import polars as pl
from polars.testing import assert_frame_equal

from mlbedge.betting.backtest import BacktestInputs, BacktestResult, Context, ModelStrategy, run_backtest
from mlbedge.betting.backtest._vectorised import plans_rounds
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.skill import Gate
from tests.betting.conftest import POLICY, Run2016, Season2016


def _same(fast: BacktestResult, reference: BacktestResult) -> None:
    assert_frame_equal(fast.bets, reference.bets, check_exact=True)
    assert_frame_equal(fast.rounds, reference.rounds, check_exact=True)


def test_only_the_model_strategy_itself_takes_the_fast_path(season_2016: Season2016) -> None:
    """A subclass may bet otherwise, and a plain function is opaque: both go round by round."""

    class Tweaked(ModelStrategy):
        def __call__(self, context: Context) -> pl.DataFrame:
            return super().__call__(context).head(1)

    strategy = ModelStrategy(season_2016.models, POLICY)
    assert plans_rounds(strategy)
    assert not plans_rounds(Tweaked(season_2016.models, POLICY))
    assert not plans_rounds(lambda context: strategy(context))


def test_fast_path_places_the_round_by_round_bets(season_2016: Season2016, run_2016: Run2016) -> None:
    """The small models on the 2016 window, stakes to the cent (every bankroll difference shows):
    every bet (stake, price, probability, edge, result, profit, CLV) and every round's bankroll
    and pending stake equal the recorded round-by-round run's."""
    fast = run_backtest(season_2016.inputs, ModelStrategy(season_2016.models, POLICY))
    reference = run_2016.result
    assert reference.bets.height >= 100 and set(reference.bets["market"]) == {"moneyline", "total", "runline"}
    # Rounds where earlier bets of the day were still pending: the exposure cap was lowered.
    assert (reference.rounds["pending_stake"] > 0).sum() >= 20
    _same(fast, reference)


def test_fast_path_with_gates_independent_kelly_and_a_tight_cap(season_2016: Season2016) -> None:
    """Gates (one market closed, one blended with the price), capped edges, each bet's own Kelly and
    a 5% exposure cap that pending stakes fill: still the round-by-round bets to the last bit."""
    gates = {
        "moneyline": Gate("moneyline", True, "test", weight=0.6),
        "total": Gate("total", True, "test", weight=1.0),
        "runline": Gate("runline", False, "test"),
    }
    policy = StakingPolicy(method="independent", max_exposure=0.05, stake_unit=0.01, min_edge=0.01)
    strategy = ModelStrategy(season_2016.models, policy, gates=gates, max_edge=0.04)
    whole = season_2016.inputs
    first_weeks = whole.games.filter(pl.col("date") <= date(2016, 7, 6))  # half the window: quicker
    inputs = BacktestInputs(
        first_weeks,
        whole.features.join(first_weeks.select("game_id"), on="game_id", how="semi"),
        whole.snapshots.join(first_weeks.select("game_id"), on="game_id", how="semi"),
        whole.cutoff_minutes,
    )
    fast = run_backtest(inputs, strategy)
    reference = run_backtest(inputs, lambda context: strategy(context))
    assert reference.bets.height >= 50 and set(reference.bets["market"]) == {"moneyline", "total"}
    assert (
        reference.rounds["pending_stake"] + reference.rounds["staked"]
        >= 0.0499 * reference.rounds["bankroll"]
    ).any()
    _same(fast, reference)


def test_fast_path_bankroll_sees_only_observed_results(season_2016: Season2016) -> None:
    """Each round's bankroll is the start plus the profit of bets observed by its as_of; what is
    pending is the stake of earlier bets not yet observed."""
    result = run_backtest(season_2016.inputs, ModelStrategy(season_2016.models, POLICY))
    bets = result.bets
    for r in result.rounds.iter_rows(named=True):
        observed = bets.filter(pl.col("result_observed_at") <= r["as_of"])
        pending = bets.filter((pl.col("as_of") < r["as_of"]) & (pl.col("result_observed_at") > r["as_of"]))
        assert abs(r["bankroll"] - (1000.0 + observed["profit"].sum())) < 1e-6
        assert abs(r["pending_stake"] - pending["stake"].sum()) < 1e-6
