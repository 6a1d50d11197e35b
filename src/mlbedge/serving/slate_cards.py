"""The slate as a bettor reads it: one card per game, in the dashboard.

Each card: the matchup and the first pitch in the home park's own time zone, the starting pitchers
with their throwing hands, per market the best price of each side across the books at the cutoff
(with the book's name and the side's own line), the bets recommended on the game in words with
their stakes, per market the skill gate's verdict (the model's out-of-sample record against
the price), and the move model's predicted close with the expected CLV of each side at the open
(or why there is none). Plain server-rendered HTML that reflows to a phone's width; nothing is fetched.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl
import psycopg

from mlbedge.domain.markets import SIDE_A, SIDE_B
from mlbedge.serving.slate import local_start

MARKET_NAMES = {"moneyline": "Moneyline", "total": "Total", "runline": "Run line"}
STARTERS_SQL = (
    "SELECT game_id, home_starter, away_starter, home_starter_hand, away_starter_hand "
    "FROM curated.games WHERE game_id = ANY(%s)"
)


def starters(conn: psycopg.Connection, game_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per game its starting pitchers and their hands (as curated.games holds them)."""
    if not game_ids:
        return {}
    with conn.cursor() as cur:
        cur.execute(STARTERS_SQL, (list(game_ids),))
        columns = [c.name for c in cur.description or ()]
        return {row[0]: dict(zip(columns, row, strict=True)) for row in cur.fetchall()}


def local_start_text(start: datetime | None, home_team_id: int | None) -> str:
    """First pitch in the home park's zone, e.g. ``7:05 PM EDT``; empty when unknown."""
    if start is None or home_team_id is None:
        return ""
    local = local_start(start, int(home_team_id))
    return local.strftime("%-I:%M %p %Z") if local is not None else ""


def best_prices(offers: pl.DataFrame) -> pl.DataFrame:
    """Per game, market and side the best price across the books: ``game_id, market, side, line
    (the side's own), odds, book`` (the highest payout; ties go to the first book by name)."""
    if offers.is_empty():
        return pl.DataFrame(
            schema={"game_id": pl.String, "market": pl.String, "side": pl.String, "line": pl.Float64,
                    "odds": pl.Int64, "book": pl.String}
        )  # fmt: skip
    side_a = pl.col("market").replace_strict(SIDE_A, return_dtype=pl.String)
    side_b = pl.col("market").replace_strict(SIDE_B, return_dtype=pl.String)
    runline = pl.col("market") == "runline"
    sides = pl.concat(
        [
            offers.select("game_id", "market", side_a.alias("side"), "line", pl.col("price_a").alias("odds"), "book"),
            offers.select(
                "game_id", "market", side_b.alias("side"),
                pl.when(runline).then(-pl.col("line")).otherwise(pl.col("line")).alias("line"),
                pl.col("price_b").alias("odds"), "book",
            ),
        ]
    ).filter(pl.col("odds").is_not_null())  # fmt: skip
    payout = pl.when(pl.col("odds") > 0).then(pl.col("odds") / 100.0).otherwise(-100.0 / pl.col("odds"))
    return (
        sides.with_columns(_payout=payout)
        .sort(["_payout", "book"], descending=[True, False])
        .unique(["game_id", "market", "side", "line"], keep="first", maintain_order=True)
        .drop("_payout")
        .sort("game_id", "market", "side")
    )


def gate_record(gate: Any) -> str:
    """A gate's record in a few words: ``log loss +0.0004 vs the price [+0.0000, +0.0008]``."""
    if gate.difference is None or not gate.ci:
        return "no priced out-of-sample record"
    return f"log loss {gate.difference:+.4f} vs the price [{gate.ci[0]:+.4f}, {gate.ci[1]:+.4f}]"


def _price(odds: int | None) -> str:
    return "" if odds is None else f"{odds:+d}"


def _line(market: str, line: float | None) -> str:
    if line is None:
        return ""
    return f"{line:+g}" if market == "runline" else f"{line:g}"


def _side_name(side: str, game: Mapping[str, Any]) -> str:
    if side == "home":
        return str(game["home_team"])
    if side == "away":
        return str(game["away_team"])
    return side.title()


def _pitcher(name: Any, hand: Any) -> str:
    if not name:
        return "TBD"
    return f"{html.escape(str(name))} ({html.escape(str(hand))})" if hand else html.escape(str(name))


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:+.1f}%"


def close_line(market: str, close: Any, game: Mapping[str, Any]) -> str:
    """The move model's view of one market at the open: the predicted close of each side beside its
    opening probability, and the expected CLV of betting it at the opening price -- or why not."""
    if close is None:
        return ""
    found = [m for m in close.markets if m.market == market]
    if not found:
        return ""
    m = found[0]
    if m.reason is not None:
        return (
            f'<div class="close muted" data-market="{market}" data-field="predicted-close">'
            f"predicted close: unavailable ({html.escape(m.reason)})</div>"
        )
    parts = [
        f'<span data-side="{s.side}">{html.escape(_side_name(s.side, game))} '
        f"{s.predicted_close:.3f} (open {s.open_probability:.3f}), expected CLV "
        f'<b data-field="expected-clv">{_pct(s.expected_clv)}</b></span>'
        for s in m.sides
        if s.predicted_close is not None and s.open_probability is not None
    ]
    return (
        f'<div class="close" data-market="{market}" data-field="predicted-close">predicted close: '
        + "; ".join(parts)
        + "</div>"
    )


def game_card(
    game: Mapping[str, Any],
    pitchers: Mapping[str, Any] | None,
    prices: pl.DataFrame,
    bets: Sequence[Any],
    gates: Mapping[str, Any],
    applied: bool = True,
    close: Any = None,
) -> str:
    """One game's card (see the module notes); ``close`` (a :class:`~mlbedge.serving.schemas.GameClose`)
    adds each market's predicted close and the expected CLV of its sides at the open."""
    gid = html.escape(str(game["game_id"]))
    matchup = f"{html.escape(str(game['away_team']))} @ {html.escape(str(game['home_team']))}"
    start = local_start_text(game.get("start_time_utc"), game.get("home_team_id"))
    p = pitchers or {}
    arms = (
        f"{_pitcher(p.get('away_starter'), p.get('away_starter_hand'))} vs "
        f"{_pitcher(p.get('home_starter'), p.get('home_starter_hand'))}"
    )
    rows = []
    for market in ("moneyline", "total", "runline"):
        offered = prices.filter(pl.col("market") == market)
        if offered.is_empty():
            continue
        cells = []
        for side in (SIDE_A[market], SIDE_B[market]):
            for r in offered.filter(pl.col("side") == side).iter_rows(named=True):
                cells.append(
                    f'<span class="price" data-side="{side}">{html.escape(_side_name(side, game))} '
                    f"{_line(market, r['line'])} <b>{_price(r['odds'])}</b> "
                    f'<span class="book">{html.escape(r["book"])}</span></span>'
                )
        gate = gates.get(market)
        verdict = ""
        if gate is not None:
            if not applied:
                mark, cls = ("gate off", "off")
            else:
                mark, cls = ("✓ bets", "ok") if gate.passed else ("✗ no bets", "no")
            verdict = (
                f'<div class="gate {cls}" data-market="{market}" title="{html.escape(gate.reason)}">'
                f"{mark}: {html.escape(gate_record(gate))}</div>"
            )
        rows.append(
            f'<div class="market" data-market="{market}"><div class="mname">{MARKET_NAMES[market]}</div>'
            f'<div class="prices">{"".join(cells)}</div>{verdict}{close_line(market, close, game)}</div>'
        )
    picks = "".join(
        f'<li class="pick" data-market="{b.market}" data-side="{b.side}">Bet <b>{html.escape(b.bet)}</b> at '
        f"{html.escape(b.book)}: stake <b>{b.stake:,.2f}</b> (edge {b.edge * 100:+.1f}%)</li>"
        for b in bets
    )
    picks = picks or '<li class="muted">no bet recommended</li>'
    return (
        f'<article class="card" data-game="{gid}"><header><span class="matchup">{matchup}</span>'
        f'<span class="start" data-field="local-start">{html.escape(start)}</span></header>'
        f'<div class="pitchers" data-field="pitchers">{arms}</div>{"".join(rows)}'
        f'<ul class="picks">{picks}</ul></article>'
    )


def slate_cards(
    games: pl.DataFrame,
    pitchers: Mapping[str, Mapping[str, Any]],
    offers: pl.DataFrame,
    bets: Sequence[Any],
    gates: Mapping[str, Any],
    applied: bool = True,
    close: Mapping[str, Any] | None = None,
) -> str:
    """Every game's card, in order of first pitch, after each market's gate in full; ``close``:
    per game its predicted close (:class:`~mlbedge.serving.schemas.GameClose`)."""
    if games.is_empty():
        return '<p class="muted" id="cards-none">No games on this date.</p>'
    prices = best_prices(offers)
    by_game: dict[str, list[Any]] = {}
    for bet in bets:
        by_game.setdefault(bet.game_id, []).append(bet)
    cards = [
        game_card(
            game, pitchers.get(game["game_id"]), prices.filter(pl.col("game_id") == game["game_id"]),
            by_game.get(game["game_id"], []), gates, applied, (close or {}).get(game["game_id"]),
        )
        for game in games.sort("start_time_utc", "game_id", nulls_last=True).iter_rows(named=True)
    ]  # fmt: skip
    reasons = "".join(
        f'<li class="gate-reason {"ok" if g.passed else "no"}" data-market="{m}">{html.escape(g.reason)}</li>'
        for m, g in gates.items()
    )
    off = "" if applied else ' <span class="muted">(switched off: every market bets)</span>'
    head = f'<div id="gates"><b>Skill gate</b>{off}<ul>{reasons}</ul></div>' if reasons else ""
    return f'{head}<div class="cards" id="cards">{"".join(cards)}</div>'
