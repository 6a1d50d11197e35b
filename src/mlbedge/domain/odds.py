"""Odds arithmetic: American, decimal and implied-probability prices, the bookmaker's margin and its removal.

Conventions (all of them vectorised with numpy, so a Polars column goes in as ``series.to_numpy()``
or straight through ``np.asarray``):

- **American** odds: ``-150`` risks 150 to win 100, ``+130`` wins 130 per 100 risked. A price with
  ``|odds| < 100`` does not exist. Even money is written ``+100`` (``-100`` is accepted as input).
- **Decimal** odds: total return per unit stake, stake included (``-150`` is 1.667, ``+130`` is 2.30).
- **Implied probability**: ``1 / decimal``. Over all outcomes of one market the implied
  probabilities sum to more than 1; the excess is the *overround* (the bookmaker's margin).

Scalars in give floats out and an invalid scalar raises :class:`ValueError` naming the value.
Arrays in give arrays out and an invalid entry becomes NaN (missing prices are common in bulk data
and must not stop a season-wide computation). Inside a Polars query,
:func:`american_to_decimal_expr` and :func:`american_to_implied_expr` are the same conversions as
expressions, null where the price is missing or invalid.

A *market* is a vector of implied probabilities, one per outcome, along the last axis: shape
``(n,)`` for one market, ``(m, n)`` for ``m`` markets with ``n`` outcomes each. :func:`devig` turns a
market into fair probabilities that sum to 1, by one of four margin models:

- ``multiplicative``: divide by the overround (margin proportional to the probability);
- ``additive``: subtract an equal share of the margin from every outcome;
- ``power``: raise to the power ``k`` that makes the sum 1 (shades longshots more);
- ``shin``: Shin's model of a bookmaker facing a share ``z`` of insiders. For two outcomes ``z``
  has a closed form and the fair probabilities coincide with the additive ones; for more outcomes
  ``z`` is solved numerically.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import polars as pl

FloatArray = npt.NDArray[np.float64]
DevigMethod = Literal["multiplicative", "additive", "power", "shin"]
DEVIG_METHODS: tuple[DevigMethod, ...] = ("multiplicative", "additive", "power", "shin")

# Safeguarded Newton converges in under 10 iterations on real markets (about 25 for a market priced
# below 1); the cap only guards against looping forever, and bisection guarantees progress.
_MAX_ITERATIONS = 200
_TOLERANCE = 1e-15
_RESIDUAL = 1e-14  # the functions solved are sums of probabilities minus 1


# ----------------------------------------------------------------------------------------------
# input handling


def _as_array(values: Any, what: str) -> tuple[FloatArray, bool]:
    """``values`` as a float64 array, and whether it was a scalar."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be numeric, got {reprlib.repr(values)}") from None
    return array, array.ndim == 0


def _show(value: Any) -> str:
    """A value as a user would write it (``-50``, not ``np.float64(-50.0)``)."""
    if isinstance(value, np.generic | np.ndarray):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def _finish(result: FloatArray, scalar: bool) -> float | FloatArray:
    return float(result) if scalar else result


def _valid_american(odds: FloatArray) -> npt.NDArray[np.bool_]:
    return np.isfinite(odds) & (np.abs(odds) >= 100.0)


def _check_scalar(valid: npt.NDArray[np.bool_], scalar: bool, original: Any, message: str) -> None:
    if scalar and not bool(valid):
        raise ValueError(message.format(value=_show(original)))


_AMERICAN_RULE = "invalid American odds {value}: a price is at most -100 or at least +100"
_DECIMAL_RULE = "invalid decimal odds {value}: a price is a finite number greater than 1"
_PROBABILITY_RULE = "invalid implied probability {value}: it must lie strictly between 0 and 1"


# ----------------------------------------------------------------------------------------------
# price conversions


@overload
def american_to_decimal(odds: float) -> float: ...
@overload
def american_to_decimal(odds: npt.ArrayLike) -> FloatArray: ...
def american_to_decimal(odds: npt.ArrayLike) -> float | FloatArray:
    """Decimal odds (return per unit stake, stake included) of American odds: -150 -> 1.667, +130 -> 2.3."""
    array, scalar = _as_array(odds, "American odds")
    valid = _valid_american(array)
    _check_scalar(valid, scalar, odds, _AMERICAN_RULE)
    with np.errstate(divide="ignore", invalid="ignore"):
        decimal = np.where(array >= 100.0, 1.0 + array / 100.0, 1.0 - 100.0 / array)
    return _finish(np.where(valid, decimal, np.nan), scalar)


@overload
def decimal_to_american(decimal: float) -> float: ...
@overload
def decimal_to_american(decimal: npt.ArrayLike) -> FloatArray: ...
def decimal_to_american(decimal: npt.ArrayLike) -> float | FloatArray:
    """American odds of decimal odds: 2.3 -> +130, 1.667 -> -150, 2.0 -> +100. Not rounded."""
    array, scalar = _as_array(decimal, "decimal odds")
    valid = np.isfinite(array) & (array > 1.0)
    _check_scalar(valid, scalar, decimal, _DECIMAL_RULE)
    with np.errstate(divide="ignore", invalid="ignore"):
        american = np.where(array >= 2.0, (array - 1.0) * 100.0, -100.0 / (array - 1.0))
    return _finish(np.where(valid, american, np.nan), scalar)


@overload
def american_to_implied(odds: float) -> float: ...
@overload
def american_to_implied(odds: npt.ArrayLike) -> FloatArray: ...
def american_to_implied(odds: npt.ArrayLike) -> float | FloatArray:
    """Implied probability (margin included) of American odds: -150 -> 0.6, +130 -> 0.4348."""
    array, scalar = _as_array(odds, "American odds")
    valid = _valid_american(array)
    _check_scalar(valid, scalar, odds, _AMERICAN_RULE)
    # Written from the odds directly rather than as 1/decimal: one rounding instead of two.
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = np.where(array >= 100.0, 100.0 / (array + 100.0), -array / (100.0 - array))
    return _finish(np.where(valid, implied, np.nan), scalar)


def _american_expr(odds: pl.Expr) -> pl.Expr:
    """The valid American prices of ``odds`` (null elsewhere, as NaN is for arrays)."""
    odds = odds.cast(pl.Float64)
    return pl.when(odds.is_finite() & (odds.abs() >= 100.0)).then(odds)


def american_to_decimal_expr(odds: pl.Expr) -> pl.Expr:
    """:func:`american_to_decimal` of a Polars expression (the same arithmetic, to the bit)."""
    price = _american_expr(odds)
    return pl.when(price >= 100.0).then(1.0 + price / 100.0).otherwise(1.0 - 100.0 / price)


def american_to_implied_expr(odds: pl.Expr) -> pl.Expr:
    """:func:`american_to_implied` of a Polars expression (the same arithmetic, to the bit)."""
    price = _american_expr(odds)
    return pl.when(price >= 100.0).then(100.0 / (price + 100.0)).otherwise(-price / (100.0 - price))


@overload
def implied_to_american(probability: float) -> float: ...
@overload
def implied_to_american(probability: npt.ArrayLike) -> FloatArray: ...
def implied_to_american(probability: npt.ArrayLike) -> float | FloatArray:
    """American odds whose implied probability is ``probability``: 0.6 -> -150, 0.5 -> +100. Not rounded."""
    array, scalar = _as_array(probability, "implied probability")
    valid = np.isfinite(array) & (array > 0.0) & (array < 1.0)
    _check_scalar(valid, scalar, probability, _PROBABILITY_RULE)
    with np.errstate(divide="ignore", invalid="ignore"):
        american = np.where(array > 0.5, -100.0 * array / (1.0 - array), 100.0 * (1.0 - array) / array)
    return _finish(np.where(valid, american, np.nan), scalar)


@overload
def decimal_to_implied(decimal: float) -> float: ...
@overload
def decimal_to_implied(decimal: npt.ArrayLike) -> FloatArray: ...
def decimal_to_implied(decimal: npt.ArrayLike) -> float | FloatArray:
    """Implied probability of decimal odds: ``1 / decimal``."""
    array, scalar = _as_array(decimal, "decimal odds")
    valid = np.isfinite(array) & (array > 1.0)
    _check_scalar(valid, scalar, decimal, _DECIMAL_RULE)
    with np.errstate(divide="ignore", invalid="ignore"):
        implied = 1.0 / array
    return _finish(np.where(valid, implied, np.nan), scalar)


@overload
def implied_to_decimal(probability: float) -> float: ...
@overload
def implied_to_decimal(probability: npt.ArrayLike) -> FloatArray: ...
def implied_to_decimal(probability: npt.ArrayLike) -> float | FloatArray:
    """Decimal odds whose implied probability is ``probability``: ``1 / probability``."""
    array, scalar = _as_array(probability, "implied probability")
    valid = np.isfinite(array) & (array > 0.0) & (array < 1.0)
    _check_scalar(valid, scalar, probability, _PROBABILITY_RULE)
    with np.errstate(divide="ignore", invalid="ignore"):
        decimal = 1.0 / array
    return _finish(np.where(valid, decimal, np.nan), scalar)


# ----------------------------------------------------------------------------------------------
# payouts


@overload
def profit_per_unit(odds: float) -> float: ...
@overload
def profit_per_unit(odds: npt.ArrayLike) -> FloatArray: ...
def profit_per_unit(odds: npt.ArrayLike) -> float | FloatArray:
    """Net profit of a winning 1-unit stake at American ``odds``: +130 -> 1.3, -150 -> 0.667."""
    array, scalar = _as_array(odds, "American odds")
    valid = _valid_american(array)
    _check_scalar(valid, scalar, odds, _AMERICAN_RULE)
    with np.errstate(divide="ignore", invalid="ignore"):
        profit = np.where(array >= 100.0, array / 100.0, -100.0 / array)
    return _finish(np.where(valid, profit, np.nan), scalar)


@overload
def expected_value(probability: float, odds: float) -> float: ...
@overload
def expected_value(probability: npt.ArrayLike, odds: npt.ArrayLike) -> FloatArray: ...
def expected_value(probability: npt.ArrayLike, odds: npt.ArrayLike) -> float | FloatArray:
    """Expected net return of a 1-unit stake at American ``odds`` that wins with ``probability``.

    ``p * profit - (1 - p)``: positive means the bet is worth making at that probability. Both
    arguments broadcast; with two scalars an invalid one raises, otherwise it gives NaN.
    """
    p, p_scalar = _as_array(probability, "probability")
    price, price_scalar = _as_array(odds, "American odds")
    scalar = p_scalar and price_scalar
    p_valid = np.isfinite(p) & (p >= 0.0) & (p <= 1.0)
    if scalar and not bool(p_valid):
        raise ValueError(f"invalid probability {_show(probability)}: it must lie between 0 and 1")
    price_valid = _valid_american(price)
    _check_scalar(price_valid, scalar, odds, _AMERICAN_RULE)
    with np.errstate(divide="ignore", invalid="ignore"):
        profit = np.where(price >= 100.0, price / 100.0, -100.0 / price)
        value = p * profit - (1.0 - p)
    return _finish(np.where(p_valid & price_valid, value, np.nan), scalar)


# ----------------------------------------------------------------------------------------------
# market margin


def _markets(implied: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.bool_], bool]:
    """Markets as an ``(m, n)`` array, which rows are usable, and whether one market was given.

    A single market with an unusable entry raises, naming the outcome; in a batch that market's
    row is only marked unusable.
    """
    array, _ = _as_array(implied, "implied probabilities")
    if array.ndim not in (1, 2):
        raise ValueError(
            f"implied probabilities must be one market (n,) or a batch of markets (m, n), got shape {array.shape}"
        )
    if array.shape[-1] < 2:
        raise ValueError(f"a market needs at least two outcomes, got shape {array.shape}")
    single = array.ndim == 1
    markets = array.reshape(-1, array.shape[-1])
    entry_ok = np.isfinite(markets) & (markets > 0.0) & (markets < 1.0)
    if single and not entry_ok.all():
        bad = int(np.argmin(entry_ok[0]))
        raise ValueError(
            f"invalid implied probability {_show(markets[0, bad])} for outcome {bad} of the market: "
            "it must lie strictly between 0 and 1"
        )
    return markets, entry_ok.all(axis=1), single


def overround(implied: npt.ArrayLike) -> float | FloatArray:
    """The market's margin, ``sum(implied) - 1``: 0.0476 for -110/-110.

    One market ``(n,)`` gives a float; a batch ``(m, n)`` gives one value per market (NaN where a
    probability is missing or outside (0, 1)).
    """
    markets, usable, single = _markets(implied)
    total = np.where(usable, markets.sum(axis=1) - 1.0, np.nan)
    return float(total[0]) if single else total


def hold(implied: npt.ArrayLike) -> float | FloatArray:
    """The bookmaker's share of a balanced book, ``1 - 1/sum(implied)``: 0.0455 for -110/-110."""
    markets, usable, single = _markets(implied)
    share = np.where(usable, 1.0 - 1.0 / markets.sum(axis=1), np.nan)
    return float(share[0]) if single else share


# ----------------------------------------------------------------------------------------------
# margin removal: kernels work on validated (m, n) markets with every entry in (0, 1)

Kernel = Callable[[FloatArray], FloatArray]


def _solve_decreasing(
    f: Callable[[FloatArray], tuple[FloatArray, FloatArray]],
    lo: FloatArray,
    hi: FloatArray,
    start: FloatArray,
) -> FloatArray:
    """The root in ``[lo, hi]`` of one decreasing function per market, all markets at once.

    Newton steps (``f`` returns value and derivative), falling back to bisection whenever a step
    would leave the bracket, so every market converges even where Newton alone would overshoot.
    """
    x = np.clip(start, lo, hi)
    for _ in range(_MAX_ITERATIONS):
        fx, dfx = f(x)
        lo = np.where(fx > 0.0, x, lo)
        hi = np.where(fx < 0.0, x, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = x - fx / dfx
        inside = (step >= lo) & (step <= hi)
        moved = np.where(fx == 0.0, x, np.where(inside, step, 0.5 * (lo + hi)))
        # Near the root f is only known to a few ulps and Newton can hop between neighbouring
        # floats forever, so a small residual counts as converged as well as a still x.
        still = np.abs(moved - x) <= _TOLERANCE * np.maximum(1.0, np.abs(x))
        if np.all(still | (np.abs(fx) <= _RESIDUAL)):
            return np.where(still, moved, x)
        x = moved
    return x


def _normalise(fair: FloatArray) -> FloatArray:
    # The solvers leave a residual of a few ulps; a final scaling makes the sum 1 to the last bit
    # without changing the order of the outcomes.
    return fair / fair.sum(axis=1, keepdims=True)


def _multiplicative(markets: FloatArray) -> FloatArray:
    return markets / markets.sum(axis=1, keepdims=True)


def _additive(markets: FloatArray) -> FloatArray:
    n = markets.shape[1]
    return markets - (markets.sum(axis=1, keepdims=True) - 1.0) / n


def _power_exponent(markets: FloatArray) -> FloatArray:
    """The ``k`` with ``sum(p_i ** k) == 1`` for every market."""
    n = markets.shape[1]
    log_p = np.log(markets)
    # n * p_min**k = 1 and n * p_max**k = 1 bracket the root: sum(p**k) lies between them.
    lo = math.log(n) / -log_p.min(axis=1)
    hi = math.log(n) / -log_p.max(axis=1)

    def f(k: FloatArray) -> tuple[FloatArray, FloatArray]:
        powered = np.exp(k[:, None] * log_p)
        return powered.sum(axis=1) - 1.0, (powered * log_p).sum(axis=1)

    return _solve_decreasing(f, lo, hi, np.ones(len(markets)))


def _power(markets: FloatArray) -> FloatArray:
    k = _power_exponent(markets)
    return _normalise(markets ** k[:, None])


def _shin_probabilities(a: FloatArray, z: FloatArray) -> FloatArray:
    # Root of (1 - z) p^2 + z p = a, written without the 1/(1 - z) that fails at z = 1.
    return 2.0 * a / (z[:, None] + np.sqrt(z[:, None] ** 2 + 4.0 * (1.0 - z[:, None]) * a))


def _shin_z(markets: FloatArray) -> FloatArray:
    """Shin's insider share ``z`` for every market (negative for a market priced below 1)."""
    total = markets.sum(axis=1)
    if markets.shape[1] == 2:
        # With two outcomes p1 - p2 = π1 - π2 exactly, which leaves z in closed form.
        d2 = (markets[:, 0] - markets[:, 1]) ** 2
        return (total - 1.0) * (total - d2) / (total * (1.0 - d2))
    a = markets**2 / total[:, None]

    def f(z: FloatArray) -> tuple[FloatArray, FloatArray]:
        p = _shin_probabilities(a, z)
        root = np.sqrt(z[:, None] ** 2 + 4.0 * (1.0 - z[:, None]) * a)
        return p.sum(axis=1) - 1.0, (-p * (1.0 - p) / root).sum(axis=1)

    # The sum of the Shin probabilities falls from n (z -> -inf) through sqrt(sum π) (z = 0) to
    # sum(π^2)/sum(π) < 1 (z = 1), so [0, 1] brackets the root unless the market is priced below 1;
    # then the lower end is pushed down until it brackets.
    hi = np.ones(len(markets))
    lo = np.where(total >= 1.0, 0.0, -1.0)
    for _ in range(64):
        short = f(lo)[0] < 0.0
        if not short.any():
            break
        lo = np.where(short, 2.0 * lo, lo)
    return _solve_decreasing(f, lo, hi, np.zeros(len(markets)))


def _shin(markets: FloatArray) -> FloatArray:
    if markets.shape[1] == 2:
        d = markets[:, 0] - markets[:, 1]
        return np.column_stack(((1.0 + d) / 2.0, (1.0 - d) / 2.0))
    z = _shin_z(markets)
    total = markets.sum(axis=1, keepdims=True)
    return _normalise(_shin_probabilities(markets**2 / total, z))


_KERNELS: dict[str, Kernel] = {
    "multiplicative": _multiplicative,
    "additive": _additive,
    "power": _power,
    "shin": _shin,
}


def _apply(implied: npt.ArrayLike, kernel: Kernel, method: str) -> FloatArray:
    """Run a margin model on the usable markets; unusable ones come back as NaN rows (or raise if single)."""
    markets, usable, single = _markets(implied)
    result = np.full(markets.shape, np.nan)
    result[usable] = kernel(markets[usable])
    # Only the additive model can push an outcome out of (0, 1): a longshot whose implied
    # probability is smaller than its share of the margin in a market of three or more outcomes.
    broken = usable & ~((result > 0.0) & (result < 1.0)).all(axis=1)
    if broken.any():
        if single:
            outcome = int(np.argmin(result[0]))
            raise ValueError(
                f"{method} margin removal leaves outcome {outcome} (implied {_show(markets[0, outcome])}) "
                f"with probability {_show(result[0, outcome])}: its share of the margin exceeds it; "
                "use the multiplicative, power or shin method for this market"
            )
        result[broken] = np.nan
    return result[0] if single else result


def _market_parameter(implied: npt.ArrayLike, solve: Kernel) -> float | FloatArray:
    """One solved model parameter per usable market (float for a single market, NaN where unusable)."""
    markets, usable, single = _markets(implied)
    parameter = np.full(len(markets), np.nan)
    parameter[usable] = solve(markets[usable])
    return float(parameter[0]) if single else parameter


def devig(implied: npt.ArrayLike, method: DevigMethod = "multiplicative") -> FloatArray:
    """Fair probabilities (summing to 1) of a market's implied probabilities, margin removed by ``method``.

    ``implied`` is one market ``(n,)`` or a batch ``(m, n)``; the result has the same shape. A single
    market with a probability outside (0, 1) raises; in a batch that market becomes a NaN row. A
    market with no margin comes back unchanged, and every method keeps the order of the outcomes.
    """
    kernel = _KERNELS.get(method)
    if kernel is None:
        raise ValueError(f"unknown de-vig method {method!r}; choose one of {', '.join(DEVIG_METHODS)}")
    return _apply(implied, kernel, method)


def devig_multiplicative(implied: npt.ArrayLike) -> FloatArray:
    """Fair probabilities ``p_i / sum(p)``: the margin is spread in proportion to each probability."""
    return devig(implied, "multiplicative")


def devig_additive(implied: npt.ArrayLike) -> FloatArray:
    """Fair probabilities ``p_i - (sum(p) - 1) / n``: every outcome carries an equal share of the margin.

    A market of three or more outcomes where a longshot's implied probability is below its share
    raises (single market) or becomes NaN (batch).
    """
    return devig(implied, "additive")


def devig_power(implied: npt.ArrayLike) -> FloatArray:
    """Fair probabilities ``p_i ** k`` with ``k`` solved so they sum to 1 (longshots shaded most)."""
    return devig(implied, "power")


def devig_shin(implied: npt.ArrayLike) -> FloatArray:
    """Fair probabilities under Shin's model of a bookmaker facing a share ``z`` of insiders.

    For two outcomes these equal the additive ones; see :func:`shin_z` for ``z`` itself.
    """
    return devig(implied, "shin")


def shin_z(implied: npt.ArrayLike) -> float | FloatArray:
    """Shin's insider share ``z`` of a market (float) or of each market in a batch (array).

    0 for a market without margin, in (0, 1) for a market with one; negative (the model extended
    past its meaning) for a market priced below 1.
    """
    return _market_parameter(implied, _shin_z)


def power_exponent(implied: npt.ArrayLike) -> float | FloatArray:
    """The exponent ``k`` of the power method (``sum(p_i ** k) == 1``) for one market or each of a batch."""
    return _market_parameter(implied, _power_exponent)


# ----------------------------------------------------------------------------------------------
# from prices straight to fair probabilities


def devig_american(odds: npt.ArrayLike, method: DevigMethod = "multiplicative") -> FloatArray:
    """Fair probabilities of a market given as American prices, ``(n,)`` or ``(m, n)``.

    A single market with an impossible price raises naming it; in a batch that market is NaN.
    """
    array, _ = _as_array(odds, "American odds")
    if array.ndim == 1:
        for price in array:
            _check_scalar(_valid_american(price), True, price, _AMERICAN_RULE)
    return devig(american_to_implied(array), method)


@overload
def fair_two_way(
    home_odds: float, away_odds: float, method: DevigMethod = "multiplicative"
) -> tuple[float, float]: ...
@overload
def fair_two_way(
    home_odds: npt.ArrayLike, away_odds: npt.ArrayLike, method: DevigMethod = "multiplicative"
) -> tuple[FloatArray, FloatArray]: ...
def fair_two_way(
    home_odds: npt.ArrayLike, away_odds: npt.ArrayLike, method: DevigMethod = "multiplicative"
) -> tuple[float, float] | tuple[FloatArray, FloatArray]:
    """Fair (home, away) probabilities of many two-way markets from their American prices at once.

    Built for whole seasons: pass the home and away price columns (numpy arrays or Polars series);
    a game with a missing or impossible price gets NaN on both sides. Two scalars give two floats
    and an impossible scalar price raises.
    """
    home = american_to_implied(home_odds)
    away = american_to_implied(away_odds)
    if np.ndim(home) == 0 and np.ndim(away) == 0:
        fair = devig(np.array([home, away]), method)
        return float(fair[0]), float(fair[1])
    home_b, away_b = np.broadcast_arrays(np.asarray(home), np.asarray(away))
    fair = devig(np.stack((home_b.ravel(), away_b.ravel()), axis=1), method)
    return fair[:, 0].reshape(home_b.shape), fair[:, 1].reshape(home_b.shape)
