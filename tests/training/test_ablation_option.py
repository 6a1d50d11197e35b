"""``mlbedge models evaluate --drop-families``: an ablation leaves out exactly one family's features."""

from __future__ import annotations

import pytest
import typer

from mlbedge.cli.train import _without_families
from mlbedge.features.registry import Family, registry


def test_dropping_families_removes_exactly_their_features() -> None:
    names = registry().names
    kept = _without_families(names, "starter, bullpen")
    dropped = set(names) - set(kept)
    expected = {f.name for f in (*registry().family(Family.STARTER), *registry().family(Family.BULLPEN))}
    assert dropped == expected
    assert kept == [n for n in names if n not in expected], "the order of the rest is kept"
    assert _without_families(names, "") == names


def test_an_unknown_family_is_named() -> None:
    with pytest.raises(typer.BadParameter, match="'pitchers'"):
        _without_families(registry().names, "pitchers")
