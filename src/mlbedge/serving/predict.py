"""From online-store rows to per-market probabilities, the market's view at the cutoff, and edges.

Everything here is numpy on whole batches: the rows of one request become one float matrix (nulls
as NaN), each model predicts on its columns of it in one call, and the market columns are read
from the same matrix. No database and no Redis: the caller hands over the rows it read.

Per market, the model predicts side A (home, over, home) and side B is its complement:

- ``moneyline``: no line; the market's probability is ``ml_home_prob``.
- ``total``: the line is the consensus total at the cutoff (``total_line``, a mean over books)
  rounded to the nearest half run, a line books offer, the model's ``target_line`` input; the
  market's probability is ``total_over_prob``. Recommendations price every book's own total.
- ``runline``: the line follows from the moneyline at the cutoff, the rule the labels use
  (:func:`mlbedge.training.targets.label_frame`): home -1.5 when favoured (``ml_home_prob > 0.5``),
  else +1.5. The market's probability is ``rl_home_cover_prob`` only where the priced run line
  (``rl_home_line``) is that line, else unknown.

The **edge** of a side is the expected profit per unit staked at the market's fair price,
``p_model / p_market - 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mlbedge.betting.strategy import P_CLIP
from mlbedge.domain.markets import MARKET_SIDES
from mlbedge.serving.models import LoadedModel, ModelSet
from mlbedge.store.base import FeatureRow

FloatArray = npt.NDArray[np.float64]

SIDES: dict[str, tuple[str, str]] = MARKET_SIDES
MARKET_FEATURE = {"moneyline": "ml_home_prob", "total": "total_over_prob", "runline": "rl_home_cover_prob"}


@dataclass(frozen=True)
class MarketBlock:
    """One market's numbers for every row of a batch (arrays of length n, NaN = unknown)."""

    market: str
    model: LoadedModel
    line: FloatArray
    p_a: FloatArray
    market_a: FloatArray


@dataclass(frozen=True)
class BatchPrediction:
    """The numbers of one batch of rows: per market a block, and each row's feature completeness."""

    rows: list[FeatureRow]
    matrix: FloatArray
    completeness: FloatArray
    markets: list[MarketBlock]
    unavailable: dict[str, str]


def feature_matrix(rows: Sequence[FeatureRow]) -> FloatArray:
    """The rows' values as one float matrix (None -> NaN). Rows must share one layout."""
    if not rows:
        return np.empty((0, 0))
    return np.array([r.values for r in rows], dtype=np.float64)


def _column(matrix: FloatArray, names: tuple[str, ...], name: str) -> FloatArray:
    try:
        return matrix[:, names.index(name)]
    except ValueError:
        return np.full(matrix.shape[0], np.nan)


def market_line(market: str, matrix: FloatArray, names: tuple[str, ...]) -> FloatArray:
    """The line each row is predicted for (NaN for the moneyline, or where it is unknown)."""
    if market == "total":
        # A mean of 8.5 and 8.0 is no line anyone offers: the nearest half run is.
        return np.round(_column(matrix, names, "total_line") * 2.0) / 2.0
    if market == "runline":
        favoured = _column(matrix, names, "ml_home_prob")
        with np.errstate(invalid="ignore"):
            return np.where(np.isnan(favoured), np.nan, np.where(favoured > 0.5, -1.5, 1.5))
    return np.full(matrix.shape[0], np.nan)


def market_probability(
    market: str, matrix: FloatArray, names: tuple[str, ...], line: FloatArray
) -> FloatArray:
    """The market's de-vigged probability of side A at the cutoff, at ``line`` (NaN: not priced)."""
    prob = _column(matrix, names, MARKET_FEATURE[market])
    if market == "runline":
        priced_line = _column(matrix, names, "rl_home_line")
        prob = np.where(priced_line == line, prob, np.nan)
    return prob


def model_inputs(
    model: LoadedModel, matrix: FloatArray, names: tuple[str, ...], line: FloatArray
) -> FloatArray:
    """The model's input matrix: its columns of ``matrix`` in its order, ``line`` as ``target_line``."""
    plan = model.plan(names)
    x = matrix[:, np.maximum(plan.index, 0)]
    if plan.absent or plan.line_column is not None:
        x[:, plan.index < 0] = np.nan
    if plan.line_column is not None:
        x[:, plan.line_column] = line
    return x


def side_a_probability(model: LoadedModel, x: FloatArray) -> FloatArray:
    """The model's calibrated probability of side A per row, kept inside (0, 1)."""
    return np.clip(np.asarray(model.model.predict_many(x), dtype=np.float64), P_CLIP, 1.0 - P_CLIP)


def predict_rows(models: ModelSet, rows: list[FeatureRow]) -> BatchPrediction:
    """Every served market's probabilities for ``rows`` (one predict call per model)."""
    if not rows:
        return BatchPrediction([], np.empty((0, 0)), np.empty(0), [], dict(models.unavailable))
    names = rows[0].names
    if any(r.names != names for r in rows[1:]):
        # Rows of two slate layouts (a feature-set switch mid-batch): predict each layout apart.
        return _predict_mixed(models, rows)
    matrix = feature_matrix(rows)
    completeness = 1.0 - np.isnan(matrix).mean(axis=1) if matrix.shape[1] else np.zeros(len(rows))
    blocks = []
    for market in SIDES:
        model = models.models.get(market)
        if model is None:
            continue
        line = market_line(market, matrix, names)
        x = model_inputs(model, matrix, names, line)
        blocks.append(
            MarketBlock(
                market,
                model,
                line,
                side_a_probability(model, x),
                market_probability(market, matrix, names, line),
            )
        )
    return BatchPrediction(rows, matrix, completeness, blocks, dict(models.unavailable))


def _predict_mixed(models: ModelSet, rows: list[FeatureRow]) -> BatchPrediction:
    groups: dict[tuple[str, ...], list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(row.names, []).append(i)
    n = len(rows)
    completeness = np.zeros(n)
    blocks: dict[str, dict[str, FloatArray]] = {}
    for members in groups.values():
        part = predict_rows(models, [rows[i] for i in members])
        completeness[members] = part.completeness
        for block in part.markets:
            arrays = blocks.setdefault(
                block.market, {k: np.full(n, np.nan) for k in ("line", "p_a", "market_a")}
            )
            arrays["line"][members] = block.line
            arrays["p_a"][members] = block.p_a
            arrays["market_a"][members] = block.market_a
    merged = [MarketBlock(m, models.models[m], a["line"], a["p_a"], a["market_a"]) for m, a in blocks.items()]
    return BatchPrediction(rows, np.empty((0, 0)), completeness, merged, dict(models.unavailable))


def edge(probability: FloatArray, market: FloatArray) -> FloatArray:
    """``p / p_market - 1`` (NaN where the market is unknown)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((market > 0.0) & (market < 1.0), probability / market - 1.0, np.nan)
