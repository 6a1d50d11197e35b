"""The feature registry: every feature defined once, with what it reads and whether it may be null.

The registry is the single description of the model's inputs. It drives the docs page
(``docs/features.md``), the columns of ``curated.game_features``, the Pydantic row check at the
pipeline boundary, the feature set version, and (later) the online store and Feast definitions.
Each family module declares its own ``FEATURES`` with the types of :mod:`mlbedge.features.spec`
(the leaf the families import); this catalog imports the families and :func:`registry` gathers
them in family order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import mlbedge
from mlbedge.features import (
    availability,
    bullpen,
    market,
    park,
    pitcher,
    splits,
    starter,
    team,
    temporal,
    umpire,
)

# The spec's names stay importable from here.
from mlbedge.features.spec import (
    FAMILY_DESCRIPTIONS,
    LABEL_ONLY,
    SOURCES,
    Family,
    Feature,
    Registry,
    side_features,
)

__all__ = [
    "FAMILY_DESCRIPTIONS", "LABEL_ONLY", "SOURCES", "Family", "Feature", "Registry", "feature_set_version",
    "registry", "side_features",
]  # fmt: skip

# The modules besides the families whose code decides the feature values.
_CODE_MODULES: tuple[str, ...] = ("asof", "pipeline", "players", "prices", "validation")


def _family_modules() -> dict[Family, object]:
    return {
        Family.TEAM: team,
        Family.PITCHER: pitcher,
        Family.TEMPORAL: temporal,
        Family.MARKET: market,
        Family.SPLITS: splits,
        Family.STARTER: starter,
        Family.AVAILABILITY: availability,
        Family.BULLPEN: bullpen,
        Family.PARK: park,
        Family.UMPIRE: umpire,
    }


@lru_cache(maxsize=1)
def registry() -> Registry:
    """The registry of every feature, gathered from the family modules."""
    features: list[Feature] = []
    for family, module in _family_modules().items():
        declared: Iterable[Feature] = module.FEATURES  # type: ignore[attr-defined]
        for feature in declared:
            if feature.family is not family:
                raise ValueError(f"{feature.name!r} is declared in the {family} module as {feature.family}")
            features.append(feature)
    return Registry(tuple(features))


def _code_fingerprint() -> str:
    """A hash of the source of every module that computes features (a code change is a new set).

    Read as files, not imported: the pipeline imports this module.
    """
    families = [str(m.__name__).rsplit(".", 1)[1] for m in _family_modules().values()]  # type: ignore[attr-defined]
    digest = hashlib.sha256()
    for module in (*_CODE_MODULES, *families):
        digest.update(Path(__file__).with_name(f"{module}.py").read_bytes())
    return digest.hexdigest()


def feature_set_version(cutoff_minutes: int) -> str:
    """The feature set's version: a hash of the registry, the code, the package version and the cutoff.

    Two builds with the same version are computed by the same definitions from the same rule, so
    their rows can be mixed; anything else makes a new version (and incremental builds start over).
    """
    payload = json.dumps(
        {
            "registry": registry().as_records(),
            "code": _code_fingerprint(),
            "package": mlbedge.__version__,
            "cutoff_minutes": cutoff_minutes,
        },
        sort_keys=True,
    )
    return "fs-" + hashlib.sha256(payload.encode()).hexdigest()[:16]
