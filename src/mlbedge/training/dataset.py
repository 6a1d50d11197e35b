"""The training data: stored feature rows of one feature set, with each target's labels beside them.

Features come from ``curated.game_features`` (built by :mod:`mlbedge.features`), labels and
benchmark prices from ``curated.games`` (:func:`mlbedge.training.targets.read_labels`). A model
is trained on one feature set only: rows of another version are rebuilt first (``build=True``,
the incremental build, which is a no-op when everything is current) or refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import psycopg

from mlbedge.features.io import build_and_store, read_features
from mlbedge.features.registry import feature_set_version, registry
from mlbedge.settings import get_settings
from mlbedge.training.asof_market import read_asof_probabilities
from mlbedge.training.targets import Target, label_frame, read_labels


class MissingFeaturesError(LookupError):
    """No usable stored features for the seasons asked."""


@dataclass(frozen=True)
class TrainingData:
    """Feature rows (sorted by date, game) of one feature set, and the labels of their games."""

    features: pl.DataFrame
    labels: pl.DataFrame
    feature_set_version: str
    feature_names: tuple[str, ...]
    # Each market's price quotable at each game's cutoff (the ``market_asof`` benchmark).
    asof: pl.DataFrame | None = None

    def labelled(self, target: Target | str) -> pl.DataFrame:
        """The rows with ``target``'s label, line and benchmarks (see :func:`label_frame`)."""
        return label_frame(self.features, self.labels, target, self.asof)

    @property
    def seasons(self) -> list[int]:
        """Seasons present, ascending."""
        return sorted(self.features["season"].unique().to_list())


def load_training_data(
    conn: psycopg.Connection,
    *,
    seasons: Sequence[int] | None = None,
    build: bool = True,
    cutoff_minutes: int | None = None,
) -> TrainingData:
    """Stored features and labels of ``seasons`` (all when None).

    With ``build`` the features missing or stale for the current feature set are built first
    (the caller commits). Raises :class:`MissingFeaturesError` when no row exists, and
    ``ValueError`` when rows of another feature set remain.
    """
    cutoff = get_settings().cutoff_minutes if cutoff_minutes is None else cutoff_minutes
    version = feature_set_version(cutoff)
    if build:
        build_and_store(conn, seasons=seasons, cutoff_minutes=cutoff)
    features = read_features(conn, seasons=seasons)
    if features.is_empty():
        wanted = "any season" if seasons is None else f"seasons {min(seasons)}-{max(seasons)}"
        raise MissingFeaturesError(
            f"no stored features for {wanted}; load data (`mlbedge data load ...`) and run `mlbedge features build`"
        )
    versions = sorted(features["feature_set_version"].unique().to_list())
    if versions != [version]:
        raise ValueError(
            f"stored features are of feature set(s) {versions}, the code's is {version}: "
            "run `mlbedge features build --full`"
        )
    labels = read_labels(conn, seasons=seasons)
    asof = read_asof_probabilities(conn, features, cutoff_minutes=cutoff, seasons=seasons)
    return TrainingData(features, labels, version, tuple(registry().names), asof)
