"""The close strategy's forecasts: a move model's predicted close of each test game, scored.

A move model (``close_moneyline``, ``close_total``) predicts the open-to-close move of a market's
de-vigged price on the logit scale from the rows built at the open. For a backtest of the close
strategy (:func:`mlbedge.research.seasons.run_season` with ``strategy="close"``) two views of its
test games are kept:

- **as a forecast of the outcome** (:func:`close_predictions`' first frame, scored by
  :func:`mlbedge.research.forecasts.score_forecasts` like any market model): "open + predicted
  move", ``sigmoid(logit(open) + move)``, beside the opening, the as-of and the closing prices on
  the same games;
- **as a forecast of the move** (its second frame, scored by :func:`move_summary` through
  :func:`mlbedge.training.move.move_report`): R² of the move with its interval over dates, the
  direction hit rate beyond the margin, and the flat-stake CLV of betting the side it favours.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import polars as pl

from mlbedge.betting.backtest import ProbabilityModel
from mlbedge.scoring import none_if_nan
from mlbedge.skill import DEFAULT_CLOSE_MARGIN
from mlbedge.training.asof_market import market_asof
from mlbedge.training.move import move_report
from mlbedge.training.targets import MOVE_MARKETS, OPEN_PRICES, OUTCOME, label_frame

# Per market the move target its close strategy is modelled by.
CLOSE_MARKETS: dict[str, str] = {market: target for target, market in MOVE_MARKETS.items()}

PREDICTION_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(), "game_id": pl.String(), "season": pl.Int64(), "date": pl.Date(),
    "y": pl.Float64(), "p_model": pl.Float64(), "market_open": pl.Float64(),
    "market_close": pl.Float64(), "market_asof": pl.Float64(),
}  # fmt: skip
MOVE_ROW_SCHEMA: dict[str, pl.DataType] = {
    "target": pl.String(), "game_id": pl.String(), "season": pl.Int64(), "date": pl.Date(),
    "y": pl.Float64(), "p_model": pl.Float64(), "market_open": pl.Float64(),
    "market_close": pl.Float64(), OUTCOME: pl.Float64(), **{c: pl.Float64() for c in OPEN_PRICES},
}  # fmt: skip


def close_predictions(
    models: Mapping[str, ProbabilityModel],
    rows: pl.DataFrame,
    labels: pl.DataFrame,
    asof: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per market with a move model (``moneyline``, ``total``), the test games ``rows`` (built at
    the open) predicted: the outcome forecasts (:data:`PREDICTION_SCHEMA`, ``target`` the market,
    ``y`` the result, ``p_model`` open + predicted move) and the move forecasts
    (:data:`MOVE_ROW_SCHEMA`, ``target`` the move target, ``y`` the actual move, ``p_model`` the
    predicted one). Rows without the label are left out of each."""
    outcomes, moves = [], []
    for market, model in models.items():
        target = CLOSE_MARKETS[market]
        labelled = label_frame(rows, labels, target, asof)
        labelled = labelled.with_columns(market_asof=market_asof(labelled, market, asof))
        x = labelled.select(pl.col(c).cast(pl.Float64) for c in model.feature_names).to_numpy()
        move = pl.Series("move", np.asarray(model.predict_many(x), dtype=np.float64))
        labelled = labelled.with_columns(move, pl.col("season").cast(pl.Int64))
        kept = [
            "game_id",
            "season",
            "date",
            "y",
            pl.col("move").alias("p_model"),
            "market_open",
            "market_close",
        ]
        moves.append(
            labelled.filter(pl.col("y").is_not_null()).select(
                pl.lit(target).alias("target"), *kept, OUTCOME, *OPEN_PRICES
            )
        )
        p_open = pl.col("market_open")
        moved = 1.0 / (1.0 + (-((p_open / (1.0 - p_open)).log() + pl.col("move"))).exp())
        scored = labelled.filter(pl.col(OUTCOME).is_not_null() & p_open.is_between(0.0, 1.0, closed="none"))
        outcomes.append(
            scored.select(
                pl.lit(market).alias("target"),
                "game_id",
                "season",
                "date",
                pl.col(OUTCOME).alias("y"),
                moved.alias("p_model"),
                "market_open",
                "market_close",
                "market_asof",
            )
        )
    predictions = pl.concat(outcomes) if outcomes else pl.DataFrame(schema=PREDICTION_SCHEMA)
    move_rows = pl.concat(moves) if moves else pl.DataFrame(schema=MOVE_ROW_SCHEMA)
    return predictions, move_rows


def move_summary(
    moves: pl.DataFrame,
    *,
    threshold: float | None = DEFAULT_CLOSE_MARGIN,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Per market, its move forecasts scored as one group (every season given together): ``r2``
    with ``r2_ci`` (over dates), ``hit_rate`` with ``hit_ci`` of the direction where the predicted
    move exceeds ``threshold``, the log loss of the open, of "open + predicted move" and of the
    close against the outcomes, and the flat-stake CLV of betting the favoured side at the open."""
    if moves.is_empty():
        return {}
    report = move_report(
        moves.with_columns(season=pl.lit("all")),
        threshold=DEFAULT_CLOSE_MARGIN if threshold is None else threshold,
        n_resamples=n_resamples,
        seed=seed,
    )
    out: dict[str, dict[str, Any]] = {}
    for r in report.iter_rows(named=True):

        def num(key: str, row: dict[str, Any] = r) -> float | None:
            return none_if_nan(row[key])

        out[MOVE_MARKETS[r["target"]]] = {
            "target": r["target"],
            "n_games": r["n_games"],
            "move_sd": num("move_sd"),
            "r2": num("r2"),
            "r2_ci": [num("r2_low"), num("r2_high")],
            "correlation": num("correlation"),
            "threshold": threshold,
            "n_signalled": r["n_signalled"],
            "hit_rate": num("hit_rate"),
            "hit_ci": [num("hit_low"), num("hit_high")],
            "log_loss_open": num("log_loss_open"),
            "log_loss_open_plus_move": num("log_loss_open_plus_move"),
            "log_loss_close": num("log_loss_close"),
            "flat_bets": r["n_bets"],
            "flat_clv": num("clv"),
            "flat_clv_ci": [num("clv_low"), num("clv_high")],
        }
    return out
