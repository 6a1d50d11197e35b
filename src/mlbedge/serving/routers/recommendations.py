"""Kelly-sized bets for one date's slate."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import polars as pl
from fastapi import APIRouter, Depends, Query, Response

from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.strategy import Decision
from mlbedge.betting.verdict import describe_bets
from mlbedge.serving.close import CLOSE_TARGETS
from mlbedge.serving.dependencies import ServingState, get_state
from mlbedge.serving.models import ModelSet
from mlbedge.serving.params import IsoDate
from mlbedge.serving.recommend import recommend
from mlbedge.serving.responses import VALIDATION_DOCS, error_docs, json_response
from mlbedge.serving.schemas import EXAMPLE_DATE, Bet, MarketGate, RecommendationsResponse, StakingLimits
from mlbedge.serving.slate import games_on, offered_prices

MAX_BANKROLL = 1e12


def build_router(default_kelly_fraction: float) -> APIRouter:
    """The recommendation route, its ``kelly_fraction`` defaulting to the settings' (documented)."""
    router = APIRouter(tags=["recommendations"])

    @router.get(
        "/v1/recommendations",
        response_model=RecommendationsResponse,
        summary="Kelly stakes for a date's slate",
        responses={**VALIDATION_DOCS, **error_docs(429, 503)},
    )
    def recommendations(
        day: Annotated[
            IsoDate,
            Query(alias="date", description="The local game date, YYYY-MM-DD.", examples=[EXAMPLE_DATE]),
        ],
        bankroll: Annotated[
            float,
            Query(gt=0, le=MAX_BANKROLL, allow_inf_nan=False, description="Current bankroll (currency)."),
        ],
        kelly_fraction: Annotated[
            float, Query(gt=0, le=1, allow_inf_nan=False, description="Share of full Kelly staked.")
        ] = default_kelly_fraction,
        strategy: Annotated[
            Literal["outcome", "close"],
            Query(
                description="outcome: the market models at each game's cutoff; close: the move models at "
                "the prices in force at the start of each game's local date (the close strategy)."
            ),
        ] = "outcome",
        state: ServingState = Depends(get_state),
    ) -> Response:
        """Bets on the date's games at the prices offered at each game's cutoff, staked by
        simultaneous Kelly times ``kelly_fraction``, each bet, game and the slate within the
        configured caps. ``strategy=close``: at the prices in force at the start of each game's
        local date, where the move model's predicted close beats them by more than the margin."""
        if strategy == "close":
            return json_response(recommend_close_slate(state, day, bankroll, kelly_fraction))
        return json_response(recommend_slate(state, day, bankroll, kelly_fraction))

    return router


def recommend_slate(
    state: ServingState, day: date, bankroll: float, kelly_fraction: float
) -> RecommendationsResponse:
    """Kelly stakes for ``day``'s slate at the prices in force at each game's cutoff.

    The one implementation behind ``GET /v1/recommendations``, the daily pipeline and the dashboard.
    """
    models = state.models.current.require()
    policy = state.staking_policy(kelly_fraction)
    read = state.store.read_slate(day)
    state.metrics.record_read(read.degraded)
    rows = read.rows
    with state.connection() as conn:
        games = games_on(conn, day, state.settings.cutoff_minutes)
        if rows and not games.is_empty():
            # The served rows' own cutoffs (built by the same rule) decide what was offered.
            cutoffs = pl.DataFrame(
                {"game_id": [r.game_id for r in rows], "_as_of": [r.as_of for r in rows]},
                schema={"game_id": pl.String(), "_as_of": pl.Datetime("us", "UTC")},
            )
            games = (
                games.join(cutoffs, on="game_id", how="inner")
                .with_columns(as_of=pl.col("_as_of"))
                .drop("_as_of")
            )
            offers = offered_prices(conn, games)
        else:
            offers = offered_prices(conn, games.head(0))
    served = {g for g in games["game_id"].to_list()} if not games.is_empty() else set()
    rows = [r for r in rows if r.game_id in served]
    gates = market_gates(models)
    # The rule applies the champions' gates as the backtest does (unless switched off).
    gated = state.settings.recommend_skill_gate
    slate = recommend(
        models,
        rows,
        offers,
        bankroll,
        policy,
        gates={m: g.as_gate(m) for m, g in gates.items()} if gated else None,
        max_edge=state.settings.recommend_max_edge if gated else None,
    )
    return _response(
        "outcome",
        day,
        bankroll,
        policy,
        len(rows),
        slate,
        read.degraded,
        dict(models.unavailable),
        gates,
        gated,
    )


def recommend_close_slate(
    state: ServingState, day: date, bankroll: float, kelly_fraction: float
) -> RecommendationsResponse:
    """The close strategy's stakes for ``day``: the prices in force at the start of each game's
    local date, where the served move models' predicted close beats them by more than the margin
    (:func:`mlbedge.serving.close.recommend_close`, the backtest's rule). Without a move model the
    answer has no bet and says why in ``unavailable``."""
    from mlbedge.serving.close import recommend_close
    from mlbedge.serving.routers.close import close_gates, close_models
    from mlbedge.serving.slate import offered_at_open

    models = close_models(state)
    policy = state.staking_policy(kelly_fraction)
    read = state.store.read_slate(day)
    state.metrics.record_read(read.degraded)
    with state.connection() as conn:
        games = games_on(conn, day, state.settings.cutoff_minutes)
        served = set(games["game_id"].to_list()) if not games.is_empty() else set()
        rows = [r for r in read.rows if r.game_id in served]
        games = games.filter(pl.col("game_id").is_in([r.game_id for r in rows]))
        offers = offered_at_open(conn, games)
    gates = close_gates(models)
    gated = state.settings.recommend_skill_gate
    slate = recommend_close(
        models,
        rows,
        games,
        offers,
        bankroll,
        policy,
        margin=state.settings.recommend_close_margin,
        gates={m: g.as_gate(m) for m, g in gates.items()} if gated else None,
        max_edge=state.settings.recommend_max_edge if gated else None,
    )
    unavailable = {m: models.unavailable[t] for m, t in CLOSE_TARGETS.items() if t in models.unavailable}
    return _response(
        "close", day, bankroll, policy, len(rows), slate, read.degraded, unavailable, gates, gated
    )


def _response(
    strategy: Literal["outcome", "close"],
    day: date,
    bankroll: float,
    policy: StakingPolicy,
    n_games: int,
    slate: Decision,
    degraded: bool,
    unavailable: dict[str, str],
    gates: dict[str, MarketGate],
    gated: bool,
) -> RecommendationsResponse:
    """One answer for either strategy: the sized bets in words, their total and the exposure."""
    bets = _bets(slate.bets)
    total = float(sum(b.stake for b in bets))
    return RecommendationsResponse(
        date=day,
        strategy=strategy,
        bankroll=bankroll,
        limits=_limits(policy),
        games=n_games,
        candidates=slate.candidates.height,
        bets=bets,
        total_stake=total,
        exposure=min(total / bankroll, 1.0),
        degraded=degraded,
        unavailable=unavailable,
        gates=gates,
        gates_applied=gated,
    )


def _bets(sized: pl.DataFrame) -> list[Bet]:
    """The sized bets as response models, each side's own line and the bet in words."""
    # The rule prices in the tables' home-handicap form; a bettor reads each side's own line.
    described = describe_bets(sized.with_columns(pl.col("odds").cast(pl.Int64))) if sized.height else None
    return [
        Bet(
            game_id=b["game_id"],
            market=b["market"],
            side=b["side"],
            book=b["book"],
            line=b["own_line"],
            bet=b["bet"],
            odds=b["odds"],
            probability=b["probability"],
            edge=b["edge"],
            kelly=b["kelly"],
            fraction=min(max(b["fraction"], 0.0), 1.0),
            stake=b["stake"],
            as_of=b["as_of"],
            observed_at=b["observed_at"],
        )
        for b in (described.iter_rows(named=True) if described is not None else ())
    ]


def _limits(policy: StakingPolicy) -> StakingLimits:
    return StakingLimits(
        kelly_fraction=policy.kelly_fraction,
        min_edge=policy.min_edge,
        max_stake_per_bet=policy.max_stake_per_bet,
        max_stake_per_game=policy.max_stake_per_game,
        max_exposure=policy.max_exposure,
        stake_unit=policy.stake_unit,
    )


def market_gates(models: ModelSet) -> dict[str, MarketGate]:
    """The skill gate each served champion was registered with (models trained before the gate
    existed carry none)."""
    out = {}
    for market, loaded in models.models.items():
        gate = loaded.model.meta.get("skill_gate")
        if isinstance(gate, dict):
            out[market] = MarketGate.model_validate(
                {k: gate[k] for k in MarketGate.model_fields if k in gate}
            )
    return out
