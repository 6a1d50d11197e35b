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

POISON_FROM = date(2016, 7, 8)  # results of games from this date on are poisoned (a Friday, 15 games)
BET_KEY = ["as_of", "game_id", "market", "side", "book", "line", "odds", "stake", "probability", "edge"]


def _poisoned(season_2016: Season2016, rng: np.random.Generator) -> BacktestInputs:
    """Every closing line scrambled, every result from POISON_FROM on replaced, every Pinnacle
    snapshot after its game's cutoff re-priced, and new snapshots added after each cutoff; then the
    features rebuilt from those inputs."""
    fi: FeatureInputs = season_2016.feature_inputs
    window = season_2016.window
    n = window.height
    late = pl.col("date") >= POISON_FROM
    games = window.with_columns(
        home_ml_close=pl.Series(rng.choice([-250, -120, 110, 240], n)),
        away_ml_close=pl.Series(rng.choice([-230, -105, 115, 210], n)),
        total_close=pl.Series(rng.choice([6.5, 7.0, 11.5], n)),
        over_odds_close=pl.Series(rng.choice([-140, 120], n)),
        under_odds_close=pl.Series(rng.choice([-140, 120], n)),
        home_rl=pl.Series(rng.choice([-1.5, 1.5], n)),
        home_rl_odds=pl.Series(rng.choice([-200, 170], n)),
        away_rl_odds=pl.Series(rng.choice([-190, 160], n)),
        home_score=pl.when(late).then(pl.Series(rng.integers(0, 15, n))).otherwise(pl.col("home_score")),
        away_score=pl.when(late).then(pl.Series(rng.integers(0, 15, n))).otherwise(pl.col("away_score")),
    )
    cutoffs = (
        window.select("pin_game_no", (pl.col("start_time_utc") - pl.duration(minutes=CUTOFF)).alias("cut"))
        .drop_nulls()
        .with_columns(pl.col("pin_game_no").cast(pl.Int64))
    )
    lines = fi.pinnacle_lines.join(cutoffs, on="pin_game_no", how="left")
    after = pl.col("cut").is_not_null() & (pl.col("observed_at") > pl.col("cut"))
    m = lines.height
    lines = lines.with_columns(
        home_ml=pl.when(after).then(pl.Series(rng.choice([-300, 250], m))).otherwise(pl.col("home_ml")),
        away_ml=pl.when(after).then(pl.Series(rng.choice([260, -280], m))).otherwise(pl.col("away_ml")),
        total=pl.when(after).then(pl.lit(12.5)).otherwise(pl.col("total")),
        away_rl_odds=pl.when(after).then(pl.lit(-300)).otherwise(pl.col("away_rl_odds")),
    )
    extra = (
        cutoffs.with_columns(observed_at=pl.col("cut") + pl.duration(seconds=1))
        .join(fi.pinnacle_lines.group_by("pin_game_no").agg(pl.all().last()), on="pin_game_no", how="inner")
        .with_columns(home_ml=pl.lit(-400), away_ml=pl.lit(320), total=pl.lit(3.5))
    )
    lines = pl.concat([lines.drop("cut"), extra.select(lines.drop("cut").columns)], how="vertical_relaxed")
    all_games = fi.games.join(games.select("game_id", "home_score", "away_score"), on="game_id", how="left")
    all_games = all_games.with_columns(
        home_score=pl.coalesce("home_score_right", "home_score"),
        away_score=pl.coalesce("away_score_right", "away_score"),
    ).drop("home_score_right", "away_score_right")
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
