"""The close rule: bet the open toward the predicted close, sized by Kelly on the predicted close."""

from __future__ import annotations

import math

import polars as pl
import pytest

from mlbedge.betting.kelly import StakingPolicy
from mlbedge.betting.strategy import CloseRule


def _offers(p_close: list[float], p_open: list[float]) -> pl.DataFrame:
    n = len(p_close)
    return pl.DataFrame(
        {
            "game_id": [f"g{i}" for i in range(n)],
            "market": ["moneyline"] * n,
            "book": ["sbro"] * n,
            "line": [None] * n,
            "price_a": [-110] * n,
            "price_b": [-110] * n,
            "p_a": p_close,
            "p_open_a": p_open,
        },
        schema_overrides={"line": pl.Float64},
    )


def test_bets_the_side_the_close_is_predicted_to_move_toward() -> None:
    # g0: home expected to firm (0.50 -> 0.56); g1: away expected to firm; g2: a move below the margin.
    rule = CloseRule(margin=0.04, policy=StakingPolicy(kelly_fraction=0.25))
    decision = rule.decide(_offers([0.56, 0.44, 0.505], [0.50, 0.50, 0.50]), 1000.0)
    sides = dict(zip(decision.candidates["game_id"], decision.candidates["side"], strict=True))
    assert sides == {"g0": "home", "g1": "away"}
    bets = decision.bets.sort("game_id")
    assert bets["side"].to_list() == ["home", "away"]
    decimal = 1 + 100 / 110
    # The probability Kelly sizes with is the predicted close; its edge is the expected CLV.
    assert bets["probability"].to_list() == pytest.approx([0.56, 0.56])
    assert bets["edge"].to_list() == pytest.approx([0.56 * decimal - 1] * 2)
    assert (bets["stake"] > 0).all() and (bets["fraction"] <= 0.05 + 1e-12).all()


def test_no_bet_without_a_predicted_move_beyond_the_margin_or_a_positive_edge() -> None:
    # A move of logit 0.05 toward home clears the margin but at -110 the predicted close 0.5125
    # is below the break-even 0.5238: a candidate, no stake.
    p = 1 / (1 + math.exp(-0.05))
    decision = CloseRule(margin=0.04).decide(_offers([p], [0.5]), 1000.0)
    assert decision.candidates.height == 1 and decision.bets.is_empty()
    assert CloseRule(margin=0.10).decide(_offers([0.52], [0.5]), 1000.0).candidates.is_empty()
