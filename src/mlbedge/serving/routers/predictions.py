"""Predictions: one game, or a bounded batch, from the online store in one round trip.

No ``from __future__ import annotations`` here: the batch route's body type is built per app
(its size bound comes from the settings), and FastAPI must see it as an object, not a string.
"""

from typing import Annotated

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Response
from pydantic import BaseModel

from mlbedge.serving.answers import to_predictions
from mlbedge.serving.dependencies import ServingState, get_state
from mlbedge.serving.models import ModelSet
from mlbedge.serving.predict import predict_rows
from mlbedge.serving.responses import VALIDATION_DOCS, error_docs, json_response
from mlbedge.serving.schemas import (
    EXAMPLE_GAME_ID,
    GAME_ID_PATTERN,
    BatchPredictionResponse,
    Prediction,
    batch_request_model,
)
from mlbedge.store.base import ReadResult

__all__ = ["build_router"]


def _read(state: ServingState, game_ids: list[str]) -> ReadResult:
    result = state.store.read(game_ids)
    state.metrics.record_read(result.degraded)
    return result


def _keep(state: ServingState, models: ModelSet, result: ReadResult, predictions: list[Prediction]) -> None:
    """Keep the answers just computed from the online store's rows ready for the next request."""
    if state.ready is not None:
        state.ready.remember(models, result.rows, predictions)


def _count(state: ServingState, predictions: list[Prediction]) -> None:
    state.metrics.count_predictions(m.market for p in predictions for m in p.markets)


def build_router(batch_max: int) -> APIRouter:
    """The prediction routes, with batches bounded by ``batch_max`` (documented in the schema)."""
    router = APIRouter(tags=["predictions"])
    request_model: type[BaseModel] = batch_request_model(batch_max)

    @router.get(
        "/v1/predictions/{game_id}",
        response_model=Prediction,
        summary="One game's prediction",
        responses={**VALIDATION_DOCS, **error_docs(404, 429, 503)},
    )
    async def predict_one(
        game_id: Annotated[
            str,
            Path(
                pattern=GAME_ID_PATTERN,
                description="YYYYMMDD-AWAY-HOME-N: local date, away and home team, game number.",
                examples=[EXAMPLE_GAME_ID],
            ),
        ],
        state: ServingState = Depends(get_state),
    ) -> Response:
        """Per market the model's and the market's probabilities at ``as_of`` and the edge per side."""
        models = state.models.current.require()
        result = _read(state, [game_id])
        if not result.rows:
            raise HTTPException(
                status_code=404,
                detail=f"game {game_id} not found: no features for it in the online store",
            )
        predictions = to_predictions(predict_rows(models, result.rows), result.degraded, result)
        _keep(state, models, result, predictions)
        _count(state, predictions)
        return json_response(predictions[0])

    @router.post(
        "/v1/predictions",
        response_model=BatchPredictionResponse,
        summary=f"A batch of up to {batch_max} games",
        responses={**VALIDATION_DOCS, **error_docs(400, 429, 503)},
    )
    async def predict_batch(
        body: Annotated[request_model, Body()],  # type: ignore[valid-type]
        state: ServingState = Depends(get_state),
    ) -> Response:
        """One prediction per requested id found (request order, repeats answered again); the ids
        with no features are listed in ``not_found``."""
        models = state.models.current.require()
        ids: list[str] = body.game_ids  # type: ignore[attr-defined]
        result = _read(state, ids)
        predictions = to_predictions(predict_rows(models, result.rows), result.degraded, result)
        _keep(state, models, result, predictions)
        by_id = {p.game_id: p for p in predictions}
        ordered = [by_id[g] for g in ids if g in by_id]
        _count(state, ordered)
        missing = list(dict.fromkeys(g for g in ids if g not in by_id))
        return json_response(
            BatchPredictionResponse(predictions=ordered, not_found=missing, degraded=result.degraded)
        )

    return router
