"""What a strategy sees (the context) and the model strategy that bets by the one betting rule."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

import numpy as np
import numpy.typing as npt
import polars as pl

from mlbedge.betting.backtest._inputs import (
    _CLOSE_SCHEMA,
    QUOTE_COLUMNS,
    _quote_schema,
    closing_line_value,
)
from mlbedge.betting.backtest._result import _OPTIONAL_BET_COLUMNS, BET_COLUMNS, SETTLED_SCHEMA
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.strategy import MOVE_COLUMNS, BetRule, CloseRule, predicted_close
from mlbedge.domain.markets import MARKETS
from mlbedge.features.opening import OPEN_REFERENCE
from mlbedge.skill import DEFAULT_CLOSE_MARGIN, Gate

FloatArray = npt.NDArray[np.float64]


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


def _predicted_quotes(
    models: Mapping[str, ProbabilityModel], quotes: pl.DataFrame, features: pl.DataFrame, kind: str
) -> Iterator[tuple[str, pl.DataFrame, npt.NDArray[np.float64]]]:
    """Per modelled market: its quotes joined to their games' feature rows, each predicted by the
    market's model at the quote's own line (the model's ``target_line`` input)."""
    for market, model in models.items():
        rows = quotes.filter(pl.col("market") == market)
        if rows.is_empty():
            continue
        rows = rows.join(features, on="game_id", how="inner", suffix="_feature")
        if rows.is_empty():
            continue
        rows = rows.with_columns(target_line=pl.col("line"))
        absent = [c for c in model.feature_names if c not in rows.columns]
        if absent:
            raise ValueError(f"the {market} {kind} reads input(s) the features lack: {absent[:5]}")
        x = rows.select(pl.col(model.feature_names).cast(pl.Float64)).to_numpy()
        yield market, rows, np.asarray(model.predict_many(x), dtype=np.float64)


def model_probabilities(
    models: Mapping[str, ProbabilityModel], quotes: pl.DataFrame, features: pl.DataFrame
) -> pl.DataFrame:
    """``quotes`` of the modelled markets with ``p_a``: the model's probability of side a (home,
    over) at the quote's own line (the model's ``target_line`` input)."""
    frames = [
        rows.select(*QUOTE_COLUMNS).with_columns(p_a=pl.Series(p, dtype=pl.Float64))
        for _, rows, p in _predicted_quotes(models, quotes, features, "model")
    ]
    if not frames:
        return pl.DataFrame(schema={**_quote_schema(), "p_a": pl.Float64()})
    return pl.concat(frames)


def rule_bets(rule: BetRule | CloseRule, priced: pl.DataFrame, context: Context) -> pl.DataFrame:
    """A round's bets by ``rule`` on its priced quotes: the same for both strategies."""
    decision = rule.decide(priced, context.bankroll, pending_stake=context.pending_stake)
    if decision.bets.is_empty():
        return empty_bets()
    return decision.bets.select(*BET_COLUMNS, "probability", "edge")


class ModelStrategy:
    """Bet where a model's probability beats an offered price, by the one betting rule.

    Each round, every offered quote of a modelled market is priced by the market's model at the
    quote's own line (:func:`model_probabilities`) and handed to
    :class:`mlbedge.betting.strategy.BetRule` (both sides, the edge, the best book per side, the
    slate sized by the staking policy with the exposure cap reduced by what earlier rounds still
    have at stake) -- the rule the API's recommendations follow too.
    """

    def __init__(
        self,
        models: Mapping[str, ProbabilityModel],
        policy: StakingPolicy | None = None,
        *,
        gates: Mapping[str, Gate] | None = None,
        max_edge: float | None = None,
    ) -> None:
        unknown = [m for m in models if m not in MARKETS]
        if unknown:
            raise ValueError(f"models for unknown market(s) {unknown}; markets are {', '.join(MARKETS)}")
        self.models = dict(models)
        self.policy = policy or StakingPolicy()
        # The skill gate per market (mlbedge.skill), applied inside the one betting rule: closed
        # markets are not priced, open ones bet on the model blended with the price; edges capped.
        self.rule = BetRule(self.policy, gates=dict(gates or {}), max_edge=max_edge)

    def candidates(self, context: Context) -> pl.DataFrame:
        """Both sides of every modelled quote: ``game_id, market, side, book, line, odds, probability, edge``."""
        priced = model_probabilities(self.models, context.quotes, context.features)
        return self.rule.candidates(priced).drop("observed_at")

    def __call__(self, context: Context) -> pl.DataFrame:
        """The round's bets."""
        if context.quotes.is_empty():
            return empty_bets()
        return rule_bets(
            self.rule, model_probabilities(self.models, context.quotes, context.features), context
        )


# ----------------------------------------------------------------------------------------------
# the close strategy: the opening price, where the predicted close beats it


def move_probabilities(
    models: Mapping[str, ProbabilityModel], quotes: pl.DataFrame, features: pl.DataFrame
) -> pl.DataFrame:
    """``quotes`` of the markets with a move model (``moneyline``, ``total``), priced for the
    close rule (:func:`mlbedge.betting.strategy.predicted_close`): ``p_a`` the predicted closing
    probability of side a, ``p_open_a`` the game's de-vigged opening probability it moves from.

    ``features``: rows at the open with the opening prices as inputs
    (:func:`mlbedge.features.opening.with_open_inputs`). Each quote is predicted at its own line
    (the model's ``target_line``); the predicted move is added to the game's reference open (side
    a's de-vigged opening log odds, :data:`~mlbedge.features.opening.OPEN_REFERENCE`), which prices
    only quotes at the reference's own line.
    """
    frames = []
    # The offer's cutoff travels with it where the caller has one (the API's bets name it).
    kept = [*QUOTE_COLUMNS, *(["as_of"] if "as_of" in quotes.columns else [])]
    for market, rows, move in _predicted_quotes(models, quotes, features, "move model"):
        logit, line = OPEN_REFERENCE[market]
        frames.append(
            rows.select(
                *kept,
                pl.Series("move", move, dtype=pl.Float64),
                pl.col(logit).cast(pl.Float64).alias("open_logit"),
                (pl.col(line) if line is not None else pl.lit(None)).cast(pl.Float64).alias("open_line"),
            )
        )
    if not frames:
        schema = {**_quote_schema(), **({"as_of": quotes.schema["as_of"]} if "as_of" in kept else {})}
        return predicted_close(pl.DataFrame(schema={**schema, **MOVE_COLUMNS}))
    return predicted_close(pl.concat(frames))


class CloseStrategy:
    """Bet the opening price where a move model predicts the close to be better for that side.

    Meant for a backtest at the open (:func:`mlbedge.betting.backtest.at_the_open`: each round the
    start of the games' local date, the features built as of then, the prices in force then).
    Each round, every offered quote of a market with a move model is priced by its predicted close
    (:func:`move_probabilities`) and handed to :class:`mlbedge.betting.strategy.CloseRule` (a side
    the predicted close favours over the open by more than ``margin``, at the book whose price
    has the largest expected CLV, the slate sized by Kelly on the predicted close, with each
    market's close gate) -- the rule the API's close recommendations follow too.
    """

    def __init__(
        self,
        models: Mapping[str, ProbabilityModel],
        policy: StakingPolicy | None = None,
        *,
        margin: float = DEFAULT_CLOSE_MARGIN,
        gates: Mapping[str, Gate] | None = None,
        max_edge: float | None = None,
    ) -> None:
        unknown = [m for m in models if m not in OPEN_REFERENCE]
        if unknown:
            raise ValueError(
                f"move models for market(s) {unknown}; the close strategy bets {list(OPEN_REFERENCE)}"
            )
        self.models = dict(models)
        self.policy = policy or StakingPolicy()
        self.rule = CloseRule(margin, self.policy, dict(gates or {}), max_edge)

    def candidates(self, context: Context) -> pl.DataFrame:
        """Every side the rule considers: ``game_id, market, side, book, line, odds, probability, edge``."""
        priced = move_probabilities(self.models, context.quotes, context.features)
        return self.rule.candidates(priced).drop("observed_at")

    def __call__(self, context: Context) -> pl.DataFrame:
        """The round's bets."""
        if context.quotes.is_empty():
            return empty_bets()
        return rule_bets(
            self.rule, move_probabilities(self.models, context.quotes, context.features), context
        )
