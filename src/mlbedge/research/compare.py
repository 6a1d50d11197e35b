"""Two registered models of one market compared end to end on the games neither was trained on:
their forecasts (:func:`mlbedge.promotion.compare_forecasts`), a backtest each with
:class:`~mlbedge.betting.backtest.ModelStrategy` (:func:`mlbedge.betting.compare.compare_bets`) and
the promotion gate's decision (:func:`mlbedge.promotion.promotion_gate`) -- the gate
``mlbedge models compare`` and ``retrain`` both apply.

It reads stored features through :mod:`mlbedge.training` and backtests through
:mod:`mlbedge.betting`, so it sits above both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
import psycopg

from mlbedge.betting.backtest import (
    MARKETS,
    BacktestInputs,
    ModelStrategy,
    ProbabilityModel,
    empty_history,
    load_inputs,
    run_backtest,
)
from mlbedge.betting.compare import BettingComparison, compare_bets, model_matrix
from mlbedge.betting.kelly import StakingPolicy
from mlbedge.promotion import ForecastComparison, GateDecision, compare_forecasts, promotion_gate
from mlbedge.training.dataset import load_training_data


@dataclass
class ModelComparison:
    """Champion (a) and challenger (b) of one market on the games neither was trained on."""

    target: str
    seasons: list[int]
    after: str | None
    forecasts: ForecastComparison
    betting: BettingComparison
    decision: GateDecision

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "target": self.target,
            "seasons": self.seasons,
            "games_after": self.after,
            "forecasts": self.forecasts.as_dict(),
            "betting": self.betting.as_dict(),
            "decision": self.decision.as_dict(),
        }


def _meta(model: ProbabilityModel, key: str) -> str | None:
    value = (getattr(model, "meta", None) or {}).get(key)
    return None if value is None else str(value)


def compare_models(
    conn: psycopg.Connection,
    champion: ProbabilityModel,
    challenger: ProbabilityModel,
    *,
    seasons: Sequence[int] | None = None,
    policy: StakingPolicy | None = None,
    bankroll: float = 1000.0,
    margin: float = 0.0,
    alpha: float | None = None,
    min_games: int = 100,
    cutoff_minutes: int | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> ModelComparison:
    """Both models of one market (their ``meta['target']``) on the same games: forecasts, a backtest
    each with :class:`~mlbedge.betting.backtest.ModelStrategy`, and the gate's decision.

    Only games after the later of the two training windows (``meta['train_end']``) count; ``seasons``
    (default: every season with such games) narrows them. Builds missing features (the caller commits).
    """
    target = _meta(champion, "target")
    if target is None or target != _meta(challenger, "target"):
        raise ValueError(
            f"the models predict different things ({target!r} and {_meta(challenger, 'target')!r}): "
            "compare two models of the same market"
        )
    if target not in MARKETS:
        raise ValueError(f"{target!r} is not a market a bet can be placed on ({', '.join(MARKETS)})")
    ends = [e for e in (_meta(champion, "train_end"), _meta(challenger, "train_end")) if e]
    after = max(ends) if ends else None
    if seasons is None:
        rows = conn.execute(
            "SELECT DISTINCT season FROM curated.games WHERE home_score IS NOT NULL AND (%s::date IS NULL OR date > %s::date) ORDER BY 1",
            (after, after),
        ).fetchall()
        seasons = [r[0] for r in rows]
    seasons = sorted(set(seasons))
    if not seasons:
        raise LookupError(f"no game after {after} to compare the models on; load a later season first")
    data = load_training_data(conn, seasons=seasons, cutoff_minutes=cutoff_minutes)
    unseen = pl.col("date") > date.fromisoformat(after) if after else pl.lit(True)
    labelled = data.labelled(target).filter(unseen & pl.col("y").is_not_null())
    if labelled.is_empty():
        raise LookupError(f"no labelled {target} games in seasons {seasons} after {after}")
    p_a = champion.predict_many(model_matrix(champion, labelled))
    p_b = challenger.predict_many(model_matrix(challenger, labelled))
    forecasts = compare_forecasts(
        labelled["y"].to_numpy(), p_a, p_b, labelled["date"].to_numpy(), n_resamples=n_resamples, seed=seed
    )
    bets: dict[str, list[pl.DataFrame]] = {"a": [], "b": []}
    for season in seasons:
        inputs = load_inputs(conn, season, cutoff_minutes=cutoff_minutes)
        kept = inputs.games.filter(unseen)
        if kept.is_empty():
            continue
        inputs = BacktestInputs(
            kept,
            inputs.features.join(kept.select("game_id"), on="game_id", how="semi"),
            inputs.snapshots.join(kept.select("game_id"), on="game_id", how="semi"),
            inputs.cutoff_minutes,
        )
        for key, model in (("a", champion), ("b", challenger)):
            result = run_backtest(inputs, ModelStrategy({target: model}, policy), bankroll=bankroll)
            bets[key].append(result.bets)
    betting = compare_bets(
        pl.concat(bets["a"]) if bets["a"] else empty_history(),
        pl.concat(bets["b"]) if bets["b"] else empty_history(),
        n_resamples=n_resamples,
        seed=seed,
    )
    decision = promotion_gate(forecasts, margin=margin, alpha=alpha, min_games=min_games)
    return ModelComparison(target, seasons, after, forecasts, betting, decision)
