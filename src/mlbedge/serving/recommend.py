"""Recommended bets for one date: the models' probabilities at every price offered at the cutoff,
the best book per side, and stakes from the Kelly module within the exposure limits.

Per offered quote the market's model predicts side A at the quote's **own** line (its
``target_line`` input: the total as quoted, the home handicap as quoted, so home +1.5 is priced
as home +1.5), side B is the complement; a side's edge is ``p * decimal_odds - 1``. Only books a
person can bet are candidates (:mod:`mlbedge.domain.books`: Action Network's consensus and open
lines are features, never prices). Per game, market and side the book with the largest edge is
kept (price shopping), with its line and the time its price was seen, and the whole slate is
sized at once by :func:`mlbedge.betting.kelly.size_slate` (simultaneous Kelly, the Kelly
fraction, per-bet, per-game and slate caps).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from mlbedge.betting.kelly import StakingPolicy, size_slate
from mlbedge.domain.books import bettable
from mlbedge.domain.odds import american_to_decimal
from mlbedge.serving.models import ModelSet
from mlbedge.serving.predict import SIDES, feature_matrix, model_inputs, side_a_probability
from mlbedge.store.base import FeatureRow

CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "book": pl.String(),
    "line": pl.Float64(),
    "odds": pl.Int64(),
    "probability": pl.Float64(),
    "observed_at": pl.Datetime("us", "UTC"),
    "as_of": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class SlateBets:
    """The sized slate: every candidate considered and the bets with a stake."""

    candidates: pl.DataFrame
    bets: pl.DataFrame


def candidates(models: ModelSet, rows: list[FeatureRow], offers: pl.DataFrame) -> pl.DataFrame:
    """Both sides of every offered quote of a served market, with the model's probability."""
    if not rows or offers.is_empty():
        return pl.DataFrame(schema=CANDIDATE_SCHEMA)
    offers = offers.filter(bettable("book"))
    position = {r.game_id: i for i, r in enumerate(rows)}
    names = rows[0].names
    layouts_agree = all(r.names == names for r in rows)
    frames = []
    for market, (side_a, side_b) in SIDES.items():
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
        base = quotes.select("game_id", "book", "line", "observed_at", "as_of").with_columns(
            market=pl.lit(market), _p=pl.Series(p_a, dtype=pl.Float64)
        )
        frames.append(
            base.with_columns(side=pl.lit(side_a), odds=quotes["price_a"], probability=pl.col("_p"))
        )
        frames.append(
            base.with_columns(side=pl.lit(side_b), odds=quotes["price_b"], probability=1.0 - pl.col("_p"))
        )
    if not frames:
        return pl.DataFrame(schema=CANDIDATE_SCHEMA)
    return pl.concat([f.select(list(CANDIDATE_SCHEMA)) for f in frames]).filter(
        pl.col("probability").is_finite()
    )


def recommend(
    models: ModelSet, rows: list[FeatureRow], offers: pl.DataFrame, bankroll: float, policy: StakingPolicy
) -> SlateBets:
    """The slate's bets (stake > 0) sized together, and every candidate considered."""
    sides = candidates(models, rows, offers)
    if sides.is_empty():
        return SlateBets(sides, sides.with_columns(kelly=pl.lit(None, pl.Float64)).head(0))
    decimal = np.asarray(american_to_decimal(sides["odds"].cast(pl.Float64).to_numpy()), dtype=np.float64)
    sides = sides.with_columns(_edge=pl.col("probability") * pl.Series(decimal, dtype=pl.Float64) - 1.0)
    # Price shopping: the best book per side; ties go to the first book by name.
    best = (
        sides.sort(["_edge", "book"], descending=[True, False])
        .unique(["game_id", "market", "side"], keep="first", maintain_order=True)
        .drop("_edge")
        .sort("game_id", "market", "side")
    )
    sized = size_slate(best, bankroll, policy)
    bets = sized.filter(pl.col("stake") > 0.0).sort("game_id", "market", "side")
    return SlateBets(sides.drop("_edge"), bets)
