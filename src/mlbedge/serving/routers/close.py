"""The predicted close of a date's games: per market the move model's predicted close and the
expected closing-line value of each side at the opening price (:mod:`mlbedge.serving.close`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Depends, Query, Response

from mlbedge.serving.close import CLOSE_TARGETS, CloseView, close_view, finite, sides
from mlbedge.serving.dependencies import ServingState, get_state
from mlbedge.serving.models import ModelSet
from mlbedge.serving.params import IsoDate
from mlbedge.serving.responses import VALIDATION_DOCS, error_docs, json_response
from mlbedge.serving.schemas import (
    EXAMPLE_DATE,
    CloseResponse,
    CloseSide,
    GameClose,
    MarketClose,
    MarketGate,
    ModelRef,
)
from mlbedge.serving.slate import games_on

router = APIRouter(tags=["close"])

NO_OPEN = "no opening price for this game (the move models read SBRO's opening line)"


@router.get(
    "/v1/close",
    response_model=CloseResponse,
    summary="The predicted close of a date's games",
    responses={**VALIDATION_DOCS, **error_docs(429, 503)},
)
def predicted_close(
    day: Annotated[
        IsoDate,
        Query(alias="date", description="The local game date, YYYY-MM-DD.", examples=[EXAMPLE_DATE]),
    ],
    state: ServingState = Depends(get_state),
) -> Response:
    """Per game and market (moneyline, total at the opening total) where the move model expects
    the de-vigged price to close, and the expected CLV of each side at the opening price. Without
    a served move model, or an opening price, the numbers are null and ``reason`` says why."""
    return json_response(close_slate(state, day))


def close_models(state: ServingState) -> ModelSet:
    """The move models served (an empty set, each target unavailable, when the API serves none)."""
    if state.close_models is not None and state.close_models.targets:
        return state.close_models.current
    reason = "the API serves no move model (MLBEDGE_SERVE_CLOSE_TARGETS is empty)"
    return ModelSet({}, dict.fromkeys(CLOSE_TARGETS.values(), reason), datetime.now(UTC), 0)


def close_gates(models: ModelSet) -> dict[str, MarketGate]:
    """Per market the gate its move model was registered with (the CLV of its out-of-sample bets)."""
    out: dict[str, MarketGate] = {}
    for market, target in CLOSE_TARGETS.items():
        loaded = models.models.get(target)
        gate = loaded.model.meta.get("skill_gate") if loaded is not None else None
        if isinstance(gate, dict):
            out[market] = MarketGate.model_validate(
                {k: gate[k] for k in MarketGate.model_fields if k in gate}
            )
    return out


def close_slate(state: ServingState, day: date) -> CloseResponse:
    """The ``/v1/close`` answer for ``day`` (also the slate page's)."""
    models = close_models(state)
    read = state.store.read_slate(day)
    state.metrics.record_read(read.degraded)
    with state.connection() as conn:
        games = games_on(conn, day, state.settings.cutoff_minutes)
    scheduled = set(games["game_id"].to_list())
    rows = [r for r in read.rows if r.game_id in scheduled]
    view = close_view(models, rows, games)
    by_game = {key[0]: part for key, part in view.markets.partition_by("game_id", as_dict=True).items()}
    as_of = {r.game_id: r.as_of for r in rows}
    out = []
    for game in games.iter_rows(named=True):
        gid = game["game_id"]
        if gid not in as_of:
            continue
        markets = []
        for market in CLOSE_TARGETS:
            found = by_game.get(gid, view.markets.clear()).filter(pl.col("market") == market)
            markets.append(_market(market, found.row(0, named=True) if found.height else None, view, game))
        out.append(
            GameClose(
                game_id=gid, date=game["date"], open_as_of=game["day_start"], features_as_of=as_of[gid],
                markets=markets,
            )
        )  # fmt: skip
    return CloseResponse(
        date=day,
        margin=state.settings.recommend_close_margin,
        games=out,
        unavailable=dict(view.unavailable),
        gates=close_gates(models),
    )


def _market(market: str, row: dict[str, Any] | None, view: CloseView, game: dict[str, Any]) -> MarketClose:
    side_a, side_b = sides(market)
    loaded = view.models.get(market)
    ref = (
        ModelRef(name=loaded.name, version=loaded.version, feature_set_version=loaded.feature_set_version)
        if loaded is not None
        else None
    )
    if row is None:
        reason = view.unavailable.get(market) or NO_OPEN
        line = game.get("total_open") if market == "total" else None
        return MarketClose(
            market=market, line=finite(line), model=ref, predicted_move=None, reason=reason,  # type: ignore[arg-type]
            sides=[CloseSide(side=s, odds=None, open_probability=None, predicted_close=None, expected_clv=None)
                   for s in (side_a, side_b)],  # type: ignore[arg-type]
        )  # fmt: skip
    p_open, p_close = finite(row["p_open_a"]), finite(row["p_a"])
    reason = (
        None if p_close is not None else (view.unavailable.get(market) or "the move model gave no prediction")
    )
    return MarketClose(
        market=market,  # type: ignore[arg-type]
        line=finite(row["line"]),
        model=ref,
        predicted_move=finite(row["move"]) if p_close is not None else None,
        reason=reason,
        sides=[
            CloseSide(
                side=side_a,  # type: ignore[arg-type]
                odds=row["price_a"],
                open_probability=p_open,
                predicted_close=p_close,
                expected_clv=finite(row["clv_a"]) if p_close is not None else None,
            ),
            CloseSide(
                side=side_b,  # type: ignore[arg-type]
                odds=row["price_b"],
                open_probability=None if p_open is None else 1.0 - p_open,
                predicted_close=None if p_close is None else 1.0 - p_close,
                expected_clv=finite(row["clv_b"]) if p_close is not None else None,
            ),
        ],
    )
