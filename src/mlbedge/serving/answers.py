"""Predictions as the API answers them: the response models of a predicted batch of rows."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from mlbedge.serving.predict import SIDES, BatchPrediction, edge
from mlbedge.serving.schemas import MarketPrediction, ModelRef, Prediction, SidePrediction
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
