"""The markets bet on and their sides: one vocabulary for features, models, bets and the API.

Every two-way market has a side **a** and a side **b**. Prices, de-vigged probabilities and the
models' predictions are always those of side a (home, over, home); side b is the complement. A
market's ``line`` is the total (totals), the **home** handicap (run lines: -1.5 = home gives 1.5
runs) or none (moneyline).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, Literal


class Market(StrEnum):
    """A betting market."""

    MONEYLINE = "moneyline"
    TOTAL = "total"
    RUNLINE = "runline"


class Side(StrEnum):
    """A side of a market."""

    HOME = "home"
    AWAY = "away"
    OVER = "over"
    UNDER = "under"


MarketName = Literal["moneyline", "total", "runline"]
SideName = Literal["home", "away", "over", "under"]

MARKETS: Final[tuple[str, ...]] = tuple(m.value for m in Market)
# Per market its (side a, side b).
MARKET_SIDES: Final[dict[str, tuple[str, str]]] = {
    Market.MONEYLINE.value: (Side.HOME.value, Side.AWAY.value),
    Market.TOTAL.value: (Side.OVER.value, Side.UNDER.value),
    Market.RUNLINE.value: (Side.HOME.value, Side.AWAY.value),
}
SIDE_A: Final[dict[str, str]] = {m: sides[0] for m, sides in MARKET_SIDES.items()}
SIDE_B: Final[dict[str, str]] = {m: sides[1] for m, sides in MARKET_SIDES.items()}
# The sides whose price is a quote's first (``price_a``) and second (``price_b``).
A_SIDES: Final[tuple[str, ...]] = (Side.HOME.value, Side.OVER.value)
B_SIDES: Final[tuple[str, ...]] = (Side.AWAY.value, Side.UNDER.value)
