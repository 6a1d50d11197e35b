"""The registry: the one definition of every feature, and everything generated from it."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from mlbedge.features.docs import DOCS_PATH, render_feature_docs
from mlbedge.features.registry import LABEL_ONLY, SOURCES, Family, Feature, feature_set_version, registry
from mlbedge.features.validation import check_schema, feature_row_model, validate_rows

REPO = Path(__file__).resolve().parents[2]


# Families that hold one venue-level signal (a park factor, an umpire's record) and its sample size.
SMALL_FAMILIES = {Family.PARK: 2, Family.UMPIRE: 2}


def test_at_least_ninety_features_in_every_family_with_unique_names() -> None:
    features = registry()
    assert len(features) >= 90
    counts = {family: len(features.family(family)) for family in Family}
    assert set(counts) == set(Family), counts
    assert all(n >= SMALL_FAMILIES.get(family, 10) for family, n in counts.items()), counts
    assert len(set(features.names)) == len(features.names)
    assert all(f.description and f.sources for f in features)


def test_no_feature_reads_a_label_and_every_source_is_documented() -> None:
    """RULE: closing lines, final scores of the game and SBRO's run line are never a feature's source."""
    for feature in registry():
        assert set(feature.sources) <= set(SOURCES), feature.name
        assert not set(feature.sources) & set(LABEL_ONLY), feature.name
    # Only time-stamped price histories may feed movement features: SBRO has an opening line only.
    movement = [f for f in registry() if f.name.endswith(("_move", "_per_hour"))]
    assert movement and all("sbro_open" not in f.sources for f in movement)
    with pytest.raises(ValueError, match="unknown sources"):
        Feature("x", Family.TEAM, "float64", "reads a closing line", ("home_ml_close",))


def test_every_built_column_has_the_registry_type_and_nullability(baseline: pl.DataFrame) -> None:
    assert check_schema(baseline) == []
    features = [c for c in baseline.columns if c in set(registry().names)]
    assert features == registry().names, "the pipeline emits the features in registry order"
    broken = baseline.head(3).with_columns(pl.col("home_elo").cast(pl.Float32))
    assert any("home_elo" in p for p in check_schema(broken))
    nulled = baseline.head(3).with_columns(pl.lit(None, pl.Int16).alias("h2h_games_season"))
    assert any("never null" in p for p in check_schema(nulled))


def test_the_generated_row_model_validates_rows_and_rejects_a_missing_required_value(
    baseline: pl.DataFrame,
) -> None:
    rows = baseline.head(20).to_dicts()
    models = validate_rows(rows)
    assert len(models) == 20 and models[0].game_id == rows[0]["game_id"]  # type: ignore[attr-defined]
    model = feature_row_model()
    required = [f.name for f in registry() if not f.nullable]
    bad = {**rows[0], required[0]: None}
    with pytest.raises(ValueError, match=required[0]):
        model.model_validate(bad)


def test_the_committed_docs_page_matches_the_registry() -> None:
    """docs/features.md is generated: regenerate with `mlbedge features docs --out docs/features.md`."""
    committed = (REPO / DOCS_PATH).read_text()
    assert committed == render_feature_docs()
    for feature in registry():
        assert f"| `{feature.name}` |" in committed


def test_the_feature_set_version_is_stable_and_changes_with_the_cutoff() -> None:
    assert feature_set_version(60) == feature_set_version(60)
    assert feature_set_version(60) != feature_set_version(30)
    assert feature_set_version(60).startswith("fs-")
