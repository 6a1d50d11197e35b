"""Settling bets from final scores: moneyline, total and run line, at American prices.

Each bet is a side of a market of one game, a stake in currency and an American price:

- ``moneyline``: side ``home`` or ``away``; the side that scores more runs wins. A final recorded as
  a tie (a called or suspended game) has no winner, so the bet is a push and the stake comes back.
- ``total``: side ``over`` or ``under`` of ``line``, the quoted total; runs equal to the total is a push.
- ``runline``: side ``home`` or ``away`` with ``line`` the handicap **of the side bet on** (home -1.5
  is ``line = -1.5``, away +1.5 is ``line = 1.5``). The side wins when its run margin plus ``line``
  is positive. Half-run handicaps (±1.5, ±2.5) cannot push; whole-run ones push on a tie.

A game without a result (postponed, cancelled, no score recorded) is **no action**: result ``void``,
the stake returned. A win earns ``stake * profit_per_unit(odds)`` (+130 pays 1.30 per unit, -150 pays
0.667), a loss costs the stake, a push or void earns nothing. Profit is in the stake's currency.

:func:`settle` is the scalar reference; :func:`settle_frame` does the same for a Polars frame of bets
with expressions and must agree with it row by row (a property test holds them together).
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import NamedTuple

import numpy as np
import polars as pl

from mlbedge.domain.markets import MARKET_SIDES
from mlbedge.domain.odds import profit_per_unit


class Result(StrEnum):
    """How a bet ended."""

    WIN = "win"
    LOSS = "loss"
    PUSH = "push"
    VOID = "void"


SETTLE_COLUMNS = ("market", "side", "stake", "odds", "home_score", "away_score")


class Settlement(NamedTuple):
    """The result of one bet and its profit in currency (negative for a loss)."""

    result: Result
    profit: float


def _missing(score: float | None) -> bool:
    return score is None or (isinstance(score, float) and math.isnan(score))


def settle(
    market: str,
    side: str,
    stake: float,
    odds: float,
    home_score: float | None,
    away_score: float | None,
    line: float | None = None,
    *,
    no_action: bool = False,
) -> Settlement:
    """Settle one bet from the final score (``None`` or NaN scores: no action, stake returned).

    ``line`` is the total for ``total`` bets and the handicap of the side bet on for ``runline``
    bets; moneyline bets ignore it. ``no_action`` voids the bet whatever the score says.
    """
    sides = MARKET_SIDES.get(market)
    if sides is None:
        raise ValueError(f"unknown market {market!r}; expected one of {', '.join(MARKET_SIDES)}")
    if side not in sides:
        raise ValueError(f"a {market} bet is on {' or '.join(sides)}, not {side!r}")
    if not (math.isfinite(stake) and stake >= 0.0):
        raise ValueError(f"stake must be a finite amount >= 0, got {stake!r}")
    payout = float(profit_per_unit(odds))  # an impossible price raises, naming it
    if market != "moneyline" and (line is None or not math.isfinite(line)):
        raise ValueError(
            f"a {market} bet needs its line (the {'total' if market == 'total' else 'handicap'})"
        )
    if no_action or _missing(home_score) or _missing(away_score):
        return Settlement(Result.VOID, 0.0)
    assert home_score is not None and away_score is not None
    if market == "total":
        assert line is not None
        runs = home_score + away_score
        if runs == line:
            return Settlement(Result.PUSH, 0.0)
        won = runs > line if side == "over" else runs < line
    else:
        mine, theirs = (home_score, away_score) if side == "home" else (away_score, home_score)
        handicap = 0.0 if market == "moneyline" else line
        assert handicap is not None
        margin = mine + handicap - theirs
        if margin == 0:
            return Settlement(Result.PUSH, 0.0)
        won = margin > 0
    return Settlement(Result.WIN, float(stake) * payout) if won else Settlement(Result.LOSS, -float(stake))


def _first_bad(frame: pl.DataFrame, bad: pl.Expr, field: str, rule: str) -> None:
    """Raise naming the first row where ``bad`` holds, the field and its value."""
    offenders = frame.with_row_index("_row").filter(bad.fill_null(True))
    if offenders.height:
        row = offenders.row(0, named=True)
        raise ValueError(
            f"bet row {row['_row']} ({row['market']} {row['side']}): {field} {row[field]!r} {rule}"
        )


def settle_frame(bets: pl.DataFrame) -> pl.DataFrame:
    """Settle a frame of bets: adds ``result`` (a :class:`Result` value) and ``profit`` (currency).

    Columns: ``market``, ``side``, ``stake``, ``odds`` (American), ``home_score``, ``away_score``
    (null or NaN: no action), ``line`` (needed when any bet is a total or run line) and optionally
    ``no_action`` (true voids the bet). Other columns pass through. A malformed bet raises naming
    its row, the field and the value.
    """
    missing = [c for c in SETTLE_COLUMNS if c not in bets.columns]
    if missing:
        raise ValueError(
            f"bets are missing column(s) {', '.join(missing)}; they need {', '.join(SETTLE_COLUMNS)}"
        )
    clashing = [c for c in ("result", "profit") if c in bets.columns]
    if clashing:
        raise ValueError(f"bets already have column(s) {', '.join(clashing)}, which settlement adds")
    market, side = pl.col("market"), pl.col("side")
    _first_bad(bets, ~market.is_in(list(MARKET_SIDES)), "market", f"is not one of {', '.join(MARKET_SIDES)}")
    over_under = side.is_in(["over", "under"])
    two_way = ((market == "total") & over_under) | ((market != "total") & side.is_in(["home", "away"]))
    _first_bad(bets, ~two_way, "side", "is not a side of that market")
    stake = pl.col("stake").cast(pl.Float64)
    _first_bad(bets, ~(stake.is_finite() & (stake >= 0.0)), "stake", "must be a finite amount >= 0")
    odds = pl.col("odds").cast(pl.Float64)
    _first_bad(bets, ~(odds.is_finite() & (odds.abs() >= 100.0)), "odds", "are not a possible American price")
    needs_line = market != "moneyline"
    has_line = "line" in bets.columns
    if has_line:
        line = pl.col("line").cast(pl.Float64)
        _first_bad(bets, needs_line & ~line.is_finite().fill_null(False), "line", "is needed for this market")
    elif bets.select(needs_line.any()).item():
        raise ValueError("bets include totals or run lines but have no 'line' column")
    line = pl.col("line").cast(pl.Float64) if has_line else pl.lit(0.0)

    home = pl.col("home_score").cast(pl.Float64)
    away = pl.col("away_score").cast(pl.Float64)
    void = home.is_null() | away.is_null() | home.is_nan() | away.is_nan()
    if "no_action" in bets.columns:
        void = void | pl.col("no_action").fill_null(False)
    margin = pl.when(side == "home").then(home - away).otherwise(away - home)
    # One number per bet whose sign settles it: positive wins, zero pushes, negative loses.
    score = (
        pl.when(market == "moneyline")
        .then(margin)
        .when(market == "runline")
        .then(margin + line)
        .when(side == "over")
        .then(home + away - line)
        .otherwise(line - home - away)
    )
    result = (
        pl.when(void)
        .then(pl.lit(Result.VOID.value))
        .when(score > 0.0)
        .then(pl.lit(Result.WIN.value))
        .when(score < 0.0)
        .then(pl.lit(Result.LOSS.value))
        .otherwise(pl.lit(Result.PUSH.value))
    )
    per_unit = np.asarray(profit_per_unit(bets["odds"].cast(pl.Float64).to_numpy()), dtype=np.float64)
    settled = bets.with_columns(result=result, _per_unit=pl.Series(per_unit))
    profit = (
        pl.when(pl.col("result") == Result.WIN.value)
        .then(stake * pl.col("_per_unit"))
        .when(pl.col("result") == Result.LOSS.value)
        .then(-stake)
        .otherwise(0.0)
    )
    return settled.with_columns(profit=profit).drop("_per_unit")
