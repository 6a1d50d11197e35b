"""The skill gate, the logit blend and the edge cap, on records whose truth is known by construction."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from mlbedge.betting import skill


def _record(
    n: int, *, model_noise: float, market_noise: float, seasons: tuple[int, ...], seed: int = 1
) -> pl.DataFrame:
    """Games whose true probability is known: outcomes drawn from it, the model and the market
    each the truth blurred on the logit scale by their own noise."""
    rng = np.random.default_rng(seed)
    truth = rng.uniform(0.3, 0.7, n)
    logit = np.log(truth / (1 - truth))
    y = (rng.uniform(size=n) < truth).astype(float)
    blur = lambda s: 1 / (1 + np.exp(-(logit + rng.normal(0, s, n))))  # noqa: E731
    return pl.DataFrame(
        {
            "season": np.repeat(np.asarray(seasons), -(-n // len(seasons)))[:n],
            "p_model": blur(model_noise),
            "p_market": blur(market_noise),
            "y": y,
        }
    )


def test_a_model_sharper_than_the_market_passes_and_earns_weight() -> None:
    record = _record(20_000, model_noise=0.05, market_noise=0.6, seasons=(2013, 2014, 2015))
    gate = skill.skill_gate(record, "moneyline", before_season=2016, n_resamples=300)
    assert gate.passed and gate.ci is not None and gate.ci[1] < 0 and gate.difference is not None
    assert gate.seasons == [2013, 2014, 2015] and gate.n_games == 20_000
    assert gate.weight > 0.7 and "beat the price" in gate.reason
    doc = gate.as_dict()
    assert set(doc) >= {"passed", "reason", "seasons", "difference", "ci"} and doc["ci"] == list(gate.ci)


def test_a_model_no_better_than_the_market_places_no_bet_and_says_why() -> None:
    record = _record(20_000, model_noise=0.6, market_noise=0.05, seasons=(2014, 2015))
    gate = skill.skill_gate(record, "runline", before_season=2016, n_resamples=300)
    assert not gate.passed and gate.weight == 0.0
    assert gate.ci is not None and gate.ci[1] >= 0
    assert gate.reason.startswith("runline: no bet, the model has not beaten the price")
    assert "does not lie below zero" in gate.reason
    # Switched off, the market bets on the model alone, and the record is still reported.
    off = skill.skill_gate(record, "runline", before_season=2016, n_resamples=300, enabled=False)
    assert off.passed and not off.enabled and off.weight == 1.0 and off.reason.startswith("gate off;")
    assert off.difference == pytest.approx(gate.difference)


def test_only_seasons_before_the_one_bet_count() -> None:
    good = _record(6_000, model_noise=0.05, market_noise=0.8, seasons=(2016,))
    bad = _record(6_000, model_noise=0.8, market_noise=0.05, seasons=(2015,), seed=2)
    gate = skill.skill_gate(pl.concat([bad, good]), "total", before_season=2016, n_resamples=300)
    assert gate.seasons == [2015] and not gate.passed  # the 2016 games, however good, are not seen
    few = skill.skill_gate(good.head(50), "total", n_resamples=100)
    assert not few.passed and "only 50 out-of-sample games (2016)" in few.reason and "needs 200" in few.reason
    none = skill.skill_gate(good.with_columns(p_market=None), "runline")
    assert not none.passed and none.reason.startswith("runline: no out-of-sample game had a price")


def test_blend_and_cap() -> None:
    model, market = np.array([0.7, 0.2]), np.array([0.5, 0.4])
    assert skill.blend(model, market, 0.0) == pytest.approx(market)
    assert skill.blend(model, market, 1.0) == pytest.approx(model)
    half = skill.blend(model, market, 0.5)
    assert np.all((half > np.minimum(model, market)) & (half < np.maximum(model, market)))
    capped = skill.cap_probability(np.array([0.8, 0.4]), np.array([2.0, 2.0]), 0.1)
    assert capped == pytest.approx([0.55, 0.4])  # 0.55 * 2 - 1 = the 10% cap; 0.4 is untouched
    record = _record(5_000, model_noise=0.3, market_noise=0.3, seasons=(2015,))
    assert 0.2 < skill.fit_blend_weight(record) < 0.8  # two equally noisy views: both count


def test_a_closed_gate_places_no_bet_and_a_zero_weight_bets_the_market_only() -> None:
    """On the hand season: the constant model bets the moneyline; a failed gate stops it; an open
    gate of weight 0 prices every side at the market's own fair price, which never beats the vig."""
    from mlbedge.betting.backtest import ModelStrategy, run_backtest
    from tests.betting import hand_season as hs
    from tests.betting.test_backtest import _ConstantModel

    models = {"moneyline": _ConstantModel("moneyline")}
    free = run_backtest(hs.inputs(), ModelStrategy(models))
    assert free.bets.height > 0
    closed = skill.Gate("moneyline", passed=False, reason="moneyline: no bet, test")
    assert run_backtest(hs.inputs(), ModelStrategy(models, gates={"moneyline": closed})).bets.is_empty()
    market_only = skill.Gate("moneyline", passed=True, reason="open", weight=0.0)
    assert run_backtest(hs.inputs(), ModelStrategy(models, gates={"moneyline": market_only})).bets.is_empty()
    capped = ModelStrategy(models, max_edge=0.01)
    assert run_backtest(hs.inputs(), capped).bets["edge"].max() <= 0.01 + 1e-12


# ----------------------------------------------------------------------------------------------
# the close strategy's gate: the CLV of the close rule's out-of-fold bets


def _moves(
    n: int, *, skill: float, seasons: tuple[int, ...], noise: float = 0.03, seed: int = 3
) -> pl.DataFrame:
    """Games at -110/-110 whose actual move is part predictable: the model predicts ``skill`` x the
    move plus noise (skill 0: pure noise, its bets earn the overround's negative CLV)."""
    rng = np.random.default_rng(seed)
    move = rng.normal(0.0, 0.15, n)
    predicted = skill * move + rng.normal(0.0, noise, n)
    days = np.arange(n) // 15  # fifteen games a day
    return pl.DataFrame(
        {
            "game_id": [f"{2013 + d // 180}{(d % 180) + 1000:04d}-G{i:05d}" for i, d in enumerate(days)],
            "season": np.repeat(np.asarray(seasons), -(-n // len(seasons)))[:n],
            "p_model": predicted,
            "p_market": np.full(n, 0.5),
            "y": move,
            "open_decimal_yes": np.full(n, 1 + 100 / 110),
            "open_decimal_no": np.full(n, 1 + 100 / 110),
        }
    )


def test_the_close_rule_bets_the_side_the_predicted_close_favours_with_a_positive_expected_clv() -> None:
    record = _moves(3_000, skill=1.0, seasons=(2013, 2014))
    bets = skill.close_bets(record, margin=0.04)
    # At -110 a side needs a predicted close above 1/1.909 = 0.5238, a move above logit 0.0953.
    joined = bets.join(record, on="game_id")
    assert (joined["p_model"].abs() > 0.0953).all() and bets.height > 500
    assert ((joined["p_model"] > 0) == (bets["side"] == "a")).all()
    close = 1 / (1 + np.exp(-joined["y"].to_numpy()))
    side_close = np.where(bets["side"].to_numpy() == "a", close, 1 - close)
    assert np.allclose(bets["clv"].to_numpy(), side_close * (1 + 100 / 110) - 1)


def test_the_close_gate_opens_on_positive_clv_and_stays_shut_otherwise() -> None:
    sharp = skill.close_gate(
        _moves(6_000, skill=1.0, seasons=(2013, 2014, 2015)), "moneyline", n_resamples=300
    )
    assert sharp.passed and sharp.measure == "clv" and sharp.ci is not None and sharp.ci[0] > 0
    assert sharp.difference is not None and sharp.difference > 0 and sharp.weight == 1.0
    assert "beat the open" in sharp.reason and sharp.as_dict()["measure"] == "clv"
    blind = skill.close_gate(
        _moves(6_000, skill=0.0, seasons=(2013, 2014, 2015), noise=0.15), "moneyline", n_resamples=300
    )
    assert not blind.passed and blind.difference is not None and blind.difference < 0
    assert "no bet" in blind.reason
    few = skill.close_gate(_moves(150, skill=1.0, seasons=(2013,)), "total", n_resamples=300)
    assert not few.passed and few.difference is None and "needs 100" in few.reason
    # Only seasons before the one bet count; the gate switched off still reports the record.
    later = skill.close_gate(_moves(6_000, skill=1.0, seasons=(2016,)), "moneyline", before_season=2016)
    assert not later.passed and later.n_games == 0
    off = skill.close_gate(
        _moves(6_000, skill=0.0, seasons=(2014,), noise=0.15), "moneyline", enabled=False, n_resamples=300
    )
    assert off.passed and not off.enabled and off.reason.startswith("gate off;")


def test_the_verdict_names_a_close_gate_by_its_clv_and_a_pooled_one_by_its_seasons() -> None:
    from mlbedge.betting.verdict import verdict

    nothing = {"n_bets": 0}
    clv = {"passed": False, "measure": "clv", "difference": -0.0033, "ci": [-0.0052, -0.0013], "n_games": 500}
    assert "total: CLV -0.33% at the open [-0.52%, -0.13%]" in verdict(nothing, {"total": clv})
    few = {"passed": False, "measure": "clv", "difference": None, "ci": None, "n_games": 67}
    assert "total: 67 out-of-sample bets at the open, too few to judge" in verdict(nothing, {"total": few})
    pooled = {"passed": False, "measure": "clv", "by_season": {"2015": few, "2016": {**clv, "passed": True}}}
    assert "total: gate shut in 1 of 2 seasons (2015)" in verdict(nothing, {"total": pooled})
