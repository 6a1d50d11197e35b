"""Odds arithmetic: hand-computed prices and margins, properties of every margin model, real lines.

Hand values are worked out in exact fractions in the comments; the property tests cover what must
hold for any market; the last tests run the vectorised path on the real Pinnacle 2016 closing lines.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mlbedge.domain import odds
from mlbedge.domain.odds import (
    DEVIG_METHODS,
    american_to_decimal,
    american_to_implied,
    decimal_to_american,
    decimal_to_implied,
    devig,
    devig_additive,
    devig_american,
    devig_multiplicative,
    devig_power,
    devig_shin,
    expected_value,
    fair_two_way,
    hold,
    implied_to_american,
    implied_to_decimal,
    overround,
    power_exponent,
    profit_per_unit,
    shin_z,
)

# ----------------------------------------------------------------------------------------------
# price conversions, by hand


@pytest.mark.parametrize(
    ("american", "decimal", "implied"),
    [
        (-150, 5 / 3, 0.6),  # risk 150 to win 100: return 250/150
        (130, 2.3, 100 / 230),  # win 130 per 100: return 230/100
        (-110, 210 / 110, 110 / 210),
        (100, 2.0, 0.5),
        (-100, 2.0, 0.5),
        (-200, 1.5, 2 / 3),
        (150, 2.5, 0.4),
        (-219.5, 1 + 100 / 219.5, 219.5 / 319.5),  # SBRO has half-cent closing lines
    ],
)
def test_american_prices_convert_by_hand(american: float, decimal: float, implied: float) -> None:
    assert american_to_decimal(american) == pytest.approx(decimal, rel=1e-14)
    assert american_to_implied(american) == pytest.approx(implied, rel=1e-14)
    assert decimal_to_implied(decimal) == pytest.approx(implied, rel=1e-14)
    assert implied_to_decimal(implied) == pytest.approx(decimal, rel=1e-14)
    # Even money comes back as +100 whichever way it was written.
    assert decimal_to_american(decimal) == pytest.approx(abs(american) if american == -100 else american)
    assert implied_to_american(implied) == pytest.approx(abs(american) if american == -100 else american)


def test_scalars_give_python_floats_and_arrays_give_arrays() -> None:
    assert type(american_to_decimal(-150)) is float
    assert type(american_to_decimal(np.int64(-150))) is float
    out = american_to_decimal([-150, 130])
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, [5 / 3, 2.3])
    np.testing.assert_allclose(american_to_implied(np.array([[-150], [130]])), [[0.6], [100 / 230]])


@pytest.mark.parametrize("bad", [-99, 99, 0, -50, 50.5, math.nan, math.inf, -math.inf])
def test_an_impossible_american_scalar_raises_naming_it(bad: float) -> None:
    shown = repr(int(bad)) if math.isfinite(bad) and float(bad).is_integer() else repr(bad)
    for convert in (american_to_decimal, american_to_implied, profit_per_unit):
        with pytest.raises(ValueError, match="American odds") as caught:
            convert(bad)
        assert shown in str(caught.value)


def test_impossible_american_prices_in_an_array_become_nan() -> None:
    prices = np.array([-110, -50, np.nan, 99, 130, 0])
    expected_valid = [True, False, False, False, True, False]
    for convert in (american_to_decimal, american_to_implied, profit_per_unit):
        out = convert(prices)
        assert list(np.isfinite(out)) == expected_valid
    assert american_to_implied(prices)[4] == pytest.approx(100 / 230)


@pytest.mark.parametrize(
    ("convert", "bad"),
    [
        (decimal_to_american, 1.0),
        (decimal_to_american, 0.5),
        (decimal_to_implied, -2.0),
        (implied_to_american, 0.0),
        (implied_to_american, 1.0),
        (implied_to_decimal, 1.2),
        (implied_to_decimal, math.nan),
    ],
)
def test_other_impossible_scalars_raise_and_array_entries_become_nan(convert, bad: float) -> None:
    with pytest.raises(ValueError, match="invalid"):
        convert(bad)
    out = convert(np.array([bad, 0.5 if "implied_to" in convert.__name__ else 2.0]))
    assert math.isnan(out[0])
    assert math.isfinite(out[1])


def test_text_that_is_not_a_price_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'NL'"):
        american_to_decimal("NL")


def test_polars_columns_go_straight_in_with_nulls_as_nan() -> None:
    home = pl.Series("home_ml_close", [-150, None, -110, 50], dtype=pl.Int64)
    away = pl.Series("away_ml_close", [130, 120, -110, -120], dtype=pl.Int64)
    fair_home, fair_away = fair_two_way(home, away)
    assert fair_home[0] == pytest.approx(69 / 119)
    assert fair_away[0] == pytest.approx(50 / 119)
    assert math.isnan(fair_home[1]) and math.isnan(fair_away[1])
    assert fair_home[2] == pytest.approx(0.5)
    assert math.isnan(fair_home[3]) and math.isnan(fair_away[3])  # +50 is not a price


def test_the_polars_expressions_are_the_array_conversions_to_the_bit() -> None:
    """Inside a query the same prices convert to the same floats; what is NaN for an array
    (a missing, impossible or non-finite price) is null."""
    prices = [-110.0, -50.0, None, 99.0, 130.0, 0.0, -100.0, 100.0, -237.0, 1150.0, float("inf")]
    frame = pl.DataFrame({"odds": prices}, schema={"odds": pl.Float64}).select(
        decimal=odds.american_to_decimal_expr(pl.col("odds")),
        implied=odds.american_to_implied_expr(pl.col("odds")),
    )
    as_array = np.array([np.nan if p is None else p for p in prices])
    for column, convert in (("decimal", american_to_decimal), ("implied", american_to_implied)):
        expected = convert(as_array)
        got = frame[column]
        assert got.is_null().to_list() == list(np.isnan(expected)), column
        assert got.drop_nulls().to_list() == expected[~np.isnan(expected)].tolist(), column


# ----------------------------------------------------------------------------------------------
# payouts


@pytest.mark.parametrize(
    ("american", "profit"),
    [(130, 1.3), (-150, 100 / 150), (-110, 100 / 110), (100, 1.0), (-100, 1.0), (250, 2.5)],
)
def test_profit_per_unit_stake(american: float, profit: float) -> None:
    assert profit_per_unit(american) == pytest.approx(profit, rel=1e-14)


def test_expected_value_by_hand() -> None:
    # 55% at -110: 0.55 * 100/110 - 0.45 = 0.5 - 0.45 = 0.05 per unit.
    assert expected_value(0.55, -110) == pytest.approx(0.05, rel=1e-12)
    # 40% at +130: 0.4 * 1.3 - 0.6 = -0.08.
    assert expected_value(0.4, 130) == pytest.approx(-0.08, rel=1e-12)
    assert expected_value(1.0, 130) == pytest.approx(1.3)
    assert expected_value(0.0, -150) == pytest.approx(-1.0)
    np.testing.assert_allclose(expected_value(np.array([0.55, 0.4]), np.array([-110, 130])), [0.05, -0.08])
    # One probability against many prices broadcasts; an impossible entry is NaN.
    out = expected_value(0.5, np.array([100, -50, 120]))
    assert out[0] == pytest.approx(0.0) and math.isnan(out[1]) and out[2] == pytest.approx(0.1)
    assert math.isnan(expected_value(np.array([1.5]), -110)[0])


def test_expected_value_refuses_impossible_scalars() -> None:
    with pytest.raises(ValueError, match=r"probability 1\.5"):
        expected_value(1.5, -110)
    with pytest.raises(ValueError, match="-99"):
        expected_value(0.5, -99)


# ----------------------------------------------------------------------------------------------
# margin and its removal, by hand

EVEN = american_to_implied(-110)
FAV, DOG = american_to_implied(-150), american_to_implied(130)  # 3/5 and 10/23


def test_minus_110_both_ways_is_a_coin_flip_with_a_4_76_percent_overround() -> None:
    market = [EVEN, EVEN]
    assert overround(market) == pytest.approx(10 / 210, rel=1e-12)  # 220/210 - 1 = 4.76%
    assert round(overround(market) * 100, 2) == 4.76
    assert hold(market) == pytest.approx(10 / 220, rel=1e-12)  # 1 - 210/220 = 4.55%
    for method in DEVIG_METHODS:
        np.testing.assert_allclose(devig(market, method), [0.5, 0.5], rtol=0, atol=1e-15)
    # z = (Π-1)(Π-d²) / (Π(1-d²)) with d = 0 is just Π - 1.
    assert shin_z(market) == pytest.approx(10 / 210, rel=1e-12)


def test_minus_150_plus_130_multiplicative_and_additive_by_hand() -> None:
    # Π = 3/5 + 10/23 = 119/115.
    assert overround([FAV, DOG]) == pytest.approx(4 / 115, rel=1e-12)
    # Multiplicative: (3/5)(115/119) = 69/119, (10/23)(115/119) = 50/119.
    np.testing.assert_allclose(devig_multiplicative([FAV, DOG]), [69 / 119, 50 / 119], rtol=1e-14)
    # Additive: each side gives up half of 4/115: 67/115 and 48/115.
    np.testing.assert_allclose(devig_additive([FAV, DOG]), [67 / 115, 48 / 115], rtol=1e-14)
    fair_home, fair_away = fair_two_way(-150, 130, "multiplicative")
    assert (fair_home, fair_away) == pytest.approx((69 / 119, 50 / 119), rel=1e-14)
    assert type(fair_home) is float


def test_minus_150_plus_130_shin_against_the_hand_solved_z() -> None:
    # Two-way Shin: p1 - p2 = π1 - π2 = 19/115, so p = (67/115, 48/115), and
    # z = (Π-1)(Π-d²) / (Π(1-d²)) with Π = 119/115, d = 19/115, which reduces to 3331/95676.
    fair = devig_shin([FAV, DOG])
    np.testing.assert_allclose(fair, [67 / 115, 48 / 115], rtol=1e-14)
    z_exact = Fraction(3331, 95676)
    assert shin_z([FAV, DOG]) == pytest.approx(float(z_exact), rel=1e-13)
    # The hand-solved z satisfies Shin's equation (1-z)p² + zp = π²/Π exactly, for both sides.
    total = Fraction(119, 115)
    for p, pi in ((Fraction(67, 115), Fraction(3, 5)), (Fraction(48, 115), Fraction(10, 23))):
        assert (1 - z_exact) * p**2 + z_exact * p == pi**2 / total


def test_power_by_hand_on_markets_built_from_square_roots() -> None:
    # Implied (0.8, 0.6) are square roots of (0.64, 0.36): k = 2 exactly.
    np.testing.assert_allclose(devig_power([0.8, 0.6]), [0.64, 0.36], rtol=1e-13)
    assert power_exponent([0.8, 0.6]) == pytest.approx(2.0, rel=1e-13)
    # Three ways: (1/3, 2/3, 2/3) squared is (1/9, 4/9, 4/9).
    np.testing.assert_allclose(devig_power([1 / 3, 2 / 3, 2 / 3]), [1 / 9, 4 / 9, 4 / 9], rtol=1e-13)
    # -150/+130: k solves 0.6^k + (10/23)^k = 1.
    k = power_exponent([FAV, DOG])
    assert 0.6**k + (10 / 23) ** k == pytest.approx(1.0, abs=1e-14)
    np.testing.assert_allclose(devig_power([FAV, DOG]), [0.6**k, (10 / 23) ** k], rtol=1e-13)


def test_additive_three_way_by_hand() -> None:
    # Π = 1.05: each of three outcomes gives up 0.05/3.
    np.testing.assert_allclose(devig_additive([0.5, 0.3, 0.25]), [0.5 - 1 / 60, 0.3 - 1 / 60, 0.25 - 1 / 60])


def _shin_market(fair: list[float], z: float) -> list[float]:
    """Implied probabilities Shin's bookmaker would post: π_i = s_i · Σ s_j, s_i = sqrt(z p_i + (1-z) p_i²)."""
    s = [math.sqrt(z * p + (1 - z) * p * p) for p in fair]
    return [si * sum(s) for si in s]


@pytest.mark.parametrize(
    ("fair", "z"),
    [([0.5, 0.3, 0.2], 0.05), ([0.62, 0.38], 0.02), ([0.4, 0.25, 0.2, 0.1, 0.05], 0.1)],
)
def test_shin_recovers_the_fair_probabilities_and_z_of_a_shin_market(fair: list[float], z: float) -> None:
    market = _shin_market(fair, z)
    assert sum(market) > 1
    np.testing.assert_allclose(devig_shin(market), fair, rtol=1e-12)
    assert shin_z(market) == pytest.approx(z, rel=1e-12)


def test_n_way_markets_by_every_method_sum_to_one() -> None:
    market = [0.5, 0.3, 0.25]
    expected = {
        "multiplicative": [0.5 / 1.05, 0.3 / 1.05, 0.25 / 1.05],
        "additive": [0.5 - 1 / 60, 0.3 - 1 / 60, 0.25 - 1 / 60],
    }
    for method in DEVIG_METHODS:
        fair = devig(market, method)
        assert fair.sum() == pytest.approx(1.0, abs=1e-15)
        if method in expected:
            np.testing.assert_allclose(fair, expected[method], rtol=1e-14)


def test_unknown_method_and_malformed_markets_are_refused() -> None:
    with pytest.raises(ValueError, match=r"'logit'.*multiplicative, additive, power, shin"):
        devig([0.5, 0.55], "logit")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least two outcomes"):
        devig([0.5])
    with pytest.raises(ValueError, match="shape"):
        devig(np.full((2, 2, 2), 0.5))
    with pytest.raises(ValueError, match=r"1\.2 for outcome 1"):
        devig([0.5, 1.2])
    with pytest.raises(ValueError, match="nan for outcome 0"):
        overround([math.nan, 0.5])


def test_additive_refuses_a_longshot_smaller_than_its_share_of_the_margin() -> None:
    # Π = 1.12, share 0.04 each, but the longshot is only 0.02.
    with pytest.raises(ValueError, match=r"additive.*outcome 1 \(implied 0.02\)"):
        devig_additive([0.9, 0.02, 0.2])
    batch = devig_additive(np.array([[0.9, 0.02, 0.2], [0.5, 0.3, 0.25]]))
    assert np.isnan(batch[0]).all()
    assert batch[1].sum() == pytest.approx(1.0)
    # The other methods handle the same market.
    for method in ("multiplicative", "power", "shin"):
        assert devig([0.9, 0.02, 0.2], method).sum() == pytest.approx(1.0)


def test_a_batch_marks_unusable_markets_as_nan_and_keeps_the_rest() -> None:
    batch = np.array([[FAV, DOG], [0.5, np.nan], [0.5, 1.0], [EVEN, EVEN]])
    for method in DEVIG_METHODS:
        fair = devig(batch, method)
        assert fair.shape == batch.shape
        np.testing.assert_allclose(fair[0], devig([FAV, DOG], method))
        assert np.isnan(fair[1:3]).all()
        np.testing.assert_allclose(fair[3], [0.5, 0.5])
    over = overround(batch)
    assert over[0] == pytest.approx(4 / 115) and np.isnan(over[1:3]).all()
    assert np.isnan(shin_z(batch)[1:3]).all() and np.isnan(power_exponent(batch)[1:3]).all()


def test_devig_american_names_an_impossible_price() -> None:
    np.testing.assert_allclose(devig_american([-150, 130]), [69 / 119, 50 / 119])
    with pytest.raises(ValueError, match="-90"):
        devig_american([-150, -90])
    batch = devig_american(np.array([[-150, 130], [-150, -90]]), "shin")
    np.testing.assert_allclose(batch[0], [67 / 115, 48 / 115])
    assert np.isnan(batch[1]).all()


# ----------------------------------------------------------------------------------------------
# properties

american_prices = st.one_of(
    st.integers(min_value=-20000, max_value=-100), st.integers(min_value=100, max_value=20000)
)
probabilities = st.floats(min_value=1e-4, max_value=1 - 1e-4)


@st.composite
def markets(draw: st.DrawFn, min_outcomes: int = 2, max_outcomes: int = 10) -> np.ndarray:
    """Implied probabilities of a market: fair chances, a margin between -20% and +50%, noise per outcome."""
    n = draw(st.integers(min_value=min_outcomes, max_value=max_outcomes))
    weights = np.array(draw(st.lists(st.floats(0.02, 1.0), min_size=n, max_size=n)))
    scale = draw(st.floats(0.8, 1.5))
    noise = np.array(draw(st.lists(st.floats(0.9, 1.1), min_size=n, max_size=n)))
    market = weights / weights.sum() * scale * noise
    assume(market.max() < 0.995 and market.min() > 1e-3)
    return market


@st.composite
def two_way_markets(draw: st.DrawFn) -> np.ndarray:
    """Two real-looking prices drawn independently (so the book can be over or under 1)."""
    return np.array([american_to_implied(draw(american_prices)), american_to_implied(draw(american_prices))])


any_market = st.one_of(markets(), two_way_markets())


def _additive_is_valid(market: np.ndarray) -> bool:
    return bool(market.min() > (market.sum() - 1) / len(market))


def _assert_fair(market: np.ndarray, fair: np.ndarray) -> None:
    assert fair.shape == market.shape
    assert fair.sum() == pytest.approx(1.0, abs=1e-12)
    assert ((fair > 0) & (fair < 1)).all()
    # The order of the outcomes is kept: a likelier outcome never ends up less likely.
    order = np.argsort(market, kind="stable")
    assert (np.diff(fair[order]) >= -1e-15).all()
    strictly = np.diff(market[order]) > 1e-9
    assert (np.diff(fair[order])[strictly] > 0).all()


@pytest.mark.parametrize("method", DEVIG_METHODS)
@settings(max_examples=150, deadline=None)
@given(market=any_market)
def test_fair_probabilities_sum_to_one_stay_in_range_and_keep_the_order(
    method: str, market: np.ndarray
) -> None:
    if method == "additive" and not _additive_is_valid(market):
        with pytest.raises(ValueError, match="share of the margin"):
            devig(market, method)
        return
    _assert_fair(market, devig(market, method))


@pytest.mark.parametrize("method", DEVIG_METHODS)
@settings(max_examples=60, deadline=None)
@given(fair=markets(max_outcomes=8).map(lambda m: m / m.sum()))
def test_a_market_without_margin_is_unchanged(method: str, fair: np.ndarray) -> None:
    np.testing.assert_allclose(devig(fair, method), fair, rtol=1e-10, atol=1e-13)


@settings(max_examples=100, deadline=None)
@given(price=st.integers(min_value=100, max_value=20000))
def test_a_fair_two_way_price_pair_is_unchanged(price: int) -> None:
    # +a and -a imply 100/(a+100) and a/(a+100): they sum to exactly 1.
    for method in DEVIG_METHODS:
        home, away = fair_two_way(price, -price, method)
        assert home == pytest.approx(100 / (price + 100), rel=1e-12)
        assert away == pytest.approx(price / (price + 100), rel=1e-12)


@settings(max_examples=150, deadline=None)
@given(market=any_market)
def test_shin_and_power_solutions_satisfy_their_defining_equations(market: np.ndarray) -> None:
    total = market.sum()
    z = shin_z(market)
    fair = devig_shin(market)
    np.testing.assert_allclose((1 - z) * fair**2 + z * fair, market**2 / total, rtol=1e-9, atol=1e-15)
    assert (0 < z < 1) if total > 1 + 1e-12 else z <= 1e-12
    k = power_exponent(market)
    np.testing.assert_allclose(devig_power(market), market**k, rtol=1e-9, atol=1e-300)
    assert (k > 1) if total > 1 + 1e-12 else k <= 1 + 1e-12


@settings(max_examples=100, deadline=None)
@given(market=two_way_markets())
def test_two_way_shin_equals_additive(market: np.ndarray) -> None:
    np.testing.assert_allclose(devig_shin(market), devig_additive(market), rtol=1e-12, atol=1e-15)


@settings(max_examples=200, deadline=None)
@given(
    price=st.one_of(
        american_prices.filter(lambda a: a != -100),
        st.floats(min_value=100, max_value=1e5),
        st.floats(min_value=-1e5, max_value=-100).filter(lambda a: a != -100),
    )
)
def test_american_to_decimal_to_american_round_trips(price: float) -> None:
    via_decimal = decimal_to_american(american_to_decimal(price))
    via_implied = implied_to_american(american_to_implied(price))
    if abs(price + 100) < 1e-9:
        # Within rounding of even money, -100 and +100 are the same price: either sign may come back.
        assert abs(via_decimal) == pytest.approx(100.0, rel=1e-12)
        assert abs(via_implied) == pytest.approx(100.0, rel=1e-12)
    else:
        assert via_decimal == pytest.approx(price, rel=1e-12)
        assert via_implied == pytest.approx(price, rel=1e-12)


def test_minus_100_round_trips_to_its_equal_plus_100() -> None:
    assert decimal_to_american(american_to_decimal(-100)) == 100.0


@settings(max_examples=200, deadline=None)
@given(p=probabilities)
def test_implied_to_american_to_implied_round_trips(p: float) -> None:
    assert american_to_implied(implied_to_american(p)) == pytest.approx(p, rel=1e-12)
    assert decimal_to_implied(implied_to_decimal(p)) == pytest.approx(p, rel=1e-14)
    american = implied_to_american(p)
    assert abs(american) >= 100
    assert (american < 0) == (p > 0.5)


@settings(max_examples=100, deadline=None)
@given(price=american_prices)
def test_betting_at_the_implied_probability_has_zero_expected_value(price: int) -> None:
    p = american_to_implied(price)
    assert expected_value(p, price) == pytest.approx(0.0, abs=1e-12)
    assert expected_value(min(p + 0.01, 1.0), price) > 0
    assert profit_per_unit(price) == pytest.approx(american_to_decimal(price) - 1, rel=1e-12)


@pytest.mark.parametrize("method", DEVIG_METHODS)
@settings(max_examples=25, deadline=None)
@given(batch=st.lists(markets(min_outcomes=3, max_outcomes=3), min_size=1, max_size=20))
def test_a_batch_gives_what_each_market_gives_alone(method: str, batch: list[np.ndarray]) -> None:
    stacked = np.stack(batch)
    together = devig(stacked, method)
    for row, market in zip(together, batch, strict=True):
        if method == "additive" and not _additive_is_valid(market):
            assert np.isnan(row).all()
        else:
            np.testing.assert_allclose(row, devig(market, method), rtol=1e-12, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# a season at once, and real lines


def test_a_season_of_25k_two_way_markets_matches_one_at_a_time() -> None:
    rng = np.random.default_rng(7)
    n = 25_000
    home = np.where(rng.random(n) < 0.6, -rng.integers(100, 400, n), rng.integers(100, 300, n)).astype(float)
    away = np.where(home < 0, rng.integers(100, 350, n), -rng.integers(105, 400, n)).astype(float)
    home[::997] = np.nan  # missing prices, as in the SBRO files
    sample = rng.choice(n, 50, replace=False)
    for method in DEVIG_METHODS:
        fair_home, fair_away = fair_two_way(home, away, method)
        usable = np.isfinite(home)
        np.testing.assert_allclose((fair_home + fair_away)[usable], 1.0, atol=1e-12)
        assert np.isnan(fair_home[~usable]).all() and np.isnan(fair_away[~usable]).all()
        for i in sample[np.isfinite(home[sample])]:
            assert (fair_home[i], fair_away[i]) == pytest.approx(
                fair_two_way(home[i], away[i], method), rel=1e-12
            )


def test_real_pinnacle_2016_closing_lines(data_dir: Path) -> None:
    games = pl.read_csv(data_dir / "pinnacle_2016" / "pinnacle_mlb2016_games.csv").filter(
        pl.col("is_all_star") == 0
    )
    home_price = games["ml_home_close"].to_numpy()
    away_price = games["ml_away_close"].to_numpy()
    usable = np.isfinite(home_price) & np.isfinite(away_price)
    assert usable.sum() > 2400
    implied = np.stack([american_to_implied(home_price), american_to_implied(away_price)], axis=1)
    margin = overround(implied)[usable]
    # Pinnacle is the low-margin book: a couple of cents on a moneyline, never an underround.
    assert 0.015 < np.median(margin) < 0.03
    assert margin.min() > 0 and margin.max() < 0.06
    home_won = (games["home_score"] > games["away_score"]).to_numpy()[usable]
    for method in DEVIG_METHODS:
        fair_home, fair_away = fair_two_way(home_price, away_price, method)
        assert np.isnan(fair_home[~usable]).all()
        p = fair_home[usable]
        np.testing.assert_allclose(p + fair_away[usable], 1.0, atol=1e-12)
        log_loss = -np.mean(np.where(home_won, np.log(p), np.log(1 - p)))
        # The closing line is a sharp forecast: close to the SBRO benchmark band of 0.663-0.677.
        assert 0.655 < log_loss < 0.685, (method, log_loss)
    # The methods differ only in how they treat favourites and longshots: within a cent or so.
    spread = np.nanmax(
        np.stack([fair_two_way(home_price, away_price, m)[0] for m in DEVIG_METHODS]), axis=0
    ) - np.nanmin(np.stack([fair_two_way(home_price, away_price, m)[0] for m in DEVIG_METHODS]), axis=0)
    assert np.nanmax(spread) < 0.02


def test_module_has_no_dependency_on_the_rest_of_the_package() -> None:
    source = Path(odds.__file__).read_text()
    assert "from mlbedge" not in source and "import mlbedge" not in source
