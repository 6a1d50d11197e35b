"""The close strategy in the backtest, on the real 2016 window (SBRO opens, Pinnacle snapshots).

Move models (``close_moneyline``, ``close_total``) are trained on 2015's rows built at the open and
bet the 2016 window at the open (:func:`mlbedge.betting.backtest.at_the_open`): each game decided
at the start of its local date -- although its start time is known -- with the features built as
of then and the prices in force then. The rules, as named tests:

- a round is the start of its games' local date, and it is offered exactly the prices observed by
  then: SBRO's opening line, and Pinnacle's last quote before local midnight at its own time;
- a bet is the close rule's: its probability is the predicted close of its side (the reference open
  moved by the model's predicted move), which beats that open by more than the margin, its edge is
  the expected closing-line value at the price bet (positive), and it is settled and measured
  against the close like any bet;
- nothing observed after the open reaches a bet: every closing line, every later result, every
  Pinnacle snapshot after the start of the local date poisoned (and new ones injected), the rows at
  the open rebuilt from those inputs -- every bet up to the poisoned date is unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import numpy as np
import polars as pl
import psycopg
import pytest
from psycopg import sql

from mlbedge.betting.backtest import (
    GAMES_SCHEMA,
    BacktestInputs,
    BacktestResult,
    CloseStrategy,
    at_the_open,
    market_snapshots,
    move_probabilities,
    run_backtest,
)
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.domain.odds import american_to_decimal
from mlbedge.features.io import copy_frame
from mlbedge.features.pipeline import FeatureInputs, build_features
from mlbedge.features.registry import registry
from mlbedge.training.dataset import at_the_open as inputs_at_the_open
from mlbedge.training.targets import get_target, label_frame
from mlbedge.training.trainer import fit_target
from tests.betting.conftest import CUTOFF, LABELS, POLICY, Recorder, Season2016
from tests.betting.poison import poison_games, poison_lines, with_scores
from tests.features.oracle import observation_times

POISON_FROM = date(2016, 7, 8)
MARGIN = 0.02
# The move models learn a little from one season with few rounds; keep each a real model.
MOVE_FAST = {"num_boost_round": 400, "early_stopping_rounds": 400, "num_threads": 1, "calibration_folds": 2}
BET_KEY = ["as_of", "game_id", "market", "side", "book", "line", "odds", "stake", "probability", "edge"]


def _open_rows(inputs: FeatureInputs, game_ids: list[str]) -> pl.DataFrame:
    """Rows of ``game_ids`` built as of the start of their local date."""
    return build_features(inputs_at_the_open(inputs), cutoff_minutes=CUTOFF, game_ids=game_ids)


@dataclass
class CloseRun:
    models: dict[str, Any]
    inputs: BacktestInputs
    result: BacktestResult
    contexts: list[Any]


@pytest.fixture(scope="module")
def close_run(season_2016: Season2016, loaded_db_url: str) -> CloseRun:
    """Move models trained on 2015 at the open; the 2016 window backtested at the open with them."""
    fi = season_2016.feature_inputs
    with psycopg.connect(loaded_db_url) as conn:
        labels = copy_frame(
            conn, sql.SQL("(SELECT * FROM curated.games WHERE season = 2015) g"), GAMES_SCHEMA
        ).select(LABELS)
    train_rows = _open_rows(fi, labels["game_id"].to_list())
    models = {}
    for market, name in (("moneyline", "close_moneyline"), ("total", "close_total")):
        target = get_target(name)
        labelled = label_frame(train_rows, labels, target)
        models[market] = fit_target(labelled, target, registry().names, "test", **MOVE_FAST).to_serving()
    window_rows = _open_rows(fi, season_2016.window["game_id"].to_list())
    inputs = at_the_open(season_2016.inputs, window_rows)
    recorder = Recorder(CloseStrategy(models, POLICY, margin=MARGIN))
    result = run_backtest(inputs, recorder)
    return CloseRun(models, inputs, result, recorder.contexts)


def test_each_game_is_decided_at_the_start_of_its_local_date_with_the_prices_then(
    close_run: CloseRun,
) -> None:
    """RULE: at the open a round is the local midnight of its games, start time known or not, and
    it is offered only prices observed by then -- SBRO's open (observed at that moment) and
    Pinnacle's quote in force then, at its own earlier time; never a later quote."""
    # Each game's midnight from the independent clock (tests/features/oracle.py), not the product's.
    clock = observation_times(close_run.inputs.games, CUTOFF).select(
        "game_id", "day_start", start_known=pl.col("close_observed_at").is_not_null()
    )
    assert clock["start_known"].mean() > 0.95  # type: ignore[operator]
    books: set[str] = set()
    for context in close_run.contexts:
        day_starts = clock.filter(pl.col("game_id").is_in(context.games["game_id"].implode()))["day_start"]
        assert (day_starts == context.as_of).all(), context.as_of
        assert context.features.filter(pl.col("as_of") != context.as_of).is_empty()
        assert context.features["start_known"].not_().all()
        if context.quotes.height:
            assert context.quotes["observed_at"].max() <= context.as_of
            books |= set(context.quotes["book"].to_list())
            sbro = context.quotes.filter(pl.col("book") == "sbro")
            assert (sbro["observed_at"] == context.as_of).all()
    assert books == {"sbro", "pinnacle"}
    bets = close_run.result.bets
    assert bets.height >= 30 and "moneyline" in set(bets["market"])
    assert (bets["as_of"] < bets["result_observed_at"]).all()


def test_a_bet_is_the_close_rule_on_the_predicted_close(close_run: CloseRun) -> None:
    """RULE: every bet's probability is its side's predicted close (the game's reference open moved
    by the model's prediction at the quote's line), it beats that open by more than the margin on
    the logit scale, its edge is the expected CLV at the price bet (positive), and it is measured
    at the close."""
    checked = 0
    bets = close_run.result.bets
    for context in close_run.contexts:
        placed = bets.filter(pl.col("as_of") == context.as_of)
        if placed.is_empty():
            continue
        priced = move_probabilities(close_run.models, context.quotes, context.features)
        joined = placed.join(priced, on=["game_id", "market", "book"], how="left")
        side_a = pl.col("side").is_in(["home", "over"])
        p_close = pl.when(side_a).then(pl.col("p_a")).otherwise(1.0 - pl.col("p_a"))
        p_open = pl.when(side_a).then(pl.col("p_open_a")).otherwise(1.0 - pl.col("p_open_a"))
        rows = joined.select(
            "probability", "edge", "odds",
            p_close.alias("p_close"), p_open.alias("p_open"),
        )  # fmt: skip
        assert rows["p_close"].is_not_null().all()
        # The open is the game's reference: SBRO's de-vigged opening price, whichever book is bet.
        sbro = context.quotes.filter(pl.col("book") == "sbro").select(
            "game_id", "market", pl.col("fair_a").alias("sbro")
        )
        reference = joined.join(sbro, on=["game_id", "market"], how="left")
        assert np.allclose(reference["p_open_a"].to_numpy(), reference["sbro"].to_numpy(), rtol=0, atol=1e-12)
        assert np.allclose(rows["probability"].to_numpy(), rows["p_close"].to_numpy(), rtol=0, atol=1e-12)
        logit = lambda p: np.log(p / (1 - p))  # noqa: E731
        assert (logit(rows["p_close"].to_numpy()) - logit(rows["p_open"].to_numpy()) > MARGIN).all()
        decimal = np.asarray(american_to_decimal(rows["odds"].cast(pl.Float64).to_numpy()))
        assert np.allclose(
            rows["edge"].to_numpy(), rows["probability"].to_numpy() * decimal - 1.0, atol=1e-12
        )
        assert (rows["edge"] > 0).all()
        checked += rows.height
    assert checked == bets.height
    moneyline = bets.filter(pl.col("market") == "moneyline")
    assert moneyline["clv"].is_not_null().all() and moneyline.height > 0
    summary = close_run.result.summary(n_resamples=200)
    assert summary["all"]["n_bets"] == bets.height and summary["all"]["clv_ci"][0] is not None


def test_a_closed_gate_stops_its_market(season_2016: Season2016, close_run: CloseRun) -> None:
    """RULE: the close strategy applies each market's gate: a market whose gate failed is not bet."""
    from mlbedge.skill import Gate

    assert close_run.result.bets.filter(pl.col("market") == "moneyline").height > 0
    closed = {"moneyline": Gate("moneyline", False, "moneyline: no bet", measure="clv")}
    result = run_backtest(
        close_run.inputs, CloseStrategy(close_run.models, POLICY, margin=MARGIN, gates=closed)
    )
    assert result.bets.filter(pl.col("market") == "moneyline").is_empty()


def _poisoned(season_2016: Season2016, rng: np.random.Generator) -> BacktestInputs:
    """Every closing line and SBRO run line scrambled, every result from POISON_FROM on replaced,
    every Pinnacle snapshot after its game's local midnight re-priced, an absurd one injected a
    second after it, and the rows at the open rebuilt from those inputs. Each game's midnight comes
    from the independent clock (tests/features/oracle.py), not the product's."""
    fi = season_2016.feature_inputs
    window = season_2016.window
    games = poison_games(window, rng, POISON_FROM)
    opens = (
        window.select("game_id", "pin_game_no")
        .join(observation_times(window, CUTOFF).select("game_id", "day_start"), on="game_id")
        .drop_nulls()
        .select(pl.col("pin_game_no").cast(pl.Int64), pl.col("day_start").alias("cut"))
    )
    lines = poison_lines(fi.pinnacle_lines, opens, rng)
    all_games = with_scores(fi.games, games)
    poisoned_inputs = replace(fi, games=all_games, pinnacle_lines=lines)
    rows = _open_rows(poisoned_inputs, window["game_id"].to_list())
    snapshots = market_snapshots(games, pinnacle_lines=lines, cutoff_minutes=CUTOFF)
    return at_the_open(BacktestInputs(games, season_2016.inputs.features, snapshots, CUTOFF), rows)


def test_close_bets_do_not_change_when_facts_after_the_open_are_poisoned(
    season_2016: Season2016, close_run: CloseRun
) -> None:
    """RULE: nothing observed after a game's open reaches its bet at the open -- not its closing
    line (the move models' label), not a later result, not a Pinnacle quote after local midnight.
    Every bet up to and including POISON_FROM, stake included, is unchanged; the poison did reach
    the bets' CLV and the later bets."""
    recorder = Recorder(CloseStrategy(close_run.models, POLICY, margin=MARGIN))
    poisoned = run_backtest(_poisoned(season_2016, np.random.default_rng(11)), recorder)
    before = pl.col("date") <= POISON_FROM
    key = lambda r: r.bets.filter(before).select(BET_KEY).sort("as_of", "game_id", "market", "side")  # noqa: E731
    assert key(close_run.result).height >= 20, "too few bets for the test to mean anything"
    assert key(poisoned).equals(key(close_run.result))
    clv = close_run.result.bets.filter(before).join(
        poisoned.bets.filter(before), on=BET_KEY, suffix="_p", nulls_equal=True
    )
    assert clv.height == key(close_run.result).height
    assert (clv["clv"] != clv["clv_p"]).fill_null(True).mean() > 0.5  # type: ignore[operator]
    later = lambda r: r.bets.filter(~before).select(BET_KEY)  # noqa: E731
    assert not later(close_run.result).equals(later(poisoned))
    for context in recorder.contexts:
        assert not context.quotes.filter(pl.col("price_a") == -400).height


def test_kelly_sizes_on_the_predicted_close_within_the_caps(close_run: CloseRun) -> None:
    """The stakes are the staking policy's: no bet above the per-bet cap of the round's bankroll,
    no round above the exposure cap."""
    policy: StakingPolicy = POLICY
    rounds = close_run.result.rounds.select("as_of", "bankroll", "staked", "bets")
    bets = close_run.result.bets.join(rounds, on="as_of", how="left")
    assert (bets["stake"] <= policy.max_stake_per_bet * bets["bankroll"] + policy.stake_unit).all()
    busy = rounds.filter(pl.col("bets") > 0)
    assert busy.height > 10
    assert (busy["staked"] <= policy.max_exposure * busy["bankroll"] + 1e-6).all()
