"""Feature-importance drift between two model versions: rank correlation and top-k changes.

A model that suddenly leans on other inputs than its predecessor did is worth a look even when
its scores are fine: a source may have changed under a feature, or a leak may have appeared. The
inputs are two ``{feature: importance}`` dicts (LightGBM total gain, as the training module logs
them with every run); a feature absent from one dict has importance 0 there.

- **Spearman rank correlation** over the union of features (average ranks for ties, so the many
  features with zero gain share one rank instead of an arbitrary order).
- **Top-k changes**: which features entered and left the ``k`` most important, and the share of
  the old top ``k`` still there (``overlap``).

It alerts when the correlation falls below ``monitor_importance_min_spearman`` or the overlap
below ``monitor_importance_min_overlap``. :func:`importance_from_mlflow` reads the logged
importance of a registered version, so :func:`check_model_importance` can compare the champion
with the challenger (or with the champion it replaced).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from mlbedge.monitoring.alerts import IMPORTANCE_DRIFT, Finding, Severity
from mlbedge.settings import Settings, get_settings

IMPORTANCE_ARTIFACT = "feature_importance_gain.json"  # logged with every training run


@dataclass(frozen=True)
class ImportanceDrift:
    """Two versions' importances compared."""

    subject: str  # the model compared, e.g. mlbedge-moneyline
    old_version: str
    new_version: str
    spearman: float
    top_k: int
    overlap: float  # share of the old top k still in the new top k
    entered: tuple[str, ...]  # in the new top k, not in the old
    left: tuple[str, ...]  # in the old top k, not in the new
    rank_changes: dict[str, tuple[int, int]] = field(default_factory=dict)  # top features: old, new rank
    severity: Severity | None = None

    @property
    def window(self) -> str:
        """The window key of its alert: the pair of versions."""
        return f"v{self.old_version}->v{self.new_version}"


def _ranks(old: Mapping[str, float], new: Mapping[str, float]) -> pl.DataFrame:
    names = sorted(set(old) | set(new))
    frame = pl.DataFrame(
        {
            "feature": names,
            "old": [float(old.get(n, 0.0)) for n in names],
            "new": [float(new.get(n, 0.0)) for n in names],
        },
        schema={"feature": pl.String, "old": pl.Float64, "new": pl.Float64},
    )
    # Rank 1 = most important; "ordinal" with the name as tie-break gives a stable top k.
    return frame.sort("feature").with_columns(
        old_rank=pl.col("old").rank("ordinal", descending=True).cast(pl.Int64),
        new_rank=pl.col("new").rank("ordinal", descending=True).cast(pl.Int64),
    )


def compare_importance(
    old: Mapping[str, float],
    new: Mapping[str, float],
    *,
    top_k: int = 10,
    subject: str = "model",
    old_version: str = "old",
    new_version: str = "new",
    min_spearman: float | None = None,
    min_overlap: float | None = None,
) -> ImportanceDrift:
    """Compare two importance dicts; severity set when a threshold given is crossed.

    ``min_spearman`` and ``min_overlap`` default to the settings. Below either: ``warning``;
    below both: ``critical``.
    """
    if not old or not new:
        raise ValueError(f"{subject}: both versions need importances (got {len(old)} and {len(new)})")
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    settings = get_settings()
    min_spearman = settings.monitor_importance_min_spearman if min_spearman is None else min_spearman
    min_overlap = settings.monitor_importance_min_overlap if min_overlap is None else min_overlap
    frame = _ranks(old, new)
    spearman = frame.select(pl.corr("old", "new", method="spearman")).item()
    spearman = float(spearman) if spearman is not None else float("nan")
    k = min(top_k, frame.height)
    old_top = frame.filter(pl.col("old_rank") <= k).sort("old_rank")
    new_top = frame.filter(pl.col("new_rank") <= k).sort("new_rank")
    old_names, new_names = old_top["feature"].to_list(), new_top["feature"].to_list()
    kept = set(old_names) & set(new_names)
    overlap = len(kept) / k
    shown = frame.filter((pl.col("old_rank") <= k) | (pl.col("new_rank") <= k)).sort("new_rank")
    rank_changes = {
        r[0]: (int(r[1]), int(r[2])) for r in shown.select("feature", "old_rank", "new_rank").rows()
    }
    # A constant importance vector has no ranks to correlate: count it as no agreement at all.
    low_rank = not (spearman >= min_spearman)
    low_overlap = overlap < min_overlap
    severity: Severity | None = (
        "critical" if low_rank and low_overlap else "warning" if low_rank or low_overlap else None
    )
    return ImportanceDrift(
        subject=subject,
        old_version=str(old_version),
        new_version=str(new_version),
        spearman=spearman,
        top_k=k,
        overlap=overlap,
        entered=tuple(n for n in new_names if n not in kept),
        left=tuple(n for n in old_names if n not in kept),
        rank_changes=rank_changes,
        severity=severity,
    )


def importance_finding(drift: ImportanceDrift, settings: Settings | None = None) -> Finding | None:
    """The alert for a comparison that crossed a threshold, else None."""
    if drift.severity is None:
        return None
    settings = settings or get_settings()
    spearman = drift.spearman if drift.spearman == drift.spearman else None  # NaN is not JSON
    return Finding(
        kind=IMPORTANCE_DRIFT,
        subject=drift.subject,
        window=drift.window,
        severity=drift.severity,
        message=(
            f"{drift.subject} v{drift.new_version} ranks its inputs unlike v{drift.old_version}: "
            f"Spearman {drift.spearman:.2f}, {drift.overlap:.0%} of the top {drift.top_k} kept"
            + (f"; entered {', '.join(drift.entered[:5])}" if drift.entered else "")
        ),
        evidence={
            "spearman": spearman,
            "min_spearman": settings.monitor_importance_min_spearman,
            "overlap": drift.overlap,
            "min_overlap": settings.monitor_importance_min_overlap,
            "top_k": drift.top_k,
            "entered": list(drift.entered),
            "left": list(drift.left),
            "ranks": {name: {"old": o, "new": n} for name, (o, n) in drift.rank_changes.items()},
        },
    )


# ----------------------------------------------------------------------------------------------
# MLflow adapter


def importance_from_mlflow(name: str, version: str, *, settings: Settings | None = None) -> dict[str, float]:
    """The gain importance logged with the training run of a registered model version.

    LookupError when the version or its importance artifact is missing.
    """
    from mlflow.exceptions import MlflowException

    from mlbedge.training import registry

    settings = settings or get_settings()
    mlclient = registry.client(settings)
    try:
        mv = mlclient.get_model_version(name, str(version))
    except MlflowException as exc:
        raise LookupError(f"model {name!r} has no version {version}: {exc}") from exc
    run_id = mv.run_id or (mv.tags or {}).get("run_id")
    if not run_id:
        raise LookupError(f"model {name!r} version {version} names no training run")
    try:
        with tempfile.TemporaryDirectory() as folder:
            local = mlclient.download_artifacts(run_id, IMPORTANCE_ARTIFACT, folder)
            loaded: Any = json.loads(Path(local).read_text())
    except (MlflowException, OSError, ValueError) as exc:
        raise LookupError(
            f"model {name!r} version {version}: run {run_id} has no {IMPORTANCE_ARTIFACT}: {exc}"
        ) from exc
    return {str(k): float(v) for k, v in loaded.items()}


def versions_to_compare(name: str, *, settings: Settings | None = None) -> tuple[str, str] | None:
    """``(old, new)``: the champion and the challenger when they differ, else the champion and the
    champion it replaced (``previous_champion``); None when there is no pair."""
    from mlbedge.training import registry

    champion = registry.champion(name, settings=settings)
    if champion is None:
        return None
    challenger = registry.champion(name, settings=settings, alias=registry.CHALLENGER)
    if challenger is not None and str(challenger.version) != str(champion.version):
        return str(champion.version), str(challenger.version)
    previous = registry.champion(name, settings=settings, alias="previous_champion")
    if previous is not None and str(previous.version) != str(champion.version):
        return str(previous.version), str(champion.version)
    return None


def check_model_importance(name: str, *, settings: Settings | None = None) -> ImportanceDrift | None:
    """Compare the importances of the pair of versions :func:`versions_to_compare` picks."""
    settings = settings or get_settings()
    pair = versions_to_compare(name, settings=settings)
    if pair is None:
        return None
    old, new = pair
    return compare_importance(
        importance_from_mlflow(name, old, settings=settings),
        importance_from_mlflow(name, new, settings=settings),
        top_k=settings.monitor_importance_top_k,
        subject=name,
        old_version=old,
        new_version=new,
    )
