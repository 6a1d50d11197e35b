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

from mlbedge.features.io import build_and_store, read_features, read_inputs
from mlbedge.features.pipeline import FeatureInputs, build_features
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
    # The same rows built as of the start of each game's local date, when the open is bettable
    # (see :func:`at_the_open`): the move targets' inputs.
    open_features: pl.DataFrame | None = None

    def labelled(self, target: Target | str) -> pl.DataFrame:
        """The rows with ``target``'s label, line and benchmarks (see :func:`label_frame`); a move
        target's from the features at the open."""
        from mlbedge.training.targets import get_target

        target = get_target(target) if isinstance(target, str) else target
        if target.open_time:
            if self.open_features is None:
                raise ValueError(
                    f"{target.name} needs the features at the open: load_training_data(open_time=True)"
                )
            return label_frame(self.open_features, self.labels, target, self.asof)
        return label_frame(self.features, self.labels, target, self.asof)

    @property
    def seasons(self) -> list[int]:
        """Seasons present, ascending."""
        return sorted(self.features["season"].unique().to_list())


def at_the_open(inputs: FeatureInputs) -> FeatureInputs:
    """The inputs as they stand when the opening line is bettable: every start time forgotten, so
    each game's ``as_of`` is the start of its local date (results, and the player-level facts of
    earlier games, count only once observed by then), and no price or split snapshot (all are
    observed after the open). The player-level inputs stay: their facts are timed by the same
    clock, and without a start time a game's own posted lineup is never observed."""
    games = inputs.games.with_columns(
        pl.lit(None, inputs.games.schema["start_time_utc"]).alias("start_time_utc")
    )
    return FeatureInputs(games=games, players=inputs.players)


def open_time_features(conn: psycopg.Connection, features: pl.DataFrame, cutoff_minutes: int) -> pl.DataFrame:
    """``features`` rebuilt as of the start of each game's local date (:func:`at_the_open`):
    every feature, ``as_of`` (the local midnight) and ``start_known`` (false).

    Where no game has a known start time the stored rows already are (their ``as_of`` is the
    start of the local date) and come back as they are; only their market and splits features,
    which the move targets never read, differ.
    """
    inputs = read_inputs(conn, max_season=int(features["season"].max()))  # type: ignore[arg-type]
    if inputs.games["start_time_utc"].is_null().all():
        return features
    # The rows' own clock too: as of the start of the local date, the start time unused.
    names = [*registry().names, "as_of", "start_known"]
    built = build_features(
        at_the_open(inputs), cutoff_minutes=cutoff_minutes, game_ids=features["game_id"].to_list()
    ).select("game_id", *names)
    rebuilt = features.drop(names).join(built, on="game_id", how="left", maintain_order="left")
    return rebuilt.select(features.columns)


def load_training_data(
    conn: psycopg.Connection,
    *,
    seasons: Sequence[int] | None = None,
    build: bool = True,
    cutoff_minutes: int | None = None,
    open_time: bool = False,
) -> TrainingData:
    """Stored features and labels of ``seasons`` (all when None).

    With ``build`` the features missing or stale for the current feature set are built first
    (the caller commits). With ``open_time`` the rows are also built as of the open, for the move
    targets (:func:`open_time_features`). Raises :class:`MissingFeaturesError` when no row
    exists, and ``ValueError`` when rows of another feature set remain.
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
    at_open = open_time_features(conn, features, cutoff) if open_time else None
    return TrainingData(features, labels, version, tuple(registry().names), asof, at_open)
