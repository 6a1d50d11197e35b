"""Recommended bets for one date: the models' probabilities at every price offered at the cutoff,
handed to the one betting rule the backtest follows too.

Per offered quote the market's model predicts side A at the quote's **own** line (its
``target_line`` input). :class:`mlbedge.betting.strategy.BetRule` then takes both sides, their
edges (``p * decimal_odds - 1``), the best book per side (price shopping) and sizes the whole slate
at once by :func:`mlbedge.betting.kelly.size_slate` (simultaneous Kelly, the Kelly fraction,
per-bet, per-game and slate caps).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.strategy import BetRule, Decision
from mlbedge.serving.models import ModelSet
from mlbedge.serving.predict import SIDES, feature_matrix, model_inputs, side_a_probability
from mlbedge.store.base import FeatureRow

# The sized slate: every candidate considered and the bets with a stake.
SlateBets = Decision

PRICED_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "market": pl.String(),
    "book": pl.String(),
    "line": pl.Float64(),
    "price_a": pl.Int64(),
    "price_b": pl.Int64(),
    "p_a": pl.Float64(),
    "observed_at": pl.Datetime("us", "UTC"),
    "as_of": pl.Datetime("us", "UTC"),
}


def priced_offers(models: ModelSet, rows: list[FeatureRow], offers: pl.DataFrame) -> pl.DataFrame:
    """Every offered quote of a served market with ``p_a``, the model's probability of side A at the
    quote's own line (:data:`PRICED_SCHEMA`)."""
    if not rows or offers.is_empty():
        return pl.DataFrame(schema=PRICED_SCHEMA)
    position = {r.game_id: i for i, r in enumerate(rows)}
    names = rows[0].names
    layouts_agree = all(r.names == names for r in rows)
    frames = []
    for market in SIDES:
        model = models.models.get(market)
        quotes = offers.filter((pl.col("market") == market) & pl.col("game_id").is_in(list(position)))
        if model is None or quotes.is_empty():
            continue
        at = [position[g] for g in quotes["game_id"].to_list()]
        lines = quotes["line"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        if layouts_agree:
            matrix = feature_matrix(rows)[at]
            p_a = side_a_probability(model, model_inputs(model, matrix, names, lines))
        else:  # a feature-set switch inside the slate: one row at a time, each with its layout
            p_a = np.array(
                [
                    side_a_probability(
                        model, model_inputs(model, feature_matrix([rows[i]]), rows[i].names, lines[k : k + 1])
                    )[0]
                    for k, i in enumerate(at)
                ]
            )
        frames.append(quotes.with_columns(p_a=pl.Series(p_a, dtype=pl.Float64)).select(list(PRICED_SCHEMA)))
    if not frames:
        return pl.DataFrame(schema=PRICED_SCHEMA)
    return pl.concat(frames)


def candidates(models: ModelSet, rows: list[FeatureRow], offers: pl.DataFrame) -> pl.DataFrame:
    """Both sides of every offered quote of a served market, with the model's probability and edge."""
    return BetRule().candidates(priced_offers(models, rows, offers))


def recommend(
    models: ModelSet, rows: list[FeatureRow], offers: pl.DataFrame, bankroll: float, policy: StakingPolicy
) -> Decision:
    """The slate's bets (stake > 0) sized together, and every candidate considered."""
    decision = BetRule(policy).decide(priced_offers(models, rows, offers), bankroll)
    return Decision(decision.candidates, decision.bets.sort("game_id", "market", "side"))
