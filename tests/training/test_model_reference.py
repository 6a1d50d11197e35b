"""Model references as the CLI and MLflow write them, parsed by one function."""

from __future__ import annotations

import pytest

from mlbedge.settings import Settings
from mlbedge.training.registry import ModelReference, parse_model_reference


@pytest.fixture
def settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    return Settings(home=tmp_path, model_name_prefix="shop")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("moneyline@champion", ModelReference("shop-moneyline", "champion", None)),
        ("total/3", ModelReference("shop-total", None, "3")),
        ("models:/shop-runline@challenger", ModelReference("shop-runline", "challenger", None)),
        ("models:/shop-runline/12", ModelReference("shop-runline", None, "12")),
        ("models:/moneyline@champion", ModelReference("shop-moneyline", "champion", None)),
        ("my-own-model@best", ModelReference("my-own-model", "best", None)),
    ],
)
def test_references_in_every_spelling(settings: Settings, text: str, expected: ModelReference) -> None:
    assert parse_model_reference(text, settings) == expected


@pytest.mark.parametrize("text", ["moneyline", "models:/", "@champion", "moneyline@", "total/", "models:/x"])
def test_a_reference_without_alias_or_version_is_refused_by_name(settings: Settings, text: str) -> None:
    with pytest.raises(ValueError, match="NAME@ALIAS") as error:
        parse_model_reference(text, settings)
    assert repr(text) in str(error.value)
