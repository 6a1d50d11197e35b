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
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import polars as pl
import psycopg
from psycopg import sql

from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.metrics import (
    Interval,
    clv,
    flat_yield,
    hit_rate,
    max_drawdown,
    mean_ci,
    roi,
    roi_ci,
)
from mlbedge.betting.settlement import settle_frame
from mlbedge.betting.strategy import BetRule
from mlbedge.domain.markets import A_SIDES, B_SIDES, MARKETS
from mlbedge.domain.odds import fair_two_way
from mlbedge.features import prices
from mlbedge.features.asof import TIMESTAMP, game_clock
from mlbedge.features.io import copy_frame, read_features, read_inputs
from mlbedge.features.prices import OFFER_SCHEMA, OPENING_COLUMNS, SBRO_BOOK, offered_quotes
from mlbedge.scoring import none_if_nan as _none_if_nan
from mlbedge.settings import get_settings

FloatArray = npt.NDArray[np.float64]


# Everything the engine reads of curated.games: the schedule, the results, the opening and closing lines.
GAMES_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "season": pl.Int32(),
    "date": pl.Date(),
    "game_type": pl.String(),
    "home_team_id": pl.Int64(),
    "away_team_id": pl.Int64(),
    "home_team": pl.String(),
    "away_team": pl.String(),
    "start_time_utc": TIMESTAMP,
    "pin_game_no": pl.Int64(),
    "home_score": pl.Int64(),
    "away_score": pl.Int64(),
    "home_ml_open": pl.Int64(),
    "away_ml_open": pl.Int64(),
    "total_open": pl.Float64(),
    "over_odds_open": pl.Int64(),
    "under_odds_open": pl.Int64(),
    "home_ml_close": pl.Int64(),
    "away_ml_close": pl.Int64(),
    "total_close": pl.Float64(),
    "over_odds_close": pl.Int64(),
    "under_odds_close": pl.Int64(),
    "home_rl": pl.Float64(),
    "home_rl_odds": pl.Int64(),
    "away_rl_odds": pl.Int64(),
}
# The part of a game a strategy may see: scheduled facts only.
SCHEDULE_COLUMNS: tuple[str, ...] = (
    "game_id",
    "season",
    "date",
    "game_type",
    "home_team_id",
    "away_team_id",
    "home_team",
    "away_team",
    "start_time_utc",
    "as_of",
)
# A price offered: ``line`` is the total (totals), the HOME handicap (run lines) or null
# (moneyline); ``price_a`` is the home/over price, ``price_b`` the away/under one; ``fair_a`` the
# de-vigged probability of side a from those two prices.
QUOTE_COLUMNS: tuple[str, ...] = (
    "game_id",
    "book",
    "market",
    "line",
    "price_a",
    "price_b",
    "fair_a",
    "observed_at",
)
BET_COLUMNS: tuple[str, ...] = ("game_id", "market", "side", "book", "line", "odds", "stake")
_OPTIONAL_BET_COLUMNS: tuple[str, ...] = ("probability", "edge")
SETTLED_COLUMNS: tuple[str, ...] = (
    "as_of",
    "date",
    *BET_COLUMNS,
    *_OPTIONAL_BET_COLUMNS,
    "result",
    "profit",
    "result_observed_at",
)
SETTLED_SCHEMA: dict[str, pl.DataType] = {
    "as_of": TIMESTAMP,
    "date": pl.Date(),
    "game_id": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "book": pl.String(),
    "line": pl.Float64(),
    "odds": pl.Int64(),
    "stake": pl.Float64(),
    "probability": pl.Float64(),
    "edge": pl.Float64(),
    "result": pl.String(),
    "profit": pl.Float64(),
    "result_observed_at": TIMESTAMP,
}


# ----------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True)
class BacktestInputs:
    """Everything one backtest reads. Only the engine sees it whole.

    ``games``: :data:`GAMES_SCHEMA` rows (results and closing lines included). ``features``: their
    point-in-time rows (``game_id, season, date, as_of, start_known`` and the features).
    ``snapshots``: every priced market snapshot of these games at any time (the
    :data:`mlbedge.features.prices.SNAPSHOT_SCHEMA` columns plus ``fair_a`` and ``overround``),
    later ones included: the engine offers each game only what was quoted by its ``as_of``.
    """

    games: pl.DataFrame
    features: pl.DataFrame
    snapshots: pl.DataFrame
    cutoff_minutes: int


def market_snapshots(
    games: pl.DataFrame,
    *,
    pinnacle_lines: pl.DataFrame | None = None,
    quotes: pl.DataFrame | None = None,
    cutoff_minutes: int,
) -> pl.DataFrame:
    """Every price of ``games`` as priced market snapshots: SBRO's opening lines (observed at the
    start of the local date), Pinnacle line snapshots and live quotes (at their own times).

    The same sources and rules as the market features (:mod:`mlbedge.features.prices`): a
    snapshot with an impossible price or margin is dropped.
    """
    lazy = games.lazy()
    clock = game_clock(lazy, cutoff_minutes)
    opening = lazy.select("game_id", *OPENING_COLUMNS).join(
        clock.select("game_id", "day_start"), on="game_id", how="inner"
    )
    frame = prices.collect_snapshots(
        opening,
        pinnacle_lines=pinnacle_lines,
        pinnacle_games=lazy.select("pin_game_no", "game_id").drop_nulls(),
        quotes=quotes,
    ).collect()
    return prices.priced(frame)


def load_inputs(
    conn: psycopg.Connection, season: int, *, cutoff_minutes: int | None = None
) -> BacktestInputs:
    """The games, stored features and every price of one season, from the database.

    Raises ``LookupError`` when the season has no games or no stored features.
    """
    cutoff = get_settings().cutoff_minutes if cutoff_minutes is None else cutoff_minutes
    games = copy_frame(
        conn, sql.SQL("(SELECT * FROM curated.games WHERE season = %s) g"), GAMES_SCHEMA, [season]
    ).sort("date", "game_id")
    if games.is_empty():
        raise LookupError(
            f"season {season} has no games in curated.games; load its file with `mlbedge data load`"
        )
    features = read_features(conn, seasons=[season])
    if features.is_empty():
        raise LookupError(f"season {season} has no stored features; run `mlbedge features build`")
    prices = read_inputs(conn, max_season=season, line_games=games["game_id"].to_list())
    snapshots = market_snapshots(
        games, pinnacle_lines=prices.pinnacle_lines, quotes=prices.quotes, cutoff_minutes=cutoff
    )
    return BacktestInputs(games, features, snapshots, cutoff)


# ----------------------------------------------------------------------------------------------
# what is offered, what closes


def _quote_schema() -> dict[str, pl.DataType]:
    return {c: OFFER_SCHEMA[c] for c in QUOTE_COLUMNS}


_CLOSE_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "line": pl.Float64(),
    "close_fair_a": pl.Float64(),
}


def closing_quotes(games: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """Per game, book and market the closing price: ``game_id, book, market, line, close_fair_a``.

    Time-stamped books: the last snapshot at or before first pitch (games with a known start).
    SBRO: its closing moneyline, closing total and run line from ``games``.
    """
    keys = ["game_id", "book", "market"]
    stamped = snapshots.filter(pl.col("timestamped"))
    parts: list[pl.DataFrame] = []
    if not stamped.is_empty():
        starts = games.select("game_id", "start_time_utc").drop_nulls()
        left = starts.join(stamped.select(keys).unique(), on="game_id", how="inner").sort("start_time_utc")
        parts.append(
            left.join_asof(
                stamped.sort("observed_at"),
                left_on="start_time_utc",
                right_on="observed_at",
                by=keys,
                strategy="backward",
                check_sortedness=False,
            )
            .filter(pl.col("observed_at").is_not_null())
            .select(*keys, "line", pl.col("fair_a").alias("close_fair_a"))
        )
    sbro = pl.concat(
        [
            games.select(
                "game_id",
                pl.lit("moneyline").alias("market"),
                pl.lit(None, pl.Float64).alias("line"),
                pl.col("home_ml_close").alias("a"),
                pl.col("away_ml_close").alias("b"),
            ),
            games.select(
                "game_id",
                pl.lit("total").alias("market"),
                pl.col("total_close").alias("line"),
                pl.col("over_odds_close").alias("a"),
                pl.col("under_odds_close").alias("b"),
            ),
            games.select(
                "game_id",
                pl.lit("runline").alias("market"),
                pl.col("home_rl").alias("line"),
                pl.col("home_rl_odds").alias("a"),
                pl.col("away_rl_odds").alias("b"),
            ),
        ]
    ).filter(pl.col("a").is_not_null() & pl.col("b").is_not_null())
    fair_a, _ = fair_two_way(sbro["a"].cast(pl.Float64).to_numpy(), sbro["b"].cast(pl.Float64).to_numpy())
    parts.append(
        sbro.with_columns(book=pl.lit(SBRO_BOOK), close_fair_a=pl.Series(fair_a, dtype=pl.Float64))
        .filter(pl.col("close_fair_a").is_not_nan())
        .select(*keys, "line", "close_fair_a")
    )
    return pl.concat(parts)


def closing_line_value(bets: pl.DataFrame, closes: pl.DataFrame) -> pl.DataFrame:
    """``bets`` with ``close_book``, ``close_probability`` (de-vigged, of the side bet on) and ``clv``.

    The close is the bet's own book at the same line when it has one, else SBRO's at the same
    line; no comparable close leaves the three null.
    """
    side_a = pl.col("side").is_in(A_SIDES)
    own = closes.rename({"line": "_own_line", "close_fair_a": "_own_fair"})
    sbro = (
        closes.filter(pl.col("book") == SBRO_BOOK)
        .drop("book")
        .rename({"line": "_sbro_line", "close_fair_a": "_sbro_fair"})
    )
    joined = bets.join(own, on=["game_id", "market", "book"], how="left").join(
        sbro, on=["game_id", "market"], how="left"
    )
    own_ok = pl.col("_own_fair").is_not_null() & pl.col("_own_line").eq_missing(pl.col("line"))
    sbro_ok = pl.col("_sbro_fair").is_not_null() & pl.col("_sbro_line").eq_missing(pl.col("line"))
    fair_a = pl.when(own_ok).then(pl.col("_own_fair")).when(sbro_ok).then(pl.col("_sbro_fair"))
    joined = joined.with_columns(
        close_book=pl.when(own_ok).then(pl.col("book")).when(sbro_ok).then(pl.lit(SBRO_BOOK)),
        close_probability=pl.when(side_a).then(fair_a).otherwise(1.0 - fair_a),
    )
    value = clv(joined["odds"].cast(pl.Float64).to_numpy(), joined["close_probability"].to_numpy())
    return joined.with_columns(clv=pl.Series(value, dtype=pl.Float64).fill_nan(None)).select(
        *bets.columns, "close_book", "close_probability", "clv"
    )


# ----------------------------------------------------------------------------------------------
# the context and the strategy


@dataclass(frozen=True)
class Context:
    """What a strategy knows at ``as_of``: nothing observed later (see the module notes).

    ``games``: the round's schedule (:data:`SCHEDULE_COLUMNS`). ``features``: their feature rows.
    ``quotes``: the prices offered (:data:`QUOTE_COLUMNS`). ``bankroll``: starting amount plus the
    profit of own bets settled by ``as_of``; ``pending_stake``: staked on bets still open (cash at
    hand is ``bankroll - pending_stake``). :attr:`history`: own bets settled by ``as_of``.
    """

    as_of: datetime
    date: date
    games: pl.DataFrame
    features: pl.DataFrame
    quotes: pl.DataFrame
    bankroll: float
    pending_stake: float
    _history: Callable[[], pl.DataFrame] = field(repr=False)

    @property
    def cash(self) -> float:
        """What can still be staked: the bankroll less the stakes of open bets."""
        return self.bankroll - self.pending_stake

    @property
    def history(self) -> pl.DataFrame:
        """Own bets whose results were observed by ``as_of``, with ``result`` and ``profit``."""
        return self._history()


class Strategy(Protocol):
    """Called once per round with the context; returns the bets (:data:`BET_COLUMNS`, optionally
    ``probability`` and ``edge``; rows with no stake are ignored)."""

    def __call__(self, context: Context) -> pl.DataFrame: ...


class ProbabilityModel(Protocol):
    """A fitted binary model: its input columns and calibrated probabilities for a matrix of them
    (:class:`mlbedge.training.artifact.ServingModel` is one)."""

    feature_names: list[str]

    def predict_many(self, x: npt.ArrayLike) -> FloatArray: ...


def empty_bets() -> pl.DataFrame:
    """A bet frame with no rows."""
    return pl.DataFrame(schema={k: SETTLED_SCHEMA[k] for k in (*BET_COLUMNS, *_OPTIONAL_BET_COLUMNS)})


def empty_history() -> pl.DataFrame:
    """A settled-bet frame (:attr:`BacktestResult.bets`) with no rows."""
    return closing_line_value(pl.DataFrame(schema=SETTLED_SCHEMA), pl.DataFrame(schema=_CLOSE_SCHEMA))


def model_probabilities(
    models: Mapping[str, ProbabilityModel], quotes: pl.DataFrame, features: pl.DataFrame
) -> pl.DataFrame:
    """``quotes`` of the modelled markets with ``p_a``: the model's probability of side a (home,
    over) at the quote's own line (the model's ``target_line`` input)."""
    frames = []
    for name, model in models.items():
        rows = quotes.filter(pl.col("market") == name)
        if rows.is_empty():
            continue
        rows = rows.join(features, on="game_id", how="inner", suffix="_feature")
        if rows.is_empty():
            continue
        rows = rows.with_columns(target_line=pl.col("line"))
        present = set(rows.columns)
        absent = [c for c in model.feature_names if c not in present]
        if absent:
            raise ValueError(f"the {name} model reads input(s) the features lack: {absent[:5]}")
        inputs = rows.select(pl.col(model.feature_names).cast(pl.Float64))
        p = np.asarray(model.predict_many(inputs.to_numpy()), dtype=np.float64)
        frames.append(rows.select(*QUOTE_COLUMNS).with_columns(p_a=pl.Series(p, dtype=pl.Float64)))
    if not frames:
        return pl.DataFrame(schema={**_quote_schema(), "p_a": pl.Float64()})
    return pl.concat(frames)


class ModelStrategy:
    """Bet where a model's probability beats an offered price, by the one betting rule.

    Each round, every offered quote of a modelled market is priced by the market's model at the
    quote's own line (:func:`model_probabilities`) and handed to
    :class:`mlbedge.betting.strategy.BetRule` (both sides, the edge, the best book per side, the
    slate sized by the staking policy with the exposure cap reduced by what earlier rounds still
    have at stake) -- the rule the API's recommendations follow too.
    """

    def __init__(self, models: Mapping[str, ProbabilityModel], policy: StakingPolicy | None = None) -> None:
        unknown = [m for m in models if m not in MARKETS]
        if unknown:
            raise ValueError(f"models for unknown market(s) {unknown}; markets are {', '.join(MARKETS)}")
        self.models = dict(models)
        self.policy = policy or StakingPolicy()
        self.rule = BetRule(self.policy)

    def candidates(self, context: Context) -> pl.DataFrame:
        """Both sides of every modelled quote: ``game_id, market, side, book, line, odds, probability, edge``."""
        priced = model_probabilities(self.models, context.quotes, context.features)
        return self.rule.candidates(priced).drop("observed_at")

    def __call__(self, context: Context) -> pl.DataFrame:
        """The round's bets."""
        if context.quotes.is_empty():
            return empty_bets()
        priced = model_probabilities(self.models, context.quotes, context.features)
        decision = self.rule.decide(priced, context.bankroll, pending_stake=context.pending_stake)
        if decision.bets.is_empty():
            return empty_bets()
        return decision.bets.select(*BET_COLUMNS, "probability", "edge")


# ----------------------------------------------------------------------------------------------
# the engine


class BetRefused(ValueError):
    """A strategy returned a bet it could not have placed at that moment."""


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
    joined = placed.join(results, on="game_id", how="left")
    # settle_frame wants the run-line handicap of the side bet on; quotes carry the home one.
    flipped = pl.when((pl.col("market") == "runline") & (pl.col("side") == "away")).then(-pl.col("line"))
    settled = settle_frame(
        joined.with_columns(_bet_line=flipped.otherwise(pl.col("line")))
        .rename({"line": "_quoted_line"})
        .rename({"_bet_line": "line"})
    )
    return settled.drop("line").rename({"_quoted_line": "line"}).select(SETTLED_COLUMNS)


@dataclass
class BacktestResult:
    """The bets of a backtest, settled and measured, and the rounds they were decided in.

    ``bets``: one row per bet placed (:data:`SETTLED_COLUMNS` plus ``close_book``,
    ``close_probability``, ``clv``). ``rounds``: ``as_of, date, games, quotes, bets, staked,
    bankroll, pending_stake`` per round.
    """

    bets: pl.DataFrame
    rounds: pl.DataFrame
    initial_bankroll: float
    seconds: float = 0.0

    def curve(self, market: str | None = None) -> pl.DataFrame:
        """The bankroll after each observed result (``observed_at, bankroll``), from the start.

        With ``market``, the starting bankroll plus that market's profit alone.
        """
        bets = self.bets if market is None else self.bets.filter(pl.col("market") == market)
        steps = (
            bets.group_by("result_observed_at")
            .agg(pl.col("profit").sum())
            .sort("result_observed_at")
            .select(
                pl.col("result_observed_at").alias("observed_at"),
                (self.initial_bankroll + pl.col("profit").cum_sum()).alias("bankroll"),
            )
        )
        start_time = self.rounds["as_of"].min() if self.rounds.height else None
        start = pl.DataFrame(
            {"observed_at": [start_time], "bankroll": [self.initial_bankroll]},
            schema={"observed_at": TIMESTAMP, "bankroll": pl.Float64},
        )
        return pl.concat([start, steps])

    def market_summary(
        self, market: str | None = None, *, n_resamples: int = 2000, seed: int = 0
    ) -> dict[str, Any]:
        """The betting numbers of one market (or of every bet with ``None``); see the module notes."""
        bets = self.bets if market is None else self.bets.filter(pl.col("market") == market)
        action = bets.filter(pl.col("result") != "void")
        profit = action["profit"].to_numpy()
        stake = action["stake"].to_numpy()
        with_clv = action.filter(pl.col("clv").is_not_null())
        roi_interval = roi_ci(profit, stake, n_resamples=n_resamples, seed=seed)
        clv_interval = mean_ci(with_clv["clv"].to_numpy(), n_resamples=n_resamples, seed=seed)
        curve = self.curve(market)["bankroll"].to_numpy()
        edges = action["edge"].drop_nulls().to_numpy()
        return {
            "n_bets": action.height,
            "n_void": bets.height - action.height,
            "n_push": int((action["result"] == "push").sum()),
            "staked": float(stake.sum()),
            "profit": float(profit.sum()),
            "roi": _none_if_nan(roi(profit, stake)) if action.height else None,
            "roi_ci": _interval(roi_interval),
            "yield": _none_if_nan(flat_yield(profit, stake)) if action.height else None,
            "hit_rate": _none_if_nan(hit_rate(action["result"])) if action.height else None,
            "clv_mean": _none_if_nan(clv_interval.estimate),
            "clv_ci": _interval(clv_interval),
            "n_clv": with_clv.height,
            "mean_edge": _none_if_nan(edges.mean()) if edges.size else None,
            "max_drawdown": max_drawdown(curve),
            "final_bankroll": float(curve[-1]),
        }

    def summary(self, *, n_resamples: int = 2000, seed: int = 0) -> dict[str, dict[str, Any]]:
        """:meth:`market_summary` of each market and of ``all`` bets together."""
        out = {m: self.market_summary(m, n_resamples=n_resamples, seed=seed) for m in MARKETS}
        out["all"] = self.market_summary(None, n_resamples=n_resamples, seed=seed)
        return out


def _interval(interval: Interval) -> list[float | None]:
    return [_none_if_nan(interval.low), _none_if_nan(interval.high)]


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
    bets = closing_line_value(bets, closing_quotes(games, inputs.snapshots))
    round_frame = pl.DataFrame(
        rounds,
        schema={
            "as_of": TIMESTAMP, "date": pl.Date, "games": pl.Int64, "quotes": pl.Int64, "bets": pl.Int64,
            "staked": pl.Float64, "bankroll": pl.Float64, "pending_stake": pl.Float64,
        },
    )  # fmt: skip
    return BacktestResult(bets, round_frame, bankroll, time.perf_counter() - started)


def _check_cutoff(features: pl.DataFrame, clock: pl.DataFrame, cutoff_minutes: int) -> None:
    """The feature rows must have been built for the backtest's cutoff."""
    both = features.select("game_id", "as_of").join(
        clock.select("game_id", pl.col("as_of").alias("_clock")), on="game_id", how="inner"
    )
    off = both.filter(pl.col("as_of") != pl.col("_clock"))
    if off.height:
        row = off.row(0, named=True)
        raise ValueError(
            f"the features of {row['game_id']} were built for as_of {row['as_of']}, but a cutoff of "
            f"{cutoff_minutes} min gives {row['_clock']}: rebuild the features with that cutoff"
        )


# ----------------------------------------------------------------------------------------------
# model inputs by importance


def gain_shares(models: Mapping[str, Any], top: int = 20) -> dict[str, dict[str, float]]:
    """Per market model (a ServingModel: LightGBM ``booster`` and ``feature_names``), its ``top``
    inputs by total gain, as shares of the model's total gain, largest first."""
    out: dict[str, dict[str, float]] = {}
    for name, model in models.items():
        gains = np.asarray(model.booster.feature_importance(importance_type="gain"), dtype=np.float64)
        total = float(gains.sum())
        order = np.argsort(-gains, kind="stable")[:top]
        out[name] = {
            model.feature_names[i]: (float(gains[i]) / total if total > 0 else 0.0)
            for i in order
            if gains[i] > 0
        }
    return out


def predictions_frame(
    models: Mapping[str, ProbabilityModel], features: pl.DataFrame, labels: pl.DataFrame
) -> pl.DataFrame:
    """Kept importable from here for older callers: see :func:`mlbedge.research.seasons.predictions_frame`."""
    from mlbedge.research.seasons import predictions_frame as build

    return build(models, features, labels)
