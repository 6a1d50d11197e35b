"""Materialization: ``curated.game_features`` in PostgreSQL into the online store.

The rows of the chosen dates (or seasons, or everything) are read in one COPY and written with
one :meth:`~mlbedge.store.base.OnlineStore.write_batch`: every slate is replaced whole and
switches at once, after all its blobs are in. Running it again with unchanged rows switches
nothing (idempotent); rows rebuilt by the feature pipeline become new slate versions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl
import psycopg

from mlbedge.features.io import read_features
from mlbedge.store.base import OnlineStore, StoreError, WriteReport


@dataclass
class MaterializeReport:
    """What one materialization did, and how long each step took."""

    feature_set_version: str
    games: int
    dates: int
    switched: int
    unchanged: int
    seconds: dict[str, float] = field(default_factory=dict)


def rows_to_materialize(
    conn: psycopg.Connection,
    *,
    dates: Sequence[date] | None = None,
    seasons: Sequence[int] | None = None,
) -> pl.DataFrame:
    """The stored feature rows of ``dates`` or ``seasons`` (everything when both are None)."""
    if dates is not None:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT game_id FROM curated.game_features WHERE date = ANY(%s)", (list(dates),)
            ).fetchall()
        ]
        return read_features(conn, game_ids=ids)
    return read_features(conn, seasons=seasons)


def materialize(
    conn: psycopg.Connection,
    store: OnlineStore,
    *,
    dates: Sequence[date] | None = None,
    seasons: Sequence[int] | None = None,
) -> MaterializeReport:
    """Copy the stored features of ``dates`` / ``seasons`` (all when None) into ``store``.

    Raises ``LookupError`` when there is nothing stored for the selection, and ``StoreError``
    when the selection mixes feature sets (a partial rebuild: the online slates must each come
    from one feature set, so rebuild with ``mlbedge features build --full`` first).
    """
    started = time.perf_counter()
    frame = rows_to_materialize(conn, dates=dates, seasons=seasons)
    read_s = time.perf_counter() - started
    if frame.is_empty():
        what = (
            f"dates {[d.isoformat() for d in dates]}"
            if dates is not None
            else f"seasons {list(seasons)}"
            if seasons is not None
            else "any season"
        )
        raise LookupError(f"no stored features for {what}; run `mlbedge features build` first")
    versions = (
        frame.group_by("feature_set_version")
        .agg(pl.len().alias("games"), pl.col("date").min().alias("first"), pl.col("date").max().alias("last"))
        .sort("feature_set_version")
    )
    if versions.height > 1:
        detail = "; ".join(f"{v}: {n} games {first}..{last}" for v, n, first, last in versions.iter_rows())
        raise StoreError(
            f"the selected rows mix {versions.height} feature sets ({detail}); "
            "rebuild them with `mlbedge features build --full` before materializing"
        )
    version = versions["feature_set_version"][0]
    report: WriteReport = store.write_batch(version, frame)
    return MaterializeReport(
        feature_set_version=version,
        games=report.games,
        dates=report.dates,
        switched=len(report.switched),
        unchanged=len(report.unchanged),
        seconds={"read": read_s, "write": report.seconds, "total": time.perf_counter() - started},
    )
