"""Drive a generated Feast repository: export its offline source, apply, materialize, read online.

Feast is imported inside each function, so importing this module costs nothing and a missing
install fails with the command that fixes it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta
from types import ModuleType
from typing import Any

import psycopg
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlbedge.features.io import read_features, write_parquet
from mlbedge.store.base import StoreError
from mlbedge.store.feast.repo import FeastRepo, feature_refs


class FeastNotInstalledError(StoreError):
    """Feast is not importable in this environment."""


def require_feast() -> ModuleType:
    """The ``feast`` module, or a :class:`FeastNotInstalledError` saying how to install it."""
    try:
        import feast
    except ImportError as exc:
        raise FeastNotInstalledError(
            "Feast is not installed in this environment: pip install 'mlbedge[feast]' "
            "(it pins older redis-py and pandas, so a separate virtualenv is best: make feast-test builds .venv-feast)"
        ) from exc
    return feast


def feature_store(repo: FeastRepo) -> Any:
    """A ``feast.FeatureStore`` on the repository."""
    feast = require_feast()
    return feast.FeatureStore(repo_path=str(repo.path))


def load_definitions(repo: FeastRepo) -> list[Any]:
    """The Feast objects the generated definitions file declares (its ``OBJECTS`` list)."""
    require_feast()
    name = f"_mlbedge_feast_defs_{repo.project}"
    spec = importlib.util.spec_from_file_location(name, repo.definitions_path)
    if spec is None or spec.loader is None:
        raise StoreError(f"cannot load Feast definitions from {repo.definitions_path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return list(module.OBJECTS)


def apply(repo: FeastRepo) -> list[str]:
    """Register the repository's entity, source and feature views with Feast; returns their names."""
    objects = load_definitions(repo)
    feature_store(repo).apply(objects)
    return [getattr(o, "name", type(o).__name__) for o in objects]


def export_offline(
    conn: psycopg.Connection, repo: FeastRepo, *, seasons: Sequence[int] | None = None
) -> tuple[int, str]:
    """Write the stored features of ``seasons`` (all when None) as the repository's offline source.

    Uses the features export format (:func:`mlbedge.features.io.write_parquet`). Returns the rows
    written and their feature set version; refuses a selection that mixes feature sets.
    """
    frame = read_features(conn, seasons=seasons)
    if frame.is_empty():
        raise LookupError(f"no stored features for seasons {seasons}; run `mlbedge features build` first")
    versions = sorted(frame["feature_set_version"].unique().to_list())
    if len(versions) != 1:
        raise StoreError(
            f"the selected rows mix feature sets {versions}; rebuild with `mlbedge features build --full`"
        )
    write_parquet(frame, repo.parquet_path, versions[0])
    return frame.height, versions[0]


def offline_window(repo: FeastRepo) -> tuple[datetime, datetime]:
    """The event-time span of the offline source: ``[first as_of, last as_of + 1 s)``."""
    if not repo.parquet_path.exists():
        raise LookupError(f"{repo.parquet_path} does not exist: export the features first")
    column = pq.read_table(repo.parquet_path, columns=["as_of"]).column("as_of")
    bounds = pc.min_max(column)
    first, last = bounds["min"].as_py(), bounds["max"].as_py()
    if first is None:
        raise LookupError(f"{repo.parquet_path} holds no rows")
    return first, last + timedelta(seconds=1)


def materialize(
    repo: FeastRepo, start: datetime | None = None, end: datetime | None = None
) -> tuple[datetime, datetime]:
    """Load the offline rows with ``start <= as_of < end`` (default: all of them) into Feast's
    online store; returns the window used."""
    if start is None or end is None:
        first, last = offline_window(repo)
        start, end = start or first, end or last
    feature_store(repo).materialize(start_date=start, end_date=end)
    return start, end


def online_features(
    repo: FeastRepo, game_ids: Sequence[str], names: list[str] | None = None, store: Any = None
) -> dict[str, list[Any]]:
    """Feast's online values: ``{"game_id": [...], feature: [...], ...}`` in the order asked."""
    store = store or feature_store(repo)
    response = store.get_online_features(
        features=feature_refs(names), entity_rows=[{"game_id": g} for g in game_ids]
    )
    return response.to_dict()


def teardown(repo: FeastRepo) -> None:
    """Remove the repository's online data and registry entries (Feast's own teardown)."""
    feature_store(repo).teardown()
