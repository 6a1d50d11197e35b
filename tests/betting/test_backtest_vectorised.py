"""The engine's fast path for the model strategy (every round decided at once but for the bankroll)
against the round-by-round path, on the real 2016 window: the same bets and rounds to the last bit.

The round-by-round path is the reference: the leakage tests run it with every context recorded.
Wrapping the strategy in a plain function sends a run down that path; the model strategy itself
takes the fast one.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl
import psycopg
from polars.testing import assert_frame_equal
from psycopg import sql

from mlbedge.betting.backtest import (
    GAMES_SCHEMA,
    BacktestInputs,
    BacktestResult,
    Context,
    ModelStrategy,
    market_snapshots,
    run_backtest,
)
from mlbedge.betting.backtest._vectorised import plans_rounds
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.features.io import copy_frame
from mlbedge.skill import Gate
from tests.betting.conftest import CUTOFF, POLICY, Run2016, Season2016, build_window_features


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


def _first_weeks(whole: BacktestInputs) -> BacktestInputs:
    """The window's first half (quicker to bet round by round)."""
    games = whole.games.filter(pl.col("date") <= date(2016, 7, 6))
    return BacktestInputs(
        games,
        whole.features.join(games.select("game_id"), on="game_id", how="semi"),
        whole.snapshots.join(games.select("game_id"), on="game_id", how="semi"),
        whole.cutoff_minutes,
    )


class _Constant:
    """A model giving every game the same probability: sides offered at the same price by the
    same book then tie on edge and book, and the order the rule leaves them in is the only one."""

    def __init__(self, feature_names: list[str]) -> None:
        self.feature_names = feature_names

    def predict_many(self, x: npt.ArrayLike) -> npt.NDArray[np.float64]:
        return np.full(np.asarray(x).shape[0], 0.56)


def test_fast_path_keeps_the_rules_order_of_tied_sides(season_2016: Season2016, loaded_db_url: str) -> None:
    """A week of 2015 (no start times: one round per date and home time zone, a dozen games each,
    every price SBRO's open) with every home side and every over at 0.56: slates hold many bets at
    the same edge and book, and simultaneous Kelly sizes them in the order the rule's sort left
    them in for the round. The fast path places the same bets in the same order, to the cent."""
    with psycopg.connect(loaded_db_url) as conn:
        games = copy_frame(
            conn,
            sql.SQL("(SELECT * FROM curated.games WHERE date BETWEEN %s AND %s) g"),
            GAMES_SCHEMA,
            [date(2015, 7, 6), date(2015, 7, 12)],
        ).sort("date", "game_id")
    assert games["start_time_utc"].null_count() == games.height
    features = build_window_features(season_2016.feature_inputs, games["game_id"].to_list())
    inputs = BacktestInputs(games, features, market_snapshots(games, cutoff_minutes=CUTOFF), CUTOFF)
    models = {"moneyline": _Constant(["ml_home_prob"]), "total": _Constant(["total_line", "target_line"])}
    strategy = ModelStrategy(models, POLICY)
    fast = run_backtest(inputs, strategy)
    reference = run_backtest(inputs, lambda context: strategy(context))
    tied = reference.bets.filter(pl.struct("as_of", "edge", "book").is_duplicated())
    assert tied["as_of"].n_unique() >= 5, "no round with tied bets: the test would not test the ties"
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
    inputs = _first_weeks(season_2016.inputs)
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
