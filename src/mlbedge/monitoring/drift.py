"""Feature drift: the population stability index (PSI) of every feature, recent window vs training.

**Bins are fixed at training time.** :func:`fit_baseline` cuts each feature of the training
window at its quantiles (``monitor_psi_bins`` of them; repeated cut points merge, so a 0/1 flag
gets its two values as bins) and records the share of training rows in each bin, with nulls as a
bin of their own (a feature that stops arriving is drift too). The baseline is stored in
``monitoring.drift_baselines`` once, under an id (e.g. the model version it was trained with), and
every later window is binned with exactly those cut points: a baseline is never refitted.

**PSI.** With ``e_i`` and ``a_i`` the training and recent shares of bin ``i``, each floored at
:data:`EPSILON` (an empty bin would otherwise make the logarithm infinite)::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

Below 0.1 is the usual "no shift", above 0.25 a large one; the thresholds are settings
(``monitor_psi_warning``, ``monitor_psi_critical``). Features that follow the calendar by design
(``monitor_drift_calendar_features``: the month, games played this season, ...) are measured and
reported but never alerted on: a two-week window of April always differs from a whole season.

:func:`check_feature_drift` reads the recent window from ``curated.game_features``, measures every
feature and returns one :class:`~mlbedge.monitoring.alerts.Finding` per drifting feature: the
arithmetic, on bins fixed once. The daily monitor does not alert per feature: it uses these bins
and this PSI in :func:`mlbedge.monitoring.checks.check_family_drift`, against the same part of the
season in the training seasons and per feature family.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import polars as pl
import psycopg
from psycopg import sql

from mlbedge.features.io import copy_frame, ensure_schema
from mlbedge.features.registry import registry
from mlbedge.monitoring.alerts import FEATURE_DRIFT, Finding, Severity
from mlbedge.settings import Settings, get_settings

EPSILON = 1e-4  # the floor of a bin's share in the PSI


@dataclass(frozen=True)
class FeatureBins:
    """One feature's bins from the training window.

    ``edges`` are the inner cut points, ascending; the bins are ``(-inf, e1], (e1, e2], ...,
    (ek, inf)`` and then the null bin. ``expected`` is the training share of each bin
    (``len(edges) + 2`` values summing to 1, the null share last).
    """

    feature: str
    edges: tuple[float, ...]
    expected: tuple[float, ...]
    n_rows: int

    def __post_init__(self) -> None:
        if len(self.expected) != len(self.edges) + 2:
            raise ValueError(
                f"feature {self.feature!r}: {len(self.expected)} expected shares for "
                f"{len(self.edges)} edges (need edges + 2: the value bins and the null bin)"
            )
        if any(b <= a for a, b in pairwise(self.edges)):
            raise ValueError(f"feature {self.feature!r}: edges must be strictly ascending: {self.edges}")

    def labels(self) -> list[str]:
        """A readable name per bin (for evidence): ``<=e1``, ``(e1, e2]``, ..., ``>ek``, ``null``."""
        if not self.edges:
            return ["all values", "null"]
        e = [f"{x:.6g}" for x in self.edges]
        middle = [f"({a}, {b}]" for a, b in pairwise(e)]
        return [f"<={e[0]}", *middle, f">{e[-1]}", "null"]


@dataclass(frozen=True)
class Baseline:
    """The bins of every feature from one training window, under one id."""

    baseline_id: str
    bins: dict[str, FeatureBins]
    n_rows: int
    feature_set_version: str | None = None
    window_start: date | None = None
    window_end: date | None = None

    @property
    def features(self) -> list[str]:
        """The features binned, in the order given at fit time."""
        return list(self.bins)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature measured on a recent window against its baseline."""

    feature: str
    psi: float
    n_rows: int
    expected: tuple[float, ...]
    actual: tuple[float, ...]
    labels: tuple[str, ...]
    calendar: bool = False  # follows the calendar by design: reported, never alerted
    severity: Severity | None = None

    @property
    def null_share_expected(self) -> float:
        """Training share of nulls."""
        return self.expected[-1]

    @property
    def null_share_actual(self) -> float:
        """Recent share of nulls."""
        return self.actual[-1]


@dataclass
class DriftReport:
    """A drift check: every feature measured, and the findings to raise."""

    baseline_id: str
    window_start: date
    window_end: date
    n_rows: int
    features: list[FeatureDrift] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None  # why nothing was measured (too few recent rows)

    @property
    def drifting(self) -> list[str]:
        """Features with an alert, most drifted first."""
        return [f.subject for f in self.findings]

    @property
    def window(self) -> str:
        """The window key of the check's alerts."""
        return f"{self.baseline_id}:{self.window_start.isoformat()}..{self.window_end.isoformat()}"


# ----------------------------------------------------------------------------------------------
# the arithmetic


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, *, epsilon: float = EPSILON) -> float:
    """``sum((a - e) * ln(a / e))`` over bins, each share floored at ``epsilon``.

    Both arguments are shares of the same bins (each summing to 1 up to rounding).
    """
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    if e.shape != a.shape:
        raise ValueError(f"expected and actual must have the same bins, got {e.shape} and {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def _values(column: pl.Series) -> npt.NDArray[np.float64]:
    """The column as floats, NaN for null (and NaN stays NaN: it counts as null)."""
    return column.cast(pl.Float64).fill_null(float("nan")).to_numpy()


def bin_shares(values: npt.NDArray[np.float64], edges: Sequence[float]) -> npt.NDArray[np.float64]:
    """Share of ``values`` in each bin of ``edges`` (right-closed) and in the null bin (NaN)."""
    n_bins = len(edges) + 2
    if values.size == 0:
        return np.zeros(n_bins)
    missing = np.isnan(values)
    # searchsorted(side="left") puts v in bin i with edges[i-1] < v <= edges[i]: right-closed.
    index = np.where(missing, n_bins - 1, np.searchsorted(np.asarray(edges, dtype=np.float64), values))
    counts = np.bincount(index, minlength=n_bins)
    return counts / values.size


def quantile_edges(values: npt.NDArray[np.float64], n_bins: int) -> tuple[float, ...]:
    """Inner cut points at the ``1/n, ..., (n-1)/n`` quantiles of the non-null values (each an
    observed value), repeated ones merged."""
    present = values[~np.isnan(values)]
    if present.size == 0:
        return ()
    # Cut points are observed values (no interpolation): a 0/1 flag is cut at 0 and 1, not 0.3.
    cuts = np.quantile(present, np.linspace(0.0, 1.0, n_bins + 1)[1:-1], method="inverted_cdf")
    return tuple(float(c) for c in np.unique(cuts))


def fit_bins(feature: str, values: npt.NDArray[np.float64], n_bins: int) -> FeatureBins:
    """One feature's bins and training shares."""
    edges = quantile_edges(values, n_bins)
    shares = bin_shares(values, edges)
    return FeatureBins(feature, edges, tuple(float(s) for s in shares), int(values.size))


def fit_baseline(
    frame: pl.DataFrame,
    baseline_id: str,
    *,
    features: Sequence[str] | None = None,
    n_bins: int | None = None,
    feature_set_version: str | None = None,
    window_start: date | None = None,
    window_end: date | None = None,
) -> Baseline:
    """Bins of ``features`` (default: every registry feature in ``frame``) from the training rows."""
    if frame.is_empty():
        raise ValueError(f"baseline {baseline_id!r}: the training window has no rows")
    n_bins = n_bins or get_settings().monitor_psi_bins
    names = list(features) if features is not None else [n for n in registry().names if n in frame.columns]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"baseline {baseline_id!r}: the training rows lack features {missing[:5]}")
    bins = {name: fit_bins(name, _values(frame[name]), n_bins) for name in names}
    return Baseline(baseline_id, bins, frame.height, feature_set_version, window_start, window_end)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def calendar_patterns(settings: Settings | None = None) -> list[str]:
    """The glob patterns of features that follow the calendar (``monitor_drift_calendar_features``)."""
    text = (settings or get_settings()).monitor_drift_calendar_features
    return [p.strip() for p in text.split(",") if p.strip()]


def measure_drift(
    baseline: Baseline,
    recent: pl.DataFrame,
    *,
    warning: float,
    critical: float,
    calendar: Sequence[str] = (),
) -> list[FeatureDrift]:
    """PSI of every baseline feature on ``recent``, with its severity (None: no alert)."""
    out = []
    for name, bins in baseline.bins.items():
        if name not in recent.columns:
            raise ValueError(f"the recent rows lack feature {name!r} of baseline {baseline.baseline_id!r}")
        actual = bin_shares(_values(recent[name]), bins.edges)
        value = psi(bins.expected, actual)
        is_calendar = _matches(name, calendar)
        severity: Severity | None = None
        if not is_calendar and value >= critical:
            severity = "critical"
        elif not is_calendar and value >= warning:
            severity = "warning"
        out.append(
            FeatureDrift(
                name,
                value,
                recent.height,
                bins.expected,
                tuple(float(a) for a in actual),
                tuple(bins.labels()),
                is_calendar,
                severity,
            )
        )
    return out


def drift_report(
    baseline: Baseline,
    recent: pl.DataFrame,
    window_start: date,
    window_end: date,
    *,
    settings: Settings | None = None,
) -> DriftReport:
    """Measure ``recent`` (the rows of ``window_start..window_end``) and turn drift into findings."""
    settings = settings or get_settings()
    report = DriftReport(baseline.baseline_id, window_start, window_end, recent.height)
    if recent.height < settings.monitor_drift_min_rows:
        report.skipped = (
            f"{recent.height} games from {window_start} to {window_end}, fewer than "
            f"monitor_drift_min_rows={settings.monitor_drift_min_rows}: no verdict"
        )
        return report
    report.features = measure_drift(
        baseline,
        recent,
        warning=settings.monitor_psi_warning,
        critical=settings.monitor_psi_critical,
        calendar=calendar_patterns(settings),
    )
    drifting = sorted((f for f in report.features if f.severity), key=lambda f: -f.psi)
    for f in drifting:
        report.findings.append(
            Finding(
                kind=FEATURE_DRIFT,
                subject=f.feature,
                window=report.window,
                severity=f.severity,  # type: ignore[arg-type]
                message=(
                    f"feature {f.feature} drifted: PSI {f.psi:.3f} over {f.n_rows} games "
                    f"{window_start}..{window_end} against baseline {baseline.baseline_id}"
                ),
                evidence={
                    "psi": round(f.psi, 6),
                    "warning": settings.monitor_psi_warning,
                    "critical": settings.monitor_psi_critical,
                    "baseline_id": baseline.baseline_id,
                    "training_window": [_iso(baseline.window_start), _iso(baseline.window_end)],
                    "training_rows": baseline.n_rows,
                    "recent_window": [window_start.isoformat(), window_end.isoformat()],
                    "recent_rows": f.n_rows,
                    "bins": [
                        {"bin": label, "expected": round(e, 6), "actual": round(a, 6)}
                        for label, e, a in zip(f.labels, f.expected, f.actual, strict=True)
                    ],
                },
            )
        )
    return report


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


# ----------------------------------------------------------------------------------------------
# the database side


def store_baseline(conn: psycopg.Connection, baseline: Baseline) -> int:
    """Store a baseline's bins; bins already stored under its id are kept (never refitted).

    Returns the rows inserted. The caller owns the transaction.
    """
    rows = [
        (
            baseline.baseline_id,
            b.feature,
            list(b.edges),
            list(b.expected),
            b.n_rows,
            baseline.feature_set_version,
            baseline.window_start,
            baseline.window_end,
        )
        for b in baseline.bins.values()
    ]
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO monitoring.drift_baselines
                (baseline_id, feature, edges, expected, n_rows, feature_set_version, window_start, window_end)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (baseline_id, feature) DO NOTHING
            """,
            rows,
            returning=False,
        )
        return max(cur.rowcount, 0)


def load_baseline(conn: psycopg.Connection, baseline_id: str) -> Baseline | None:
    """The stored baseline of that id, or None."""
    rows = conn.execute(
        """
        SELECT feature, edges, expected, n_rows, feature_set_version, window_start, window_end
        FROM monitoring.drift_baselines WHERE baseline_id = %s ORDER BY feature
        """,
        (baseline_id,),
    ).fetchall()
    if not rows:
        return None
    order = {name: i for i, name in enumerate(registry().names)}
    rows.sort(key=lambda r: (order.get(r[0], len(order)), r[0]))
    bins = {r[0]: FeatureBins(r[0], tuple(r[1]), tuple(r[2]), r[3]) for r in rows}
    first = rows[0]
    return Baseline(baseline_id, bins, first[3], first[4], first[5], first[6])


def read_feature_window(
    conn: psycopg.Connection, start: date, end: date, *, feature_set_version: str | None = None
) -> pl.DataFrame:
    """Stored feature rows of games dated ``start..end`` (inclusive), optionally of one feature set."""
    ensure_schema(conn)
    schema = {"game_id": pl.String(), "season": pl.Int32(), "date": pl.Date(), **registry().polars_schema()}
    condition = sql.SQL("date BETWEEN %s AND %s")
    params: list[object] = [start, end]
    if feature_set_version is not None:
        condition = sql.SQL("{} AND feature_set_version = %s").format(condition)
        params.append(feature_set_version)
    source = sql.SQL("(SELECT * FROM curated.game_features WHERE {}) f").format(condition)
    return copy_frame(conn, source, schema, params).sort("date", "game_id")


def ensure_baseline(
    conn: psycopg.Connection,
    baseline_id: str,
    start: date,
    end: date,
    *,
    feature_set_version: str | None = None,
    settings: Settings | None = None,
) -> Baseline:
    """The stored baseline ``baseline_id``, fitted from the stored features of ``start..end`` and
    stored the first time it is asked for. Later calls return the stored bins whatever the window."""
    found = load_baseline(conn, baseline_id)
    if found is not None:
        return found
    settings = settings or get_settings()
    rows = read_feature_window(conn, start, end, feature_set_version=feature_set_version)
    if rows.is_empty():
        which = f" of feature set {feature_set_version}" if feature_set_version else ""
        raise LookupError(
            f"no stored features{which} for games {start}..{end} to fit drift baseline {baseline_id!r}; "
            "run `mlbedge features build` first"
        )
    baseline = fit_baseline(
        rows,
        baseline_id,
        n_bins=settings.monitor_psi_bins,
        feature_set_version=feature_set_version,
        window_start=start,
        window_end=end,
    )
    store_baseline(conn, baseline)
    return baseline


def check_feature_drift(
    conn: psycopg.Connection,
    baseline: Baseline,
    window_start: date,
    window_end: date,
    *,
    settings: Settings | None = None,
) -> DriftReport:
    """Measure the stored features of ``window_start..window_end`` against ``baseline``.

    Rows of the baseline's feature set only, when it names one (another feature set computes
    features differently: that is a new model, not drift).
    """
    recent = read_feature_window(
        conn, window_start, window_end, feature_set_version=baseline.feature_set_version
    )
    return drift_report(baseline, recent, window_start, window_end, settings=settings)
