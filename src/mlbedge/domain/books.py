"""Which quotes a person can bet: the books, as opposed to aggregates and reference lines.

Prices reach mlbedge from real sportsbooks (DraftKings, FanDuel, BetMGM, ... as the live sources
name them; Pinnacle and SBRO's archived line in the historical files) and from aggregates that
no one can place a bet with: Action Network's ``consensus`` (book 15, an average that also
carries the public percentages) and its ``open`` (book 30, the opening line, gone once the market
moves). Aggregates are good features (the market's opinion, its movement) but never a price to
bet at or a book to recommend.
"""

from __future__ import annotations

from typing import Final

import polars as pl

# Names as the live sources store them in ``staging.odds_quotes.book``.
NOT_BETTABLE: Final[frozenset[str]] = frozenset({"consensus", "open"})


def is_bettable(book: str) -> bool:
    """True when ``book`` is a sportsbook that takes bets (not an average or a reference line)."""
    return book.strip().lower() not in NOT_BETTABLE


def bettable(book: pl.Expr | str = "book") -> pl.Expr:
    """A Polars filter keeping the rows whose ``book`` takes bets."""
    column = pl.col(book) if isinstance(book, str) else book
    return ~column.str.to_lowercase().is_in(sorted(NOT_BETTABLE))
