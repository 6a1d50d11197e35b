"""The engine: round by round, a context from the past, the strategy's bets checked, settled and measured.

:class:`ModelStrategy` itself takes the fast path of :mod:`._vectorised` (every round decided at
once but for the bankroll, the same bets to the last bit); any other strategy, and a run that
watches its rounds, is called round by round here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from mlbedge.betting.backtest._inputs import (
    SCHEDULE_COLUMNS,
    BacktestInputs,
    _quote_schema,
    closing_line_value,
    closing_quotes,
)
from mlbedge.betting.backtest._result import (
    _OPTIONAL_BET_COLUMNS,
    BET_COLUMNS,
    ROUND_SCHEMA,
    SETTLED_COLUMNS,
    SETTLED_SCHEMA,
    BacktestResult,
    BetRefused,
    settle_placed,
)
from mlbedge.betting.backtest._strategy import Context, Strategy, empty_bets
from mlbedge.betting.backtest._vectorised import plans_rounds, run_planned
from mlbedge.domain.markets import A_SIDES, B_SIDES
from mlbedge.features.asof import TIMESTAMP, game_clock
from mlbedge.features.prices import offered_quotes

# ----------------------------------------------------------------------------------------------
# the engine


def _check_bets(bets: pl.DataFrame, context: Context) -> pl.DataFrame:
    """The placed bets (stake > 0) in the history's types, after checking each against the context."""
    if bets.height == 0:  # no bets, whatever its columns
        return empty_bets()
    missing = [c for c in BET_COLUMNS if c not in bets.columns]
    if missing:
        raise BetRefused(
            f"round {context.as_of}: bets lack column(s) {missing}; they need {list(BET_COLUMNS)}"
        )
    frame = bets.select(
        *[pl.col(c).cast(SETTLED_SCHEMA[c]) for c in BET_COLUMNS],
        *[
            (pl.col(c) if c in bets.columns else pl.lit(None)).cast(SETTLED_SCHEMA[c]).alias(c)
            for c in _OPTIONAL_BET_COLUMNS
        ],
    )
    stake = pl.col("stake")
    bad = frame.with_row_index("_row").filter(~(stake.is_finite() & (stake >= 0.0)).fill_null(True))
    if bad.height:
        row = bad.row(0, named=True)
        raise BetRefused(f"round {context.as_of}: bet row {row['_row']} has stake {row['stake']!r}")
    frame = frame.filter(stake > 0.0)
    if frame.is_empty():
        return frame
    checked = frame.with_row_index("_row").join(
        context.quotes.select(
            "game_id", "book", "market", pl.col("line").alias("_q_line"), "price_a", "price_b"
        ),
        on=["game_id", "market", "book"],
        how="left",
    )
    offered_price = (
        pl.when(pl.col("side").is_in(A_SIDES)).then(pl.col("price_a"))
        .when(pl.col("side").is_in(B_SIDES)).then(pl.col("price_b"))
    )  # fmt: skip
    side_ok = (
        pl.when(pl.col("market") == "total")
        .then(pl.col("side").is_in(["over", "under"]))
        .otherwise(pl.col("side").is_in(["home", "away"]))
    )
    refused = checked.filter(
        ~(
            pl.col("price_a").is_not_null()
            & side_ok
            & pl.col("_q_line").eq_missing(pl.col("line"))
            & (offered_price == pl.col("odds"))
        ).fill_null(False)
    )
    if refused.height:
        row = refused.row(0, named=True)
        raise BetRefused(
            f"round {context.as_of}: bet row {row['_row']} ({row['game_id']} {row['market']} {row['side']} "
            f"at {row['book']}, line {row['line']}, price {row['odds']}) was not offered then"
        )
    duplicated = frame.select(pl.struct("game_id", "market", "side", "book").is_duplicated()).to_series()
    if duplicated.any():
        row = frame.row(int(duplicated.arg_true()[0]), named=True)
        raise BetRefused(
            f"round {context.as_of}: {row['game_id']} {row['market']} {row['side']} at {row['book']} bet twice"
        )
    total = float(frame["stake"].sum())
    if total > context.cash * (1.0 + 1e-9):
        raise BetRefused(
            f"round {context.as_of}: the bets stake {total:.2f} with {context.cash:.2f} at hand "
            f"(bankroll {context.bankroll:.2f}, pending {context.pending_stake:.2f})"
        )
    return frame


def _settle(placed: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """Placed bets with ``result``, ``profit`` and ``result_observed_at`` (settled from the scores)."""
    return settle_placed(placed, results).select(SETTLED_COLUMNS)


class _History:
    """The strategy's settled bets, concatenated only when a context asks for them."""

    def __init__(self, placed: list[pl.DataFrame]) -> None:
        self._placed = placed
        self._frame = pl.DataFrame(schema=SETTLED_SCHEMA)
        self._parts = 0

    def until(self, moment_us: int) -> Callable[[], pl.DataFrame]:
        def read() -> pl.DataFrame:
            if self._parts != len(self._placed):
                self._frame = pl.concat(self._placed)
                self._parts = len(self._placed)
            return self._frame.filter(pl.col("result_observed_at").dt.epoch("us") <= moment_us)

        return read


def run_backtest(
    inputs: BacktestInputs,
    strategy: Strategy,
    *,
    bankroll: float = 1000.0,
    on_round: Callable[[Context, pl.DataFrame], None] | None = None,
) -> BacktestResult:
    """Walk the season round by round: build each context from the past, take the strategy's bets,
    settle them from the results (hidden from the strategy) and measure them against the close.

    ``on_round`` (for tests and reports) sees each context and the bets accepted in it.
    """
    if not (math.isfinite(bankroll) and bankroll > 0.0):
        raise ValueError(f"the starting bankroll must be a positive amount, got {bankroll!r}")
    started = time.perf_counter()
    games = inputs.games.unique("game_id", keep="first")
    clock = game_clock(games.lazy(), inputs.cutoff_minutes).collect()
    features = inputs.features.join(games.select("game_id"), on="game_id", how="semi")
    _check_cutoff(features, clock, inputs.cutoff_minutes)
    targets = features.select("game_id", "as_of", "start_known")
    quotes = offered_quotes(targets, inputs.snapshots)
    schedule = games.join(features.select("game_id", "as_of"), on="game_id", how="inner").select(
        SCHEDULE_COLUMNS
    )
    results = games.select("game_id", "home_score", "away_score").join(
        clock.select("game_id", "result_observed_at"), on="game_id", how="left"
    )

    if on_round is None and plans_rounds(strategy):
        bets, round_frame = run_planned(strategy, schedule, features, quotes, results, bankroll)
    else:
        bets, round_frame = _walk(strategy, schedule, features, quotes, results, bankroll, on_round)
    bets = closing_line_value(bets, closing_quotes(games, inputs.snapshots))
    return BacktestResult(bets, round_frame, bankroll, time.perf_counter() - started)


def _walk(
    strategy: Strategy,
    schedule: pl.DataFrame,
    features: pl.DataFrame,
    quotes: pl.DataFrame,
    results: pl.DataFrame,
    bankroll: float,
    on_round: Callable[[Context, pl.DataFrame], None] | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Round by round: a context, the strategy's bets checked and settled; the bets and the rounds."""
    by_round = {k[0]: v for k, v in schedule.partition_by("as_of", as_dict=True, maintain_order=True).items()}
    features_by_round = {k[0]: v for k, v in features.partition_by("as_of", as_dict=True).items()}
    quotes_by_round = {k[0]: v.drop("as_of") for k, v in quotes.partition_by("as_of", as_dict=True).items()}
    empty_quotes = pl.DataFrame(schema=_quote_schema())

    placed: list[pl.DataFrame] = []
    observed_us = np.empty(0, dtype=np.int64)
    profits = np.empty(0, dtype=np.float64)
    stakes = np.empty(0, dtype=np.float64)
    rounds: list[dict[str, Any]] = []
    history = _History(placed)

    for as_of in sorted(by_round):
        round_games = by_round[as_of]
        moment = int(round_games["as_of"].dt.epoch("us")[0])
        seen = observed_us <= moment
        wealth = bankroll + float(profits[seen].sum())
        pending = float(stakes[~seen].sum())
        context = Context(
            as_of=as_of,
            date=round_games["date"][0],
            games=round_games,
            features=features_by_round.get(as_of, features.clear()),
            quotes=quotes_by_round.get(as_of, empty_quotes),
            bankroll=wealth,
            pending_stake=pending,
            _history=history.until(moment),
        )
        accepted = _check_bets(strategy(context), context) if wealth > 0 else empty_bets()
        if on_round is not None:
            on_round(context, accepted)
        if not accepted.is_empty():
            settled = _settle(
                accepted.with_columns(as_of=pl.lit(as_of).cast(TIMESTAMP), date=pl.lit(context.date)), results
            )
            placed.append(settled)
            observed_us = np.concatenate(
                [observed_us, settled["result_observed_at"].dt.epoch("us").to_numpy()]
            )
            profits = np.concatenate([profits, settled["profit"].to_numpy()])
            stakes = np.concatenate([stakes, settled["stake"].to_numpy()])
        rounds.append(
            {
                "as_of": as_of,
                "date": context.date,
                "games": round_games.height,
                "quotes": context.quotes.height,
                "bets": accepted.height,
                "staked": float(accepted["stake"].sum()) if accepted.height else 0.0,
                "bankroll": wealth,
                "pending_stake": pending,
            }
        )
    bets = pl.concat(placed) if placed else pl.DataFrame(schema=SETTLED_SCHEMA)
    return bets, pl.DataFrame(rounds, schema=ROUND_SCHEMA)


def _check_cutoff(features: pl.DataFrame, clock: pl.DataFrame, cutoff_minutes: int) -> None:
    """The feature rows must have been built for the backtest's cutoff; a row built without the
    start time (``start_known`` false: the rows at the open) for the start of the local date."""
    both = features.select("game_id", "as_of", "start_known").join(
        clock.select("game_id", "as_of", "day_start"), on="game_id", how="inner", suffix="_clock"
    )
    both = both.select(
        "game_id",
        "as_of",
        _clock=pl.when(pl.col("start_known")).then(pl.col("as_of_clock")).otherwise(pl.col("day_start")),
    )
    off = both.filter(pl.col("as_of") != pl.col("_clock"))
    if off.height:
        row = off.row(0, named=True)
        raise ValueError(
            f"the features of {row['game_id']} were built for as_of {row['as_of']}, but a cutoff of "
            f"{cutoff_minutes} min gives {row['_clock']}: rebuild the features with that cutoff"
        )
