"""Kelly staking: closed-form single bets, a slate where the joint answer differs from the separate
ones, the sampled approximation against exact enumeration, and every step of the staking policy.

Hand values are worked out in the comments: ``b`` is the profit per unit staked (+100: 1,
-110: 10/11, +150: 3/2, -150: 2/3) and ``f* = p - q / b``.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlbedge.betting.kelly import (
    CandidateBet,
    DropReason,
    StakingPolicy,
    expected_log_growth,
    fractional_kelly,
    kelly_fraction,
    recommend_stakes,
    simultaneous_kelly,
    size_slate,
)

# A policy that leaves Kelly alone, so each test switches on only the rule it is about.
LOOSE = {
    "kelly_fraction": 1.0,
    "max_stake_per_bet": 1.0,
    "max_stake_per_game": 1.0,
    "max_exposure": 1.0,
    "stake_unit": 1.0,
}


def slate(*rows: tuple[str, str, str, float, int | None]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "game_id": pl.String,
            "market": pl.String,
            "side": pl.String,
            "probability": pl.Float64,
            "odds": pl.Int64,
        },
        orient="row",
    )


# ----------------------------------------------------------------------------------------------
# one bet


@pytest.mark.parametrize(
    ("p", "odds", "expected"),
    [
        (0.55, 100, 0.10),  # 0.55 - 0.45 / 1
        (0.5, -110, 0.0),  # 0.5 - 0.5 * 1.1 = -0.05: no bet
        (0.45, 150, 1 / 12),  # 0.45 - 0.55 / 1.5 = 0.45 - 0.3667
        (0.7, -150, 0.25),  # 0.7 - 0.3 * 1.5
        (0.6, -150, 0.0),  # 0.6 - 0.4 * 1.5 = 0: a fair price, no edge
        (0.4, 100, 0.0),  # negative edge: nothing, not a negative stake
        (1.0, -200, 1.0),  # a certain win takes everything
        (0.0, 300, 0.0),
    ],
)
def test_kelly_fraction_closed_form(p: float, odds: int, expected: float) -> None:
    assert kelly_fraction(p, odds) == pytest.approx(expected, abs=1e-12)


def test_kelly_fraction_maximises_the_growth_of_one_bet() -> None:
    f = kelly_fraction(0.45, 150)
    best = expected_log_growth([f], [0.45], [150])
    assert best > expected_log_growth([f - 0.002], [0.45], [150])
    assert best > expected_log_growth([f + 0.002], [0.45], [150])


def test_fractional_kelly_is_a_share_of_full_kelly() -> None:
    assert fractional_kelly(0.55, 100, 0.25) == pytest.approx(0.025, abs=1e-12)
    assert fractional_kelly(0.5, -110, 0.5) == 0.0
    for bad in (0.0, -0.25, 1.5, math.nan):
        with pytest.raises(ValueError, match="Kelly fraction"):
            fractional_kelly(0.55, 100, bad)


def test_kelly_fraction_vectorised_matches_scalars_and_marks_bad_entries() -> None:
    p = np.array([0.55, 0.5, 0.45, 0.7, 0.55, 1.2])
    odds = np.array([100, -110, 150, -150, 50, 100])  # 50 is no price; 1.2 no probability
    got = kelly_fraction(p, odds)
    assert got[:4] == pytest.approx([0.10, 0.0, 1 / 12, 0.25], abs=1e-12)
    assert np.isnan(got[4:]).all()
    with pytest.raises(ValueError, match="American odds 50"):
        kelly_fraction(0.55, 50)
    with pytest.raises(ValueError, match=r"probability 1\.2"):
        kelly_fraction(1.2, 100)


# ----------------------------------------------------------------------------------------------
# a slate


def test_two_identical_bets_share_the_bankroll() -> None:
    """Two independent bets of 0.55 at +100, stake f each: both win (p^2) gives 1 + 2f, one each
    (2pq) gives 1, both lose (q^2) gives 1 - 2f. The growth p^2 log(1+2f) + q^2 log(1-2f) peaks at
    f = (p^2 - q^2) / (2 (p^2 + q^2)) = 0.1 / (2 * 0.505) = 10/101 = 0.0990, below 0.10 each alone."""
    fractions = simultaneous_kelly([0.55, 0.55], [100, 100])
    assert fractions == pytest.approx([10 / 101, 10 / 101], abs=1e-12)
    assert fractions[0] < kelly_fraction(0.55, 100)

    def growth(f: float) -> float:
        return 0.55**2 * math.log(1 + 2 * f) + 0.45**2 * math.log(1 - 2 * f)

    joint = expected_log_growth(fractions, [0.55, 0.55], [100, 100])
    separate = expected_log_growth([0.1, 0.1], [0.55, 0.55], [100, 100])
    assert joint == pytest.approx(growth(10 / 101), abs=1e-15)  # 0.0099668...
    assert separate == pytest.approx(growth(0.1), abs=1e-15)  # 0.0099652...
    assert joint > separate


def test_simultaneous_kelly_matches_a_grid_search() -> None:
    p, odds = [0.45, 0.58], [150, -120]
    got = simultaneous_kelly(p, odds)
    grid = np.arange(0.0, 0.4, 0.0005)
    f1, f2 = np.meshgrid(grid, grid, indexing="ij")
    # Outcomes: (win, win), (win, lose), (lose, win), (lose, lose); b = 1.5 and 5/6.
    growth = (
        0.45 * 0.58 * np.log(1 + 1.5 * f1 + 5 / 6 * f2)
        + 0.45 * 0.42 * np.log(1 + 1.5 * f1 - f2)
        + 0.55 * 0.58 * np.log(1 - f1 + 5 / 6 * f2)
        + 0.55 * 0.42 * np.log(1 - f1 - f2)
    )
    i, j = np.unravel_index(np.argmax(growth), growth.shape)
    assert got == pytest.approx([grid[i], grid[j]], abs=0.001)
    assert expected_log_growth(got, p, odds) >= growth.max() - 1e-12
    assert (got < kelly_fraction(np.array(p), np.array(odds))).all()


def test_bets_without_edge_get_nothing_and_leave_the_others_alone() -> None:
    got = simultaneous_kelly([0.55, 0.5, 0.4], [100, -110, 100])
    assert got == pytest.approx([0.10, 0.0, 0.0], abs=1e-12)  # one bet left: its own Kelly
    assert (simultaneous_kelly([0.5, 0.45], [-110, 100]) == 0.0).all()


def _slate_of(n: int, seed: int, disagreement: float) -> tuple[np.ndarray, np.ndarray]:
    """``n`` prices 2.25 points over a market probability (a 4.5% margin), and model probabilities
    that differ from the market's by a normal error of sd ``disagreement``."""
    rng = np.random.default_rng(seed)
    market = rng.uniform(0.35, 0.65, n)
    implied = market + 0.0225
    odds = np.where(implied > 0.5, -100 * implied / (1 - implied), 100 * (1 - implied) / implied).round()
    model = np.clip(market + rng.normal(0.0, disagreement, n), 0.05, 0.95)
    return model, odds


@pytest.mark.parametrize(
    ("seed", "disagreement", "max_gap", "max_growth_lost"),
    [
        # A model within a couple of points of the market: Kelly stakes up to ~0.1, ~0.3 in total.
        (1, 0.02, 1e-4, 1e-9),
        (2, 0.02, 1e-4, 1e-9),
        # Twice that: stakes up to ~0.27, ~0.8 of the bankroll in total, far from the control
        # variate's comfort, still within a tenth of a percent of the bankroll.
        (3, 0.04, 2e-3, 1e-5),
        (4, 0.04, 2e-3, 1e-5),
    ],
)
def test_sampled_approximation_is_close_to_exact_enumeration(
    seed: int, disagreement: float, max_gap: float, max_growth_lost: float
) -> None:
    p, odds = _slate_of(200, seed, disagreement)
    bettable = kelly_fraction(p, odds) > 0
    p, odds = p[bettable][:14], odds[bettable][:14]
    assert p.size == 14
    exact = simultaneous_kelly(p, odds, max_exact=14)
    sampled = simultaneous_kelly(p, odds, max_exact=13)
    assert np.abs(exact - sampled).max() < max_gap
    lost = expected_log_growth(exact, p, odds) - expected_log_growth(sampled, p, odds)
    assert 0.0 <= lost < max_growth_lost
    assert (sampled == simultaneous_kelly(p, odds, max_exact=13)).all()  # seeded: always the same
    assert not (sampled == simultaneous_kelly(p, odds, max_exact=13, seed=1)).all()


def test_large_slate_is_feasible() -> None:
    p, odds = _slate_of(45, 7, 0.03)
    got = simultaneous_kelly(p, odds)
    single = kelly_fraction(p, odds)
    assert (got[single == 0] == 0).all()
    assert (got[single > 0] > 0).all()
    assert got.sum() < 1.0
    assert got.sum() < single.sum()


def test_slate_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match=r"probability 1\.0 for bet 1"):
        simultaneous_kelly([0.55, 1.0], [100, 100])
    with pytest.raises(ValueError, match=r"odds 99\.0 for bet 0"):
        simultaneous_kelly([0.55, 0.5], [99, 100])
    with pytest.raises(ValueError, match="one probability per price"):
        simultaneous_kelly([0.55, 0.5], [100])


# ----------------------------------------------------------------------------------------------
# staking policy


def test_exposure_cap_scales_the_whole_slate() -> None:
    """Four bets of 0.10 Kelly each (independent method): 0.40 of the bankroll, capped at 0.20, so
    every stake is halved: 0.05 * 1000 = 50."""
    bets = slate(*((f"g{i}", "moneyline", "home", 0.55, 100) for i in range(4)))
    policy = StakingPolicy(**{**LOOSE, "max_exposure": 0.2, "method": "independent"})
    sized = size_slate(bets, 1000, policy)
    assert sized["stake"].to_list() == [50.0] * 4
    assert sized["fraction"].to_list() == [0.05] * 4
    assert sized["reason"].null_count() == 4


def test_per_game_cap_counts_the_markets_of_one_game_together() -> None:
    """g1's moneyline and total each want 0.10: 0.20 for the game, capped at 0.15, so 75 each; g2's
    single 0.10 bet is under the cap and keeps 100."""
    bets = slate(
        ("g1", "moneyline", "home", 0.55, 100),
        ("g1", "total", "over", 0.55, 100),
        ("g2", "moneyline", "away", 0.55, 100),
    )
    policy = StakingPolicy(**{**LOOSE, "max_stake_per_game": 0.15, "method": "independent"})
    assert size_slate(bets, 1000, policy)["stake"].to_list() == [75.0, 75.0, 100.0]


def test_per_bet_cap_and_fractional_kelly() -> None:
    bets = slate(("g1", "moneyline", "home", 0.7, -150), ("g2", "moneyline", "home", 0.55, 100))
    # Full Kelly 0.25 and 0.10; a half gives 0.125 and 0.05; the per-bet cap of 0.06 cuts the first.
    policy = StakingPolicy(
        **{**LOOSE, "kelly_fraction": 0.5, "max_stake_per_bet": 0.06, "method": "independent"}
    )
    sized = size_slate(bets, 1000, policy)
    assert sized["stake"].to_list() == [60.0, 50.0]
    assert sized["kelly"].to_list() == pytest.approx([0.25, 0.10], abs=1e-12)


def test_stakes_round_down_to_the_unit() -> None:
    bets = slate(("g1", "moneyline", "home", 0.55, 100))
    quarter = {**LOOSE, "kelly_fraction": 0.25}  # 0.025 of the bankroll

    def policy(unit: float) -> StakingPolicy:
        return StakingPolicy(**{**quarter, "stake_unit": unit})

    assert size_slate(bets, 1234, policy(1))["stake"].item() == 30.0  # 30.85
    assert size_slate(bets, 1000, policy(10))["stake"].item() == 20.0  # 25
    assert size_slate(bets, 1000, policy(5))["stake"].item() == 25.0  # exactly 5 units
    assert size_slate(bets, 1000, policy(0.01))["stake"].item() == 25.0
    assert size_slate(bets, 1001, policy(0.01))["stake"].item() == pytest.approx(25.02)  # 25.025
    small = size_slate(bets, 100, policy(5))  # 2.5: under one unit
    assert small["stake"].item() == 0.0
    assert small["reason"].item() == DropReason.BELOW_UNIT


def test_simultaneous_method_is_the_default() -> None:
    bets = slate(("g1", "moneyline", "home", 0.55, 100), ("g2", "total", "under", 0.55, 100))
    sized = size_slate(bets, 1000, StakingPolicy(**LOOSE))
    assert sized["kelly_slate"].to_list() == pytest.approx([10 / 101] * 2, abs=1e-12)
    assert sized["stake"].to_list() == [99.0, 99.0]  # 1000 * 10/101 = 99.0099


def test_dropped_bets_say_why() -> None:
    bets = slate(
        ("g1", "moneyline", "home", 0.55, 100),  # edge 0.10: placed
        ("g1", "moneyline", "away", 0.50, 110),  # edge 0.05 but the home side is better
        ("g2", "moneyline", "home", 0.50, -110),  # edge -0.045
        ("g3", "total", "over", 0.52, 100),  # edge 0.04, under the minimum of 0.05
        ("g4", "runline", "away", 0.60, None),  # not offered
    )
    sized = size_slate(bets, 1000, StakingPolicy(**{**LOOSE, "min_edge": 0.05}))
    assert sized["reason"].to_list() == [
        None,
        DropReason.OTHER_SIDE,
        DropReason.NO_EDGE,
        DropReason.BELOW_MIN_EDGE,
        DropReason.NO_PRICE,
    ]
    assert sized["stake"].to_list() == [100.0, 0.0, 0.0, 0.0, 0.0]
    assert sized["edge"].to_list()[:4] == pytest.approx([0.10, 0.05, -0.5 / 11, 0.04], abs=1e-12)


def test_bad_slates_are_rejected_naming_the_row() -> None:
    good = ("g1", "moneyline", "home", 0.55, 100)
    with pytest.raises(ValueError, match=r"row 1 \(game g2, total over\): probability 1.0"):
        size_slate(slate(good, ("g2", "total", "over", 1.0, 100)), 1000)
    with pytest.raises(ValueError, match=r"row 1 .*American odds 80"):
        size_slate(slate(good, ("g2", "total", "over", 0.5, 80)), 1000)
    with pytest.raises(ValueError, match="repeats game g1 moneyline home"):
        size_slate(slate(good, good), 1000)
    with pytest.raises(ValueError, match="missing column"):
        size_slate(slate(good).drop("odds"), 1000)
    with pytest.raises(ValueError, match="bankroll"):
        size_slate(slate(good), -1)
    with pytest.raises(ValidationError):
        StakingPolicy(kelly_fraction=0)


def test_recommend_stakes_speaks_pydantic() -> None:
    got = recommend_stakes(
        [
            CandidateBet(game_id="g1", market="total", side="over", probability=0.55, odds=100),
            CandidateBet(game_id="g2", market="moneyline", side="away", probability=0.4, odds=100),
        ],
        1000,
        StakingPolicy(kelly_fraction=0.25),
    )
    assert [r.stake for r in got] == [25.0, 0.0]
    assert [r.reason for r in got] == [None, DropReason.NO_EDGE]
    with pytest.raises(ValidationError, match="over or under"):
        CandidateBet(game_id="g1", market="total", side="home", probability=0.5, odds=100)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 5),
            st.sampled_from(["moneyline", "total", "runline"]),
            st.floats(0.3, 0.7),
            st.integers(100, 200),
            st.booleans(),
        ),
        min_size=1,
        max_size=16,
    ),
    st.floats(0.1, 1.0),
    st.floats(0.01, 0.2),
    st.floats(0.01, 0.3),
    st.floats(0.02, 0.5),
    st.sampled_from([0.5, 1.0, 5.0]),
)
def test_no_cap_is_ever_exceeded(
    rows: list[tuple[int, str, float, int, bool]],
    fraction: float,
    per_bet: float,
    per_game: float,
    exposure: float,
    unit: float,
) -> None:
    side = {"moneyline": "home", "total": "over", "runline": "away"}
    frame = slate(
        *((f"g{g}", market, side[market], p, price if plus else -price) for g, market, p, price, plus in rows)
    ).unique(["game_id", "market"], keep="first", maintain_order=True)
    bankroll = 1000.0
    policy = StakingPolicy(
        kelly_fraction=fraction,
        max_stake_per_bet=per_bet,
        max_stake_per_game=per_game,
        max_exposure=exposure,
        stake_unit=unit,
    )
    sized = size_slate(frame, bankroll, policy)
    tolerance = 1e-9 * bankroll
    assert (sized["stake"] <= per_bet * bankroll + tolerance).all()
    assert (
        sized.group_by("game_id").agg(pl.col("stake").sum())["stake"] <= per_game * bankroll + tolerance
    ).all()
    assert sized["stake"].sum() <= exposure * bankroll + tolerance
    units = sized["stake"] / unit
    assert ((units - units.round()).abs() < 1e-9).all()
    # Never more than the policy's share of the bet's own Kelly stake.
    assert (sized["stake"] <= sized["kelly"].fill_null(0) * fraction * bankroll + tolerance).all()
    assert ((sized["stake"] > 0) == sized["reason"].is_null()).all()


def test_empty_slate() -> None:
    empty = slate().clear()
    sized = size_slate(empty, 1000)
    assert sized.height == 0
    assert "stake" in sized.columns
    assert recommend_stakes([], 1000) == []
    assert simultaneous_kelly([], []).size == 0
