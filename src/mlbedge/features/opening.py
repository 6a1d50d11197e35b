"""The opening prices as model inputs: one rule for training, the backtest and the API.

The move models (the ``close_moneyline`` and ``close_total`` targets) read the game's opening
prices beside its open-time features: SBRO's opening moneyline and total, observed at the start of
the game's local date (:data:`mlbedge.features.prices.OPENING_COLUMNS`). :func:`with_open_inputs`
turns those columns into :data:`OPEN_INPUTS` -- the log odds of the de-vigged (multiplicative)
home win and over, each market's overround and the opening total -- for the labelled training rows
(:func:`mlbedge.training.targets.label_frame`), the backtest's rows at the open and the API's
slate alike, so a game's inputs are bit-identical wherever it is priced.

:data:`OPEN_REFERENCE` names, per market, the input holding side a's opening log odds and the
line it is for: the open a predicted move is added to.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mlbedge.domain.odds import american_to_implied_expr, fair_two_way

OPEN_INPUTS: tuple[str, ...] = (
    "open_ml_home_logit",
    "open_ml_overround",
    "open_total_over_logit",
    "open_total_overround",
    "open_total_line",
)
# Per market: the column of side a's de-vigged opening log odds, and of the line it prices (None:
# the moneyline has no line).
OPEN_REFERENCE: dict[str, tuple[str, str | None]] = {
    "moneyline": ("open_ml_home_logit", None),
    "total": ("open_total_over_logit", "open_total_line"),
}


def _fair(frame: pl.DataFrame, a: str, b: str) -> pl.Series:
    """De-vigged (multiplicative) probability of side ``a`` from two American price columns (null
    where either is missing or impossible)."""
    fair_a, _ = fair_two_way(
        frame[a].cast(pl.Float64).to_numpy(allow_copy=True),
        frame[b].cast(pl.Float64).to_numpy(allow_copy=True),
    )
    return pl.Series(np.asarray(fair_a, dtype=np.float64)).fill_nan(None)


def _logit(p: pl.Expr) -> pl.Expr:
    """Log odds of a probability column (null outside (0, 1))."""
    return pl.when((p > 0) & (p < 1)).then((p / (1 - p)).log())


def _overround(a: str, b: str) -> pl.Expr:
    """The two sides' implied probabilities summed, minus one (the book's margin)."""
    return american_to_implied_expr(pl.col(a)) + american_to_implied_expr(pl.col(b)) - 1


def with_open_inputs(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with :data:`OPEN_INPUTS` from its opening columns (``home_ml_open, away_ml_open,
    total_open, over_odds_open, under_odds_open``; null where a price is missing)."""
    return (
        frame.with_columns(
            _open_ml=_fair(frame, "home_ml_open", "away_ml_open"),
            _open_over=_fair(frame, "over_odds_open", "under_odds_open"),
        )
        .with_columns(
            open_ml_home_logit=_logit(pl.col("_open_ml")),
            open_ml_overround=_overround("home_ml_open", "away_ml_open"),
            open_total_over_logit=_logit(pl.col("_open_over")),
            open_total_overround=_overround("over_odds_open", "under_odds_open"),
            open_total_line=pl.col("total_open").cast(pl.Float64),
        )
        .drop("_open_ml", "_open_over")
    )
