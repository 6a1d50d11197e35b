"""The close strategy in the API: each game's predicted close, the expected CLV of each side at the
open, and the bets the close rule makes there.

The move models (``close_moneyline``, ``close_total``; :data:`mlbedge.training.targets.MOVE_MARKETS`)
are served beside the market models, by a holder of their own. For one date:

- **the rows**: the served feature rows of the slate as a frame, with the opening prices as inputs
  (:func:`mlbedge.features.opening.with_open_inputs`, from each game's opening columns, the rule
  training and the backtest use). A row is read as the store holds it: for a game without a start
  time that is the row at the open (its ``as_of`` is the start of its local date); for a game with
  a known start it is the row of the cutoff, which may hold a result observed after the open (a
  previous night's game in a western park) -- ``features_as_of`` says which;
- **the predicted close of each game** (:func:`close_view`): per market, the move model predicts the
  move at the game's reference open (SBRO's opening moneyline, its opening total at that line); the
  predicted close is that open moved, and the expected closing-line value of a side is its predicted
  close x the decimal opening odds - 1. Without a move model, or without an opening price, the
  numbers are null and the reason is said, never an error;
- **the bets** (:func:`recommend_close`): the prices in force at the start of each game's local date
  (:func:`mlbedge.serving.slate.offered_at_open`) priced by
  :func:`mlbedge.betting.backtest.move_probabilities` and decided by
  :class:`mlbedge.betting.strategy.CloseRule` -- the same functions the backtest's
  :class:`~mlbedge.betting.backtest.CloseStrategy` calls, so the same slate gives the same bets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mlbedge.betting.backtest import move_probabilities
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.strategy import CloseRule, Decision
from mlbedge.domain.markets import MARKET_SIDES
from mlbedge.domain.odds import american_to_decimal_expr
from mlbedge.features import prices
from mlbedge.features.opening import OPEN_INPUTS, with_open_inputs
from mlbedge.features.prices import OPENING_COLUMNS
from mlbedge.serving.models import ModelSet
from mlbedge.serving.predict import feature_matrix
from mlbedge.skill import Gate
from mlbedge.store.base import FeatureRow
from mlbedge.training.targets import MOVE_MARKETS

# Per market the move target that predicts its close.
CLOSE_TARGETS: dict[str, str] = {market: target for target, market in MOVE_MARKETS.items()}


def rows_frame(rows: list[FeatureRow], games: pl.DataFrame) -> pl.DataFrame:
    """The served rows as one frame (``game_id``, ``as_of`` and every feature as float, nulls as
    null), with the games' opening prices as inputs (:data:`~mlbedge.features.opening.OPEN_INPUTS`).

    ``games``: ``game_id`` and the opening columns (:data:`~mlbedge.features.prices.OPENING_COLUMNS`).
    Rows of two feature layouts (a feature-set switch inside the slate) each keep their own columns.
    """
    layouts: dict[tuple[str, ...], list[FeatureRow]] = {}
    for row in rows:
        layouts.setdefault(row.names, []).append(row)
    frames = []
    for names, members in layouts.items():
        matrix = feature_matrix(members)
        frame = pl.DataFrame(
            {name: matrix[:, i] for i, name in enumerate(names)}, schema=dict.fromkeys(names, pl.Float64)
        ).fill_nan(None)
        frames.append(
            frame.with_columns(
                game_id=pl.Series([r.game_id for r in members], dtype=pl.String),
                as_of=pl.Series([r.as_of for r in members], dtype=pl.Datetime("us", "UTC")),
            )
        )
    if not frames:
        return pl.DataFrame(schema={"game_id": pl.String(), "as_of": pl.Datetime("us", "UTC")})
    served = pl.concat(frames, how="diagonal")
    opening = with_open_inputs(games.select("game_id", *OPENING_COLUMNS)).select("game_id", *OPEN_INPUTS)
    return served.drop(OPEN_INPUTS, strict=False).join(opening, on="game_id", how="left")


def reference_offers(games: pl.DataFrame) -> pl.DataFrame:
    """Each game's reference open as an offer (SBRO's opening moneyline and total, observed at the
    start of the local date): the price the predicted close is read against. ``games``:
    ``game_id, day_start`` and the opening columns."""
    opening = games.select("game_id", "day_start", *OPENING_COLUMNS).lazy()
    snapshots = prices.sbro_open_snapshots(opening).collect()
    if snapshots.is_empty():
        return snapshots.with_columns(fair_a=pl.lit(None, pl.Float64), overround=pl.lit(None, pl.Float64))
    return prices.priced(snapshots)


@dataclass(frozen=True)
class CloseView:
    """The predicted close of a slate's games. ``markets``: per game and market the reference open
    (``line, price_a, price_b, p_open_a``), the predicted move and close of side a (``move, p_a``),
    and the expected CLV of each side at the opening odds (``clv_a, clv_b``); null where not
    predicted. ``unavailable``: per market why nothing was predicted (no model)."""

    markets: pl.DataFrame
    unavailable: dict[str, str] = field(default_factory=dict)
    models: dict[str, Any] = field(default_factory=dict)  # market -> LoadedModel


def close_view(models: ModelSet, rows: list[FeatureRow], games: pl.DataFrame) -> CloseView:
    """Per game of ``games`` (``game_id, day_start`` and the opening columns) with a served row, and
    per market, its predicted close and the expected CLV of each side at the opening price."""
    unavailable = {
        market: models.unavailable.get(target, f"no {target} model is served")
        for market, target in CLOSE_TARGETS.items()
        if target not in models.models
    }
    served = {m: models.models[t] for m, t in CLOSE_TARGETS.items() if t in models.models}
    reference = reference_offers(games.filter(pl.col("game_id").is_in([r.game_id for r in rows])))
    frame = rows_frame(rows, games)
    priced = move_probabilities({m: loaded.model for m, loaded in served.items()}, reference, frame)
    clv_a = pl.col("p_a") * american_to_decimal_expr(pl.col("price_a")) - 1.0
    clv_b = (1.0 - pl.col("p_a")) * american_to_decimal_expr(pl.col("price_b")) - 1.0
    p_open = pl.col("p_open_a").clip(1e-9, 1.0 - 1e-9)
    p_close = pl.col("p_a").clip(1e-9, 1.0 - 1e-9)
    markets = priced.select(
        "game_id", "market", "line", "price_a", "price_b", "p_open_a", "p_a",
        ((p_close / (1.0 - p_close)).log() - (p_open / (1.0 - p_open)).log()).alias("move"),
        clv_a.alias("clv_a"), clv_b.alias("clv_b"),
    )  # fmt: skip
    return CloseView(markets, unavailable, served)


def recommend_close(
    models: ModelSet,
    rows: list[FeatureRow],
    games: pl.DataFrame,
    offers: pl.DataFrame,
    bankroll: float,
    policy: StakingPolicy,
    *,
    margin: float,
    gates: Mapping[str, Gate] | None = None,
    max_edge: float | None = None,
) -> Decision:
    """The close rule's bets on the slate: ``offers`` are the prices in force at the start of each
    game's local date (:func:`mlbedge.serving.slate.offered_at_open`), priced by the served move
    models at the rows' inputs, sized together (as the backtest's
    :class:`~mlbedge.betting.backtest.CloseStrategy` does)."""
    served = {m: models.models[t].model for m, t in CLOSE_TARGETS.items() if t in models.models}
    rule = CloseRule(margin, policy, dict(gates or {}), max_edge)
    priced = move_probabilities(served, offers, rows_frame(rows, games))
    decision = rule.decide(priced, bankroll)
    return Decision(decision.candidates, decision.bets.sort("game_id", "market", "side"))


def sides(market: str) -> tuple[str, str]:
    """Side a and side b of a market (home/away, over/under)."""
    return MARKET_SIDES[market]


def finite(value: Any) -> float | None:
    """A number, or None when missing or not finite."""
    if value is None:
        return None
    number = float(value)
    return number if np.isfinite(number) else None
