"""The walk-forward backtest: a strategy bets round by round on what it could have known, and nothing else.

**The rule.** At each *round* (a moment ``as_of``: the cutoff of the games decided then) the
strategy is called with a :class:`Context` built only from the past:

- the **schedule** of the round's games (teams, date, start time when known) — no score, no close;
- their **point-in-time features** (``curated.game_features``, built from facts observed at or
  before each game's ``as_of``);
- the **prices offered**: per game, book and market, the book's last quote observed at or before
  the game's ``as_of``. SBRO's opening line is a snapshot of the start of the game's local day: it
  is offered only to games whose ``as_of`` *is* that moment (start time unknown); a game with a
  known start (Pinnacle 2016, live books) is offered the time-stamped books' last quote;
- the **bankroll**: the starting amount plus the profit of the strategy's own bets whose result
  was observed by ``as_of`` (a result is observed at the end of the game's local date, the
  features' rule), the stake still **pending** on bets not yet settled, and those settled bets.

Results, closing lines and later quotes stay with the engine: it settles each bet from the final
score, reveals the profit to the bankroll only once the result is observed, and measures
closing-line value after the fact. The strategy returns bets (a frame: game, market, side, book,
line, price, stake); a bet at a price or line that was not offered, on a game not in the round, or
staking more than the cash at hand is refused with an error naming it. Leakage is therefore not a
matter of care but of construction, and a test poisons everything the context must not hold (a
later result, every closing line, every later quote) and finds the bets unchanged.

**Rounds.** Games sharing an ``as_of`` are decided together (one slate, so simultaneous Kelly can
see them all). Without start times a date's games fall into one round per home time zone (their
``as_of`` is the local midnight); with start times, one per distinct cutoff. Bets placed in an
earlier round of the same day are pending when the next round is decided.

**Settlement and outputs.** Bets are settled by :func:`mlbedge.betting.settlement.settle_frame`
(pushes return the stake; a game without a result is no action). Per market (moneyline, total,
run line) and for all bets together, :meth:`BacktestResult.summary` gives bets, staked, profit,
ROI and flat-stake yield with a bootstrap interval for ROI, hit rate, closing-line value (the bet
price against the de-vigged closing price of the same side at the same line, see
:mod:`mlbedge.betting.metrics`) with its interval, the maximum drawdown and the final bankroll.
All bets share one bankroll; a market's ``final_bankroll`` and ``max_drawdown`` are those of the
starting bankroll plus that market's profit alone, in the order results were observed.

**Closing prices for CLV.** The same book's last quote at or before first pitch when that book is
time-stamped and quoted the same line; otherwise SBRO's closing line when it is for the same line
(SBRO's run line is a closing quote). A bet with no comparable close has no CLV (null, counted).

:func:`mlbedge.research.seasons.run_season` is the whole exercise for one test season (training
models, then this engine, then scoring the forecasts); it lives above both training and betting.

**Layout.** The public names are those of this package; behind it, ``_inputs`` (games, features,
prices; what was offered and what closed), ``_strategy`` (the context and :class:`ModelStrategy`,
which bets by :mod:`mlbedge.betting.strategy`), ``_engine`` (:func:`run_backtest`) and ``_result``
(:class:`BacktestResult`).
"""

from __future__ import annotations

from mlbedge.betting.backtest._engine import BetRefused, run_backtest
from mlbedge.betting.backtest._inputs import (
    GAMES_SCHEMA,
    QUOTE_COLUMNS,
    SCHEDULE_COLUMNS,
    BacktestInputs,
    closing_line_value,
    closing_quotes,
    load_inputs,
    market_snapshots,
)
from mlbedge.betting.backtest._result import (
    BET_COLUMNS,
    SETTLED_COLUMNS,
    SETTLED_SCHEMA,
    BacktestResult,
    gain_shares,
)
from mlbedge.betting.backtest._strategy import (
    Context,
    ModelStrategy,
    ProbabilityModel,
    Strategy,
    empty_bets,
    empty_history,
    model_probabilities,
)
from mlbedge.domain.markets import MARKETS
from mlbedge.features.prices import SBRO_BOOK, offered_quotes

__all__ = [
    "BET_COLUMNS", "GAMES_SCHEMA", "MARKETS", "QUOTE_COLUMNS", "SBRO_BOOK", "SCHEDULE_COLUMNS",
    "SETTLED_COLUMNS", "SETTLED_SCHEMA", "BacktestInputs", "BacktestResult", "BetRefused", "Context",
    "ModelStrategy", "ProbabilityModel", "Strategy", "closing_line_value", "closing_quotes", "empty_bets",
    "empty_history", "gain_shares", "load_inputs", "market_snapshots", "model_probabilities",
    "offered_quotes", "run_backtest",
]  # fmt: skip
