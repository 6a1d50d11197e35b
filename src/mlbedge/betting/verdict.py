"""What a person reads first about a backtest, and its bets as a bettor would write them down.

:func:`verdict` is one line: staked, profit, ROI with its interval, closing-line value, maximum
drawdown and the combined bankroll — or ``no bets: <reason>`` (the markets the skill gate stopped,
with its reasons, or that no offered price had an edge). :func:`bets_list` is the bets of a
backtest with each side's OWN line as offered (the away run line is minus the home handicap the
price tables keep) and the bet written out, e.g. ``ATL +1.5 -131`` or ``Under 7.5 -105``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

SIDE_LINE_COLUMNS = ("market", "side", "line")


def own_line(market: str = "market", side: str = "side", line: str = "line") -> pl.Expr:
    """The line of the side bet on, from the home-handicap form of the price tables."""
    flip = (pl.col(market) == "runline") & (pl.col(side) == "away")
    return pl.when(flip).then(-pl.col(line)).otherwise(pl.col(line))


def _signed(value: pl.Expr) -> pl.Expr:
    text = value.cast(pl.Int64).cast(pl.String)
    return pl.when(value > 0).then(pl.lit("+") + text).otherwise(text)


def _number(value: pl.Expr) -> pl.Expr:
    # As offered: 7.75 stays 7.75, 8.0 is 8, and nothing is rounded to one decimal.
    return value.cast(pl.String).str.replace(r"\.0$", "")


def bet_words(line_column: str = "own_line") -> pl.Expr:
    """``ATL +1.5 -131``, ``Under 7.5 -105``, ``PHI ML +120``: needs ``market, side, odds,
    home_team, away_team`` and the side's own line in ``line_column``."""
    team = pl.when(pl.col("side") == "home").then(pl.col("home_team")).otherwise(pl.col("away_team"))
    line = pl.col(line_column)
    runline = pl.concat_str(
        [team, pl.lit(" "), pl.when(line > 0).then(pl.lit("+")).otherwise(pl.lit("")), _number(line)]
    )
    total = pl.concat_str([pl.col("side").str.to_titlecase(), pl.lit(" "), _number(line)])
    moneyline = pl.concat_str([team, pl.lit(" ML")])
    what = (
        pl.when(pl.col("market") == "runline")
        .then(runline)
        .when(pl.col("market") == "total")
        .then(total)
        .otherwise(moneyline)
    )
    return pl.concat_str([what, pl.lit(" "), _signed(pl.col("odds"))])


def describe_bets(bets: pl.DataFrame, games: pl.DataFrame | None = None) -> pl.DataFrame:
    """``bets`` (``game_id, market, side, line`` in the price tables' home-handicap form, ``odds``)
    with ``own_line`` (the line of the side bet on) and ``bet`` in words; the teams come from
    ``games`` (``game_id, home_team, away_team``) or else from the game id (YYYYMMDD-AWAY-HOME-N)."""
    frame = bets.with_columns(own_line=own_line())
    if games is not None:
        frame = frame.join(games.select("game_id", "home_team", "away_team"), on="game_id", how="left")
    else:
        parts = pl.col("game_id").str.split("-")
        frame = frame.with_columns(
            away_team=parts.list.get(1, null_on_oob=True), home_team=parts.list.get(2, null_on_oob=True)
        )
    return frame.with_columns(bet=bet_words())


def bets_list(bets: pl.DataFrame, games: pl.DataFrame | None = None) -> list[dict[str, Any]]:
    """The backtest's bets for the JSON: ``date, game_id, market, side, line (the side's own),
    odds, stake, result, profit, closing_probability, clv`` and ``bet`` in words (the teams from
    ``games``: ``game_id, home_team, away_team``, else from the game id)."""
    if bets.is_empty():
        return []
    frame = describe_bets(bets, games)
    optional = [c for c in ("close_probability", "clv", "book", "edge") if c not in frame.columns]
    frame = frame.with_columns(
        [pl.lit(None, pl.String if c == "book" else pl.Float64).alias(c) for c in optional]
    )
    out = frame.sort("date", "game_id", "market", "side").select(
        pl.col("date").cast(pl.String),
        "game_id",
        "market",
        "side",
        pl.col("own_line").alias("line"),
        "bet",
        "odds",
        "book",
        pl.col("stake").round(2),
        pl.col("edge").round(4),
        "result",
        pl.col("profit").round(2),
        pl.col("close_probability").round(4).alias("closing_probability"),
        pl.col("clv").round(4),
    )
    return out.to_dicts()


def _gate_short(market: str, gate: Mapping[str, Any]) -> str:
    """``total: log loss -0.0000 vs the price [-0.0002, +0.0001]`` (the close strategy's: ``total:
    CLV -0.33% at the open [-0.52%, -0.13%]``), or why there was nothing to judge."""
    ci = gate.get("ci")
    clv = gate.get("measure") == "clv"
    seasons = gate.get("by_season")
    if isinstance(seasons, Mapping) and seasons:
        shut = sorted(s for s, g in seasons.items() if not g.get("passed", True))
        return f"{market}: gate shut in {len(shut)} of {len(seasons)} seasons ({', '.join(shut)})"
    if gate.get("difference") is None or not ci:
        if clv:
            return f"{market}: {gate.get('n_games', 0)} out-of-sample bets at the open, too few to judge"
        return f"{market}: no priced out-of-sample record"
    if clv:
        return f"{market}: CLV {gate['difference']:+.2%} at the open [{ci[0]:+.2%}, {ci[1]:+.2%}]"
    return f"{market}: log loss {gate['difference']:+.4f} vs the price [{ci[0]:+.4f}, {ci[1]:+.4f}]"


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:+.{digits}f}%"


def verdict(all_bets: Mapping[str, Any], gates: Mapping[str, Mapping[str, Any]] | None = None,
            initial_bankroll: float | None = None) -> str:  # fmt: skip
    """One line from a backtest's ``all`` summary (``n_bets, staked, profit, roi, roi_ci,
    clv_mean, max_drawdown, final_bankroll``) and its per-market gates (``passed, reason``)."""
    gates = gates or {}
    stopped = [_gate_short(m, g) for m, g in gates.items() if not g.get("passed", True)]
    if not all_bets.get("n_bets"):
        if stopped and len(stopped) == len(gates):
            return "no bets: no market passed the skill gate (" + "; ".join(stopped) + ")"
        if stopped:
            return "no bets: no price offered had an edge; stopped by the skill gate: " + "; ".join(stopped)
        return "no bets: no price offered had a positive edge for the model"
    ci = all_bets.get("roi_ci") or [None, None]
    interval = f" [{_pct(ci[0])}, {_pct(ci[1])}]" if ci[0] is not None and ci[1] is not None else ""
    start = f"{initial_bankroll:,.2f} -> " if initial_bankroll is not None else ""
    line = (
        f"{all_bets['n_bets']:,} bets, staked {all_bets['staked']:,.2f}, profit {all_bets['profit']:+,.2f}, "
        f"ROI {_pct(all_bets.get('roi'))}{interval}, CLV {_pct(all_bets.get('clv_mean'), 2)}, "
        f"max drawdown {(all_bets.get('max_drawdown') or 0.0) * 100:.1f}%, "
        f"bankroll {start}{all_bets['final_bankroll']:,.2f}"
    )
    if stopped:
        line += "; not bet (skill gate): " + "; ".join(stopped)
    return line
