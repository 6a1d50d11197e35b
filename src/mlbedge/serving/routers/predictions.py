"""Predictions: one game, or a bounded batch, from the online store in one round trip.

No ``from __future__ import annotations`` here: the batch route's body type is built per app
(its size bound comes from the settings), and FastAPI must see it as an object, not a string.
"""

import math
from typing import Annotated, Any

import numpy as np
from fastapi import APIRouter, Body, Depends, HTTPException, Path, Response
from pydantic import BaseModel

from mlbedge.serving.dependencies import ServingState, get_state
from mlbedge.serving.predict import SIDES, BatchPrediction, edge, predict_rows
from mlbedge.serving.responses import VALIDATION_DOCS, error_docs, json_response
from mlbedge.serving.schemas import (
    EXAMPLE_GAME_ID,
    GAME_ID_PATTERN,
    BatchPredictionResponse,
    MarketPrediction,
    ModelRef,
    Prediction,
    SidePrediction,
    batch_request_model,
)
from mlbedge.store.base import ReadResult


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def to_predictions(
    batch: BatchPrediction, degraded: bool, read: ReadResult | None = None
) -> list[Prediction]:
    """Response models of a batch, one per row, in the rows' order. With ``read`` (the read the
    rows came from) each game says where its features were read; else ``degraded`` says it."""
    columns: list[tuple[Any, ModelRef, list[float], list[float], list[float], list[float], list[float]]] = []
    for block in batch.markets:
        ref = ModelRef(
            name=block.model.name,
            version=block.model.version,
            feature_set_version=block.model.feature_set_version,
        )
        p_b = 1.0 - block.p_a
        columns.append(
            (
                block.market,
                ref,
                block.line.tolist(),
                block.p_a.tolist(),
                block.market_a.tolist(),
                edge(block.p_a, block.market_a).tolist(),
                edge(p_b, 1.0 - block.market_a).tolist(),
            )
        )
    completeness = batch.completeness.tolist()
    out = []
    for i, row in enumerate(batch.rows):
        source = (
            read.source_of(row.game_id) if read is not None else ("postgres" if degraded else "online_store")
        )
        markets = []
        unavailable = dict(batch.unavailable)
        for market, ref, lines, p_a, m_a, edge_a, edge_b in columns:
            p = p_a[i]
            if not math.isfinite(p):
                unavailable[market] = "the model gave no probability for this game"
                continue
            m = _finite(m_a[i])
            side_a, side_b = SIDES[market]
            markets.append(
                MarketPrediction(
                    market=market,
                    line=_finite(lines[i]),
                    model=ref,
                    sides=[
                        SidePrediction(
                            side=side_a, probability=p, market_probability=m, edge=_finite(edge_a[i])
                        ),
                        SidePrediction(
                            side=side_b,
                            probability=1.0 - p,
                            market_probability=None if m is None else 1.0 - m,
                            edge=_finite(edge_b[i]),
                        ),
                    ],
                )
            )
        out.append(
            Prediction(
                game_id=row.game_id,
                date=row.date,
                as_of=row.as_of,
                feature_set_version=row.feature_set_version,
                feature_completeness=float(np.clip(completeness[i], 0.0, 1.0)),
                degraded=source == "postgres",
                features_source=source,
                markets=markets,
                unavailable=unavailable,
            )
        )
    return out


def _read(state: ServingState, game_ids: list[str]) -> ReadResult:
    result = state.store.read(game_ids)
    state.metrics.record_read(result.degraded)
    return result


def _count(state: ServingState, predictions: list[Prediction]) -> None:
    per_market: dict[str, int] = {}
    for prediction in predictions:
        for market in prediction.markets:
            per_market[market.market] = per_market.get(market.market, 0) + 1
    for market, n in per_market.items():
        state.metrics.predictions.labels(market).inc(n)


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
        by_id = {p.game_id: p for p in predictions}
        ordered = [by_id[g] for g in ids if g in by_id]
        _count(state, ordered)
        missing = list(dict.fromkeys(g for g in ids if g not in by_id))
        return json_response(
            BatchPredictionResponse(predictions=ordered, not_found=missing, degraded=result.degraded)
        )

    return router
