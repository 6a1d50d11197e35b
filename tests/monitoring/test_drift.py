"""Feature drift arithmetic: PSI on quantile bins fixed from a training window, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlbedge.monitoring.drift import EPSILON, bin_shares, psi, quantile_edges


def test_psi_hand_computed() -> None:
    """PSI = sum((a - e) ln(a / e)), computed here by hand, and through the bins of a known sample."""
    expected = [0.25, 0.25, 0.25, 0.25, 0.0]
    actual = [0.1, 0.4, 0.25, 0.25, 0.0]
    # (0.1-0.25) ln(0.1/0.25) + (0.4-0.25) ln(0.4/0.25) = 0.137444 + 0.070501; empty null bins add 0.
    assert psi(expected, actual) == pytest.approx(0.15 * math.log(2.5) + 0.15 * math.log(1.6), abs=1e-12)
    assert psi(expected, expected) == 0.0

    # Training 1..8 in 4 bins: cut at the observed quartiles 2, 4, 6, so two values per bin.
    training = np.arange(1.0, 9.0)
    edges = quantile_edges(training, 4)
    assert edges == (2.0, 4.0, 6.0)
    expected = bin_shares(training, edges)
    assert expected.tolist() == [0.25, 0.25, 0.25, 0.25, 0.0]
    # Recent: 1, 1, 1 | 3 | 5 | 7 | null, null -> shares 3/8, 1/8, 1/8, 1/8, 2/8.
    recent = np.array([1, 1, 1, 3, 5, 7, np.nan, np.nan])
    shares = bin_shares(recent, edges)
    assert shares.tolist() == [0.375, 0.125, 0.125, 0.125, 0.25]
    by_hand = (
        (0.375 - 0.25) * math.log(0.375 / 0.25)
        + 3 * (0.125 - 0.25) * math.log(0.125 / 0.25)
        + (0.25 - EPSILON) * math.log(0.25 / EPSILON)  # the null bin was empty in training: floored
    )
    assert by_hand == pytest.approx(2.265842, abs=1e-6)
    assert psi(expected, shares) == pytest.approx(by_hand, abs=1e-12)


def test_bins_are_right_closed_and_nulls_are_their_own_bin() -> None:
    """A value equal to a cut point falls in the bin it closes; NaN and null count as null."""
    shares = bin_shares(np.array([2.75, 2.76, 6.25, 100.0, np.nan]), (2.75, 4.5, 6.25))
    assert shares.tolist() == [0.2, 0.2, 0.2, 0.2, 0.2]
    flag = np.array([0.0] * 7 + [1.0] * 3)
    edges = quantile_edges(flag, 10)
    assert edges == (0.0, 1.0)  # repeated quantiles merge: one bin per value of a 0/1 flag
    assert bin_shares(flag, edges).tolist() == pytest.approx([0.7, 0.3, 0.0, 0.0])
    assert quantile_edges(np.array([np.nan, np.nan]), 10) == ()  # nothing observed: no cut points
    with pytest.raises(ValueError, match="same bins"):
        psi([0.5, 0.5], [1.0])
