"""The engine's fast path for :class:`ModelStrategy`: every round decided at once, but for the bankroll.

The model strategy's bets in a round read the bankroll in one step only, the last one of sizing:
the exposure cap (lowered by what earlier rounds still have at stake) and the rounding of each stake
to a whole number of units, both in currency. Everything before that step reads only the round's
quotes and features: the model's probability at every offered quote, both sides' edges, the best
book per side, the side chosen per market, the slate's simultaneous Kelly fractions, the per-bet and
per-game caps. And a bet's result (win, loss, push, void) and the moment it is observed come from the
final score alone.

So this path computes all of that for every round of the season in a handful of frame operations,
with the very functions the round-by-round path calls (:func:`model_probabilities`,
:meth:`BetRule.candidates`, :meth:`BetRule.best_prices`' order -- a round where two sides that may
be bet tie on edge and book is built from its own frame as that path builds it, since the rule's
sort leaves such ties in the order it finds them --, :func:`screen_slate`,
:func:`slate_kelly` -- one solve per slate of several bets; a slate of one bet is closed form --,
:func:`cap_slate`, :func:`settle_frame`), and then walks the rounds in order with numpy alone: the
bankroll and the pending stake at the round's start (the same sums over the same arrays as the
round-by-round path), the room under the exposure cap, the stakes (:func:`slate_stakes`) and each
accepted bet's profit. Games never share a round, and every step before the stakes compares rows of
one game only or of one slate in its own order, so the numbers are the round-by-round path's to the
last bit (``tests/betting/test_backtest_vectorised.py`` compares the two on a real season). A
strategy of any other kind, or a run that watches its rounds (``on_round``), takes that path.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeGuard

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.betting.backtest._result import (
    _OPTIONAL_BET_COLUMNS,
    BET_COLUMNS,
    ROUND_SCHEMA,
    SETTLED_COLUMNS,
    SETTLED_SCHEMA,
    BetRefused,
    settle_placed,
)
from mlbedge.betting.backtest._strategy import ModelStrategy, model_probabilities
from mlbedge.betting.kelly import cap_slate, screen_slate, single_kelly, slate_kelly, slate_stakes
from mlbedge.betting.settlement import Result
from mlbedge.betting.strategy import exposure_limit

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
# A side whose edge is this close to the minimum counts as one that may be bet when looking for
# ties (the staking policy recomputes the edge, which may differ in the last bits).
_TIE_SLACK = 1e-9


def plans_rounds(strategy: object) -> TypeGuard[ModelStrategy]:
    """Whether ``strategy`` is exactly :class:`ModelStrategy` (a subclass may bet otherwise)."""
    return type(strategy) is ModelStrategy


def _round_table(schedule: pl.DataFrame, quotes: pl.DataFrame) -> pl.DataFrame:
    """One row per round in time order: ``as_of``, the round's ``date`` (its first game's), the
    number of ``games`` and of ``quotes`` offered, and ``moment`` (``as_of`` in epoch microseconds)."""
    offered = quotes.group_by("as_of").agg(pl.len().cast(pl.Int64).alias("quotes"))
    return (
        schedule.group_by("as_of", maintain_order=True)
        .agg(pl.col("date").first(), pl.len().cast(pl.Int64).alias("games"))
        .join(offered, on="as_of", how="left", maintain_order="left")
        .with_columns(pl.col("quotes").fill_null(0), moment=pl.col("as_of").dt.epoch("us"))
        .sort("as_of", maintain_order=True)
    )


def _slates(
    strategy: ModelStrategy, schedule: pl.DataFrame, features: pl.DataFrame, quotes: pl.DataFrame
) -> pl.DataFrame:
    """Every round's slate as :meth:`BetRule.decide` hands it to the staking policy, screened: the
    best price per side, in time order and within a round in the rule's order, of the rounds where
    some side clears the minimum edge."""
    rule = strategy.rule
    priced = model_probabilities(strategy.models, quotes, features)
    rounds = schedule.select("game_id", "as_of").unique("game_id", keep="first")
    priced = priced.join(rounds, on="game_id", how="left", maintain_order="left")
    sides = rule.candidates(priced)
    if sides.is_empty():
        return screen_slate(sides.drop("edge", "observed_at"), rule.policy)
    floor = max(rule.policy.min_edge, 0.0)
    worth = sides.group_by("as_of").agg((pl.col("edge") > floor).any().alias("worth")).filter("worth")
    best = (
        sides.filter(pl.col("as_of").is_in(worth["as_of"].implode()))
        .sort(["as_of", "edge", "book"], descending=[False, True, False], maintain_order=True)
        .unique(["game_id", "market", "side"], keep="first", maintain_order=True)
    )
    # The rule orders a slate by edge and book only. Where two sides that may be bet share both,
    # the order they reach the staking policy in (simultaneous Kelly's input, the bets' order) is
    # whatever the rule's sort leaves them in for that round's own frame: such a round is built
    # exactly as the round-by-round path builds it.
    eligible = best.filter(pl.col("edge") > floor - _TIE_SLACK)
    tied = eligible.filter(pl.struct("as_of", "edge", "book").is_duplicated())["as_of"].unique().sort()
    if tied.len():
        columns = best.columns
        rebuilt = [
            _round_slate(strategy, quotes, features, as_of).select(columns) for as_of in tied.to_list()
        ]
        best = pl.concat([best.filter(~pl.col("as_of").is_in(tied.implode())), *rebuilt]).sort(
            "as_of", maintain_order=True
        )
    return screen_slate(best.drop("edge", "observed_at"), rule.policy)


def _round_slate(
    strategy: ModelStrategy, quotes: pl.DataFrame, features: pl.DataFrame, as_of: datetime
) -> pl.DataFrame:
    """One round's best prices, from that round's own quotes and features, as the strategy
    builds them when called for the round."""
    moment = pl.lit(as_of).cast(quotes.schema["as_of"])
    priced = model_probabilities(
        strategy.models,
        quotes.filter(pl.col("as_of") == moment).drop("as_of"),
        features.filter(pl.col("as_of") == moment),
    )
    best = strategy.rule.best_prices(strategy.rule.candidates(priced))
    return best.with_columns(as_of=moment)


def _kelly(slates: pl.DataFrame, starts: IntArray, strategy: ModelStrategy) -> FloatArray:
    """The full Kelly fraction of every chosen bet, each slate solved on its own bets in its order."""
    policy = strategy.rule.policy
    full = np.zeros(slates.height)
    chosen = slates["reason"].is_null().to_numpy()
    if not chosen.any():
        return full
    probability = slates["probability"].cast(pl.Float64).to_numpy()
    odds = slates["odds"].cast(pl.Float64).to_numpy()
    if policy.method != "simultaneous":  # each bet's own Kelly: element by element
        full[chosen] = slate_kelly(probability[chosen], odds[chosen], policy)
        return full
    round_of = np.repeat(np.arange(starts.size - 1), np.diff(starts))
    per_slate = np.bincount(round_of[chosen], minlength=starts.size - 1)
    alone = chosen & (per_slate[round_of] == 1)  # one bet: the closed form simultaneous Kelly returns for it
    full[alone] = single_kelly(probability[alone], odds[alone])
    for k in np.flatnonzero(per_slate >= 2):
        rows = starts[k] + np.flatnonzero(chosen[starts[k] : starts[k + 1]])
        full[rows] = slate_kelly(probability[rows], odds[rows], policy)
    return full


def run_planned(
    strategy: ModelStrategy,
    schedule: pl.DataFrame,
    features: pl.DataFrame,
    quotes: pl.DataFrame,
    results: pl.DataFrame,
    bankroll: float,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The settled bets (:data:`SETTLED_COLUMNS`) and the rounds of a model strategy's backtest.

    ``schedule``, ``features``, ``quotes`` (offered, with the round's ``as_of``) and ``results``
    (``game_id, home_score, away_score, result_observed_at``) are the engine's, as the
    round-by-round path reads them.
    """
    policy = strategy.rule.policy
    table = _round_table(schedule, quotes)
    slates = _slates(strategy, schedule, features, quotes)
    index = table.select("as_of").with_row_index("_round")
    slates = slates.join(index, on="as_of", how="left", maintain_order="left")
    round_of = slates["_round"].cast(pl.Int64).to_numpy()
    starts = np.searchsorted(round_of, np.arange(table.height + 1)).astype(np.int64)
    capped = cap_slate(slates, _kelly(slates, starts, strategy), policy)["capped"].to_numpy()

    # Every row's result from the final score, for a stake of one unit.
    outcome = settle_placed(
        slates.select("game_id", "market", "side", "line", "odds", stake=pl.lit(1.0)), results
    )
    unit_profit = outcome["profit"].to_numpy()
    won = (outcome["result"] == Result.WIN.value).to_numpy()
    lost = (outcome["result"] == Result.LOSS.value).to_numpy()
    observed = outcome["result_observed_at"].dt.epoch("us").to_numpy()

    moments = table["moment"].to_numpy()
    placed_rows = np.empty(slates.height, dtype=np.int64)
    observed_us = np.empty(slates.height, dtype=observed.dtype)
    profits = np.empty(slates.height, dtype=np.float64)
    stakes = np.empty(slates.height, dtype=np.float64)
    n = 0
    staked = np.zeros(table.height)
    counts = np.zeros(table.height, dtype=np.int64)
    wealths = np.empty(table.height)
    pendings = np.empty(table.height)
    for r in range(table.height):
        # The bankroll at the round's start: the same sums, over the same arrays in the same order,
        # as the round-by-round path.
        seen = observed_us[:n] <= moments[r]
        wealth = bankroll + float(profits[:n][seen].sum())
        pending = float(stakes[:n][~seen].sum())
        wealths[r], pendings[r] = wealth, pending
        lo, hi = starts[r], starts[r + 1]
        if wealth <= 0 or lo == hi:
            continue
        limit = exposure_limit(policy.max_exposure, wealth, pending)
        if limit is None:
            continue
        stake = slate_stakes(capped[lo:hi], wealth, limit, policy.stake_unit)
        accepted = np.flatnonzero(stake > 0.0)
        if not accepted.size:
            continue
        stake = stake[accepted]
        total = float(np.add.accumulate(stake)[-1])
        if total > (wealth - pending) * (1.0 + 1e-9):  # as the engine checks any strategy's bets
            raise BetRefused(
                f"round {table['as_of'][r]}: the bets stake {total:.2f} with {wealth - pending:.2f} at hand"
            )
        rows = lo + accepted
        m = n + rows.size
        placed_rows[n:m] = rows
        observed_us[n:m] = observed[rows]
        profits[n:m] = np.where(won[rows], stake * unit_profit[rows], np.where(lost[rows], -stake, 0.0))
        stakes[n:m] = stake
        n = m
        staked[r], counts[r] = total, rows.size
    bets = _settled_bets(slates, placed_rows[:n], stakes[:n], table, round_of, results)
    if not np.array_equal(bets["profit"].to_numpy(), profits[:n]):
        raise RuntimeError("the settled profits differ from those the bankroll was walked with")
    rounds = table.select(
        "as_of",
        "date",
        "games",
        "quotes",
        bets=pl.Series(counts),
        staked=pl.Series(staked),
        bankroll=pl.Series(wealths),
        pending_stake=pl.Series(pendings),
    ).cast(ROUND_SCHEMA)
    return bets, rounds


def _settled_bets(
    slates: pl.DataFrame,
    rows: IntArray,
    stakes: FloatArray,
    table: pl.DataFrame,
    round_of: IntArray,
    results: pl.DataFrame,
) -> pl.DataFrame:
    """The accepted rows as the engine's settled bets, in the order they were placed."""
    if not rows.size:
        return pl.DataFrame(schema=SETTLED_SCHEMA)
    dates = table["date"].gather(round_of[rows])
    placed = slates[rows].with_columns(stake=pl.Series(stakes), date=dates)
    placed = placed.select(
        pl.col("as_of").cast(SETTLED_SCHEMA["as_of"]),
        pl.col("date").cast(SETTLED_SCHEMA["date"]),
        *[pl.col(c).cast(SETTLED_SCHEMA[c]) for c in (*BET_COLUMNS, *_OPTIONAL_BET_COLUMNS)],
    )
    return settle_placed(placed, results).select(SETTLED_COLUMNS)
