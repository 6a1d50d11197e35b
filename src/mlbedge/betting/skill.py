"""The skill gate inside the betting rule: closed markets unpriced, the model blended with the
price by the gate's weight, edges capped. The gate itself is judged in :mod:`mlbedge.skill`."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from mlbedge.skill import (
    CLOSE_RECORD_SCHEMA,
    DEFAULT_CLOSE_MARGIN,
    DEFAULT_MAX_EDGE,
    MIN_BETS,
    MIN_GAMES,
    RECORD_SCHEMA,
    Gate,
    blend,
    cap_probability,
    close_bets,
    close_gate,
    fit_blend_weight,
    skill_gate,
)

__all__ = [
    "CLOSE_RECORD_SCHEMA", "DEFAULT_CLOSE_MARGIN", "DEFAULT_MAX_EDGE", "MIN_BETS", "MIN_GAMES", "RECORD_SCHEMA",
    "Gate", "apply_skill", "blend", "cap_edges", "cap_probability", "close_bets", "close_gate",
    "fit_blend_weight", "skill_gate",
]  # fmt: skip

_EPS = 1e-6


def _logit_expr(p: pl.Expr) -> pl.Expr:
    q = p.clip(_EPS, 1.0 - _EPS)
    return (q / (1.0 - q)).log()


def apply_skill(priced: pl.DataFrame, gates: Mapping[str, Gate] | None) -> pl.DataFrame:
    """Priced offers (``market, p_a, fair_a``, ...) as the gates allow: the offers of a market whose
    gate failed are dropped, and ``p_a`` becomes the blend of the model and the offer's own
    de-vigged price with the market's weight. Markets without a gate are left as they are."""
    if not gates or priced.is_empty():
        return priced
    closed = [m for m, g in gates.items() if not g.passed]
    kept = priced.filter(~pl.col("market").is_in(closed))
    weights = {m: g.weight for m, g in gates.items() if g.passed}
    if kept.is_empty() or not weights:
        return kept
    weight = pl.col("market").replace_strict(weights, default=1.0, return_dtype=pl.Float64)
    fair = pl.col("fair_a").cast(pl.Float64)
    # Where the offer has no usable fair price the model stands alone (weight 1).
    w = pl.when(fair.is_between(0.0, 1.0, closed="none")).then(weight).otherwise(1.0)
    z = w * _logit_expr(pl.col("p_a").cast(pl.Float64)) + (1.0 - w) * _logit_expr(fair.fill_null(0.5))
    return kept.with_columns(p_a=1.0 / (1.0 + (-z).exp()))


def cap_edges(sides: pl.DataFrame, max_edge: float | None) -> pl.DataFrame:
    """Sides (``probability, odds, edge``) with every edge above ``max_edge`` capped at it (the
    probability lowered to match): an edge that large is one no record supports."""
    if max_edge is None or sides.is_empty():
        return sides
    decimal = (
        pl.when(pl.col("odds") > 0).then(1.0 + pl.col("odds") / 100.0).otherwise(1.0 - 100.0 / pl.col("odds"))
    )
    capped = pl.min_horizontal(pl.col("probability"), (1.0 + max_edge) / decimal)
    return sides.with_columns(probability=capped).with_columns(edge=pl.col("probability") * decimal - 1.0)
