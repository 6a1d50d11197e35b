"""Feature drift: PSI against bins fixed at training time, on real feature rows.

The training window is the real 2016 season as stored by the feature pipeline. The recent windows
are real rows too: a seeded random sample of 800 of those games written back under new ids and
two-week dates in 2017 (the same population, so nothing drifted), and the same sample with ONE
feature shifted (SYNTHETIC: ``elo_diff`` plus one standard deviation).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import psycopg
import pytest

from mlbedge.features.io import write_features
from mlbedge.features.registry import registry
from mlbedge.monitoring.drift import (
    EPSILON,
    FeatureBins,
    bin_shares,
    check_feature_drift,
    ensure_baseline,
    fit_baseline,
    fit_bins,
    load_baseline,
    measure_drift,
    psi,
)
from mlbedge.settings import Settings

TRAIN = (date(2016, 4, 3), date(2016, 11, 2))
SHIFTED = "elo_diff"


def test_psi_hand_computed() -> None:
    """PSI = sum((a - e) ln(a / e)), computed here by hand, and through the bins of a known sample."""
    expected = [0.25, 0.25, 0.25, 0.25, 0.0]
    actual = [0.1, 0.4, 0.25, 0.25, 0.0]
    # (0.1-0.25) ln(0.1/0.25) + (0.4-0.25) ln(0.4/0.25) = 0.137444 + 0.070501; empty null bins add 0.
    assert psi(expected, actual) == pytest.approx(0.15 * math.log(2.5) + 0.15 * math.log(1.6), abs=1e-12)
    assert psi(expected, expected) == 0.0

    # Training 1..8 in 4 bins: cut at the observed quartiles 2, 4, 6, so two values per bin.
    bins = fit_bins("x", np.arange(1.0, 9.0), 4)
    assert bins.edges == (2.0, 4.0, 6.0)
    assert bins.expected == (0.25, 0.25, 0.25, 0.25, 0.0)
    # Recent: 1, 1, 1 | 3 | 5 | 7 | null, null -> shares 3/8, 1/8, 1/8, 1/8, 2/8.
    recent = np.array([1, 1, 1, 3, 5, 7, np.nan, np.nan])
    shares = bin_shares(recent, bins.edges)
    assert shares.tolist() == [0.375, 0.125, 0.125, 0.125, 0.25]
    by_hand = (
        (0.375 - 0.25) * math.log(0.375 / 0.25)
        + 3 * (0.125 - 0.25) * math.log(0.125 / 0.25)
        + (0.25 - EPSILON) * math.log(0.25 / EPSILON)  # the null bin was empty in training: floored
    )
    assert by_hand == pytest.approx(2.265842, abs=1e-6)
    assert psi(bins.expected, shares) == pytest.approx(by_hand, abs=1e-12)


def test_bins_are_right_closed_and_nulls_are_their_own_bin() -> None:
    """A value equal to a cut point falls in the bin it closes; NaN and null count as null."""
    shares = bin_shares(np.array([2.75, 2.76, 6.25, 100.0, np.nan]), (2.75, 4.5, 6.25))
    assert shares.tolist() == [0.2, 0.2, 0.2, 0.2, 0.2]
    flag = fit_bins("flag", np.array([0.0] * 7 + [1.0] * 3), 10)
    assert flag.edges == (0.0, 1.0)  # repeated quantiles merge: one bin per value of a 0/1 flag
    assert flag.expected == pytest.approx((0.7, 0.3, 0.0, 0.0))
    with pytest.raises(ValueError, match="edges \\+ 2"):
        FeatureBins("bad", (1.0,), (1.0,), 1)


def test_a_feature_that_stops_arriving_drifts(season_rows: pl.DataFrame, mon_settings: Settings) -> None:
    """Real rows where the market features turn null for half the games: the null bin catches it."""
    baseline = fit_baseline(season_rows, "t", features=["ml_home_prob", "home_elo"], n_bins=10)
    half = season_rows.with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.col("ml_home_prob")).alias("ml_home_prob")
    )
    measured = {d.feature: d for d in measure_drift(baseline, half, warning=0.1, critical=0.25)}
    assert measured["ml_home_prob"].null_share_actual == pytest.approx(
        0.5 + 0.5 * measured["ml_home_prob"].null_share_expected, abs=0.01
    )
    assert measured["ml_home_prob"].severity == "critical"
    assert measured["home_elo"].psi == 0.0 and measured["home_elo"].severity is None


def _recent_rows(rows: pl.DataFrame, start: date, *, shift: str | None = None) -> pl.DataFrame:
    """A seeded sample of 800 real rows, re-dated over 14 days from ``start`` under new ids."""
    sample = rows.sample(n=800, seed=20160704, shuffle=True)
    sample = sample.with_columns(
        game_id=pl.format("SYN{}-{}", pl.lit(start.isoformat()), pl.int_range(pl.len())),
        date=pl.lit(start) + pl.duration(days=pl.int_range(pl.len()) % 14),
        season=pl.lit(start.year, pl.Int32),
    ).with_columns(as_of=pl.col("date").cast(pl.Datetime("us", "UTC")))
    if shift is not None:
        sd = rows[shift].std()
        sample = sample.with_columns(pl.col(shift) + sd)
    return sample


def test_shift_in_one_feature_raises_exactly_its_alert(
    season_conn: psycopg.Connection, season_rows: pl.DataFrame, mon_settings: Settings
) -> None:
    """Unchanged window: no alert. The same window with one feature shifted: exactly that feature."""
    conn = season_conn
    baseline = ensure_baseline(conn, "test@v1", *TRAIN, settings=mon_settings)
    assert baseline.n_rows == season_rows.height == 2462
    assert set(baseline.features) == set(registry().names)

    calm_start, shifted_start = date(2017, 6, 1), date(2017, 7, 1)
    now = datetime(2017, 7, 20, tzinfo=UTC)
    write_features(conn, _recent_rows(season_rows, calm_start), computed_at=now)
    write_features(conn, _recent_rows(season_rows, shifted_start, shift=SHIFTED), computed_at=now)

    calm = check_feature_drift(
        conn, baseline, calm_start, calm_start + timedelta(days=13), settings=mon_settings
    )
    assert calm.n_rows == 800 and calm.skipped is None
    assert len(calm.features) == len(registry())
    worst = max(calm.features, key=lambda f: f.psi)
    assert calm.findings == [], f"unchanged window raised {calm.drifting}"
    assert worst.psi < mon_settings.monitor_psi_warning, worst

    end = shifted_start + timedelta(days=13)
    report = check_feature_drift(conn, baseline, shifted_start, end, settings=mon_settings)
    assert report.window_start == shifted_start
    assert report.drifting == [SHIFTED]
    shifted = next(f for f in report.features if f.feature == SHIFTED)
    assert shifted.psi > mon_settings.monitor_psi_critical
    (finding,) = report.findings
    assert (finding.subject, finding.severity) == (SHIFTED, "critical")
    assert finding.evidence["psi"] == pytest.approx(shifted.psi, abs=1e-6)
    assert finding.evidence["recent_rows"] == 800
    assert len(finding.evidence["bins"]) == len(baseline.bins[SHIFTED].edges) + 2


def test_baseline_bins_are_fixed_once_stored(season_conn: psycopg.Connection, mon_settings: Settings) -> None:
    """The bins stored under an id are what every later call gets, whatever window it names."""
    conn = season_conn
    first = ensure_baseline(conn, "model@v7", date(2016, 4, 3), date(2016, 6, 30), settings=mon_settings)
    again = ensure_baseline(conn, "model@v7", date(2016, 7, 1), date(2016, 11, 2), settings=mon_settings)
    loaded = load_baseline(conn, "model@v7")
    assert loaded is not None
    assert again.bins == first.bins == loaded.bins
    assert (loaded.window_start, loaded.window_end) == (date(2016, 4, 3), date(2016, 6, 30))
    other = ensure_baseline(conn, "model@v8", date(2016, 7, 1), date(2016, 11, 2), settings=mon_settings)
    assert other.bins["home_win_pct_season"] != first.bins["home_win_pct_season"]
    with pytest.raises(LookupError, match="no stored features"):
        ensure_baseline(conn, "model@v9", date(2030, 1, 1), date(2030, 2, 1), settings=mon_settings)


def test_calendar_features_are_measured_but_never_alerted(
    season_rows: pl.DataFrame, mon_settings: Settings
) -> None:
    """April against the whole season: the month drifts by design and raises nothing."""
    baseline = fit_baseline(season_rows, "t", features=["month", "day_of_season", "home_elo"])
    april = season_rows.filter(pl.col("date").dt.month() == 4)
    measured = {
        d.feature: d
        for d in measure_drift(baseline, april, warning=0.1, critical=0.25, calendar=["month", "day_of_*"])
    }
    assert measured["month"].psi > 1.0 and measured["month"].calendar and measured["month"].severity is None
    assert measured["day_of_season"].calendar and measured["day_of_season"].severity is None
    assert not measured["home_elo"].calendar
