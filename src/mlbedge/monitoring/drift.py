"""Feature drift arithmetic: the population stability index (PSI) on fixed quantile bins.

Bins are cut at the training window's quantiles (:func:`quantile_edges`; repeated cut points
merge, so a 0/1 flag gets its two values as bins) and every later window is binned with exactly
those cut points (:func:`bin_shares`), with nulls as a bin of their own (a feature that stops
arriving is drift too). With ``e_i`` and ``a_i`` the training and recent shares of bin ``i``, each
floored at :data:`EPSILON` (an empty bin would otherwise make the logarithm infinite)::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

Below 0.1 is the usual "no shift" (``monitor_psi_warning``). The daily monitor judges drift per
feature family against the same part of the season in the training seasons
(:func:`mlbedge.monitoring.checks.check_family_drift`, bins from
:mod:`mlbedge.monitoring.reference`); this module holds only the arithmetic they share.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl
import psycopg
from psycopg import sql

from mlbedge.features.io import copy_frame, ensure_schema
from mlbedge.features.registry import registry

EPSILON = 1e-4  # the floor of a bin's share in the PSI


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, *, epsilon: float = EPSILON) -> float:
    """``sum((a - e) * ln(a / e))`` over bins, each share floored at ``epsilon``.

    Both arguments are shares of the same bins (each summing to 1 up to rounding).
    """
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    if e.shape != a.shape:
        raise ValueError(f"expected and actual must have the same bins, got {e.shape} and {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def feature_values(column: pl.Series) -> npt.NDArray[np.float64]:
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
