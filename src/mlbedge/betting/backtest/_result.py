"""The backtest's output: the settled bets, their schema, and the numbers read off them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from mlbedge.betting.metrics import (
    Interval,
    flat_yield,
    hit_rate,
    max_drawdown,
    mean_ci,
    roi,
    roi_ci,
)
from mlbedge.betting.settlement import settle_frame
from mlbedge.domain.markets import MARKETS
from mlbedge.features.asof import TIMESTAMP
from mlbedge.scoring import none_if_nan as _none_if_nan

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

# One row per round of the engine.
ROUND_SCHEMA: dict[str, pl.DataType] = {
    "as_of": TIMESTAMP,
    "date": pl.Date(),
    "games": pl.Int64(),
    "quotes": pl.Int64(),
    "bets": pl.Int64(),
    "staked": pl.Float64(),
    "bankroll": pl.Float64(),
    "pending_stake": pl.Float64(),
}


class BetRefused(ValueError):
    """A strategy returned a bet it could not have placed at that moment."""


def settle_placed(placed: pl.DataFrame, results: pl.DataFrame) -> pl.DataFrame:
    """Placed bets (``game_id, market, side, line, odds, stake``, ``line`` the quote's: the total or
    the HOME handicap) with ``result``, ``profit`` and ``result_observed_at``, settled from
    ``results`` (``game_id, home_score, away_score, result_observed_at``), in their order."""
    joined = placed.join(results, on="game_id", how="left", maintain_order="left")
    # settle_frame wants the run-line handicap of the side bet on; quotes carry the home one.
    flipped = pl.when((pl.col("market") == "runline") & (pl.col("side") == "away")).then(-pl.col("line"))
    settled = settle_frame(
        joined.with_columns(_bet_line=flipped.otherwise(pl.col("line")))
        .rename({"line": "_quoted_line"})
        .rename({"_bet_line": "line"})
    )
    return settled.drop("line").rename({"_quoted_line": "line"})


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
        # Intervals resample whole dates: the bets of one day are not independent.
        roi_interval = roi_ci(
            profit, stake, days=action["date"].to_numpy(), n_resamples=n_resamples, seed=seed
        )
        clv_interval = mean_ci(
            with_clv["clv"].to_numpy(), days=with_clv["date"].to_numpy(), n_resamples=n_resamples, seed=seed
        )
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
