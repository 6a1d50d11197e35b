"""Faults injected on purpose, to measure whether the monitor catches them (tests, the replay benchmark).

Each function takes real rows (stored feature rows, or a predictions frame) and returns them with
one fault applied to the games dated ``start`` or later, the way the fault would reach the
store:

- :func:`swap_sides` — the odds feed swapped home and away: every home price is the away price;
- :func:`null_feature` — a feature stops arriving (null);
- :func:`freeze_feature` — a feature stuck on the last value it had before ``start``;
- :func:`decimal_as_american` — the odds feed switched to decimal odds that were read as American
  (a +1.91 "underdog" on both sides): the de-vigged prices collapse to a coin flip and the margin
  jumps;
- :func:`shift_predictions` — the served model leans to one side (``logit + shift``);
- :func:`misjoin_predictions` — predictions attached to the wrong games (each date's predictions
  rotated by one game): the distribution is unchanged, each game gets another game's number.

A source silent past its cadence is injected in the fetch log itself (the benchmark deletes the
fetches after the silence began).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from mlbedge.monitoring.reference import logit

FAULT_KINDS: tuple[str, ...] = (
    "sides_swapped",
    "feature_null",
    "feature_constant",
    "price_scale",
    "source_silent",
    "prediction_shift",
    "predictions_misjoined",
)

# The home-side prices and their mirror images when the sides are swapped.
_COMPLEMENT = ("ml_home_prob", "ml_home_prob_open", "rl_home_cover_prob", "rl_home_cover_prob_open")
_NEGATE = ("ml_home_prob_move", "rl_home_line", "rl_home_cover_prob_move")
_FLIP = ("ml_home_favourite",)


def _from(start: date) -> pl.Expr:
    return pl.col("date") >= start


def swap_sides(rows: pl.DataFrame, start: date) -> pl.DataFrame:
    """Home and away prices exchanged from ``start`` on."""
    hit = _from(start)
    return rows.with_columns(
        *[
            pl.when(hit).then(1.0 - pl.col(c)).otherwise(pl.col(c)).alias(c)
            for c in _COMPLEMENT
            if c in rows.columns
        ],
        *[pl.when(hit).then(-pl.col(c)).otherwise(pl.col(c)).alias(c) for c in _NEGATE if c in rows.columns],
        *[
            pl.when(hit).then(1 - pl.col(c)).otherwise(pl.col(c)).cast(rows.schema[c]).alias(c)
            for c in _FLIP
            if c in rows.columns
        ],
    )


def null_feature(rows: pl.DataFrame, feature: str, start: date) -> pl.DataFrame:
    """``feature`` null from ``start`` on."""
    return rows.with_columns(pl.when(~_from(start)).then(pl.col(feature)).alias(feature))


def freeze_feature(rows: pl.DataFrame, feature: str, start: date) -> pl.DataFrame:
    """``feature`` stuck from ``start`` on at its last non-null value before ``start``."""
    before = rows.filter(~_from(start) & pl.col(feature).is_not_null()).sort("date", "game_id")
    if before.is_empty():
        raise ValueError(f"no value of {feature} before {start} to freeze")
    value = before[feature][-1]
    return rows.with_columns(
        pl.when(_from(start))
        .then(pl.lit(value))
        .otherwise(pl.col(feature))
        .cast(rows.schema[feature])
        .alias(feature)
    )


def decimal_as_american(
    rows: pl.DataFrame, start: date, *, markets: tuple[str, ...] = ("ml", "total")
) -> pl.DataFrame:
    """The moneyline and total prices rebuilt as if decimal odds had been read as American.

    From the stored de-vigged probability ``p`` and the two sides' summed implied probability
    ``o`` (``*_overround``), each side's decimal odds are ``1 / (p * o)``; read as American
    (positive: an underdog at +d) its implied probability is ``100 / (100 + d)``. The de-vigged
    probability and the overround are then recomputed from those two numbers.
    """
    pairs = {"ml": ("ml_home_prob", "ml_overround"), "total": ("total_over_prob", "total_overround")}
    hit = _from(start)
    out = rows
    for market in markets:
        prob, over = pairs[market]
        p, o = pl.col(prob), pl.col(over)
        a = 100.0 / (100.0 + 1.0 / (p * o))
        b = 100.0 / (100.0 + 1.0 / ((1.0 - p) * o))
        opened = f"{prob}_open"
        out = out.with_columns(
            pl.when(hit).then(a / (a + b)).otherwise(p).alias(prob),
            pl.when(hit).then(a + b).otherwise(o).alias(over),
            *(
                [pl.when(hit).then(a / (a + b)).otherwise(pl.col(opened)).alias(opened)]
                if opened in rows.columns
                else []
            ),
        )
    return out


def shift_predictions(predictions: pl.DataFrame, start: date, *, shift: float = 0.5) -> pl.DataFrame:
    """``p_model`` moved by ``shift`` on the logit scale from ``start`` on."""
    moved = 1.0 / (1.0 + (-(logit("p_model") + shift)).exp())
    return predictions.with_columns(
        pl.when(_from(start)).then(moved).otherwise(pl.col("p_model")).alias("p_model")
    )


def misjoin_predictions(predictions: pl.DataFrame, start: date) -> pl.DataFrame:
    """Each date's predictions from ``start`` on rotated by one game (within target and date)."""
    ordered = predictions.sort("target", "date", "game_id")
    rotated = ordered.with_columns(
        pl.col("p_model").shift(1).over("target", "date").alias("_moved"),
        pl.col("p_model").last().over("target", "date").alias("_last"),
    ).with_columns(
        pl.when(_from(start))
        .then(pl.coalesce("_moved", "_last"))
        .otherwise(pl.col("p_model"))
        .alias("p_model")
    )
    return rotated.drop("_moved", "_last")
