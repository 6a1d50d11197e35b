"""The boundary check: a feature row whose sources were observed after its cutoff is rejected.

Every family reports, per game, the newest observation time of anything it read
(``src_<family>_observed_at``, carried out of the as-of joins from the facts themselves, not
recomputed). :class:`FeatureProvenance` is the Pydantic model of that part of a row: its validator
refuses a row in which any of those times is later than the row's ``as_of``. The pipeline runs it
on every row it builds before anything is stored or exported, so a join written the wrong way
round fails the build instead of leaking silently.

:func:`feature_row_model` is the Pydantic model of a whole row, generated from the registry
(types and nullability); the export and the online store use it at their boundary.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import polars as pl
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    create_model,
    model_validator,
)

from mlbedge.features.registry import Family, Registry, registry

PROVENANCE_COLUMNS: dict[Family, str] = {
    Family.TEAM: "src_team_observed_at",
    Family.PITCHER: "src_pitcher_observed_at",
    Family.MARKET: "src_market_observed_at",
    Family.SPLITS: "src_splits_observed_at",
    Family.STARTER: "src_starter_observed_at",
    Family.AVAILABILITY: "src_availability_observed_at",
    Family.BULLPEN: "src_bullpen_observed_at",
    Family.PARK: "src_park_observed_at",
    Family.UMPIRE: "src_umpire_observed_at",
}
# The temporal family reads only scheduled facts (known before any cutoff): no observation time.


class LeakageError(ValueError):
    """Rows whose sources were observed after their cutoff, or rows that break the registry's schema."""

    def __init__(self, problems: list[str]) -> None:
        shown = problems[:20]
        more = f"\n... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        super().__init__(f"{len(problems)} feature row problem(s):\n" + "\n".join(shown) + more)
        self.problems = problems


class FeatureProvenance(BaseModel):
    """When each family's newest fact behind one game's row was observed, and the row's cutoff."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    game_id: str
    as_of: AwareDatetime
    src_team_observed_at: AwareDatetime | None = None
    src_pitcher_observed_at: AwareDatetime | None = None
    src_market_observed_at: AwareDatetime | None = None
    src_splits_observed_at: AwareDatetime | None = None
    src_starter_observed_at: AwareDatetime | None = None
    src_availability_observed_at: AwareDatetime | None = None
    src_bullpen_observed_at: AwareDatetime | None = None
    src_park_observed_at: AwareDatetime | None = None
    src_umpire_observed_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _nothing_after_the_cutoff(self) -> FeatureProvenance:
        late = [
            f"{family.value} fact observed at {observed.isoformat()}"
            for family, column in PROVENANCE_COLUMNS.items()
            if (observed := getattr(self, column)) is not None and observed > self.as_of
        ]
        if late:
            raise ValueError(
                f"game {self.game_id}: {'; '.join(late)} is after its cutoff as_of={self.as_of.isoformat()}"
            )
        return self


_PROVENANCE_LIST = TypeAdapter(list[FeatureProvenance])


def check_provenance(frame: pl.DataFrame) -> list[str]:
    """Every row's provenance through :class:`FeatureProvenance`; the problems found (empty = clean)."""
    columns = ["game_id", "as_of", *[c for c in PROVENANCE_COLUMNS.values() if c in frame.columns]]
    try:
        _PROVENANCE_LIST.validate_python(frame.select(columns).to_dicts())
    except ValidationError as exc:
        return [_describe(error, frame) for error in exc.errors()]
    return []


def _describe(error: Any, frame: pl.DataFrame) -> str:
    location = error.get("loc", ())
    row = location[0] if location and isinstance(location[0], int) else None
    game = frame["game_id"][row] if row is not None and row < frame.height else "?"
    field = ".".join(str(part) for part in location[1:]) or "row"
    return f"row {row} (game {game}) {field}: {error.get('msg')}"


def check_schema(frame: pl.DataFrame, features: Registry | None = None) -> list[str]:
    """Registry columns present with their types; no null where the registry forbids it; no NaN."""
    features = features or registry()
    problems = []
    for feature in features:
        if feature.name not in frame.columns:
            problems.append(f"column {feature.name}: missing")
            continue
        column = frame[feature.name]
        if column.dtype != feature.polars_dtype:
            problems.append(
                f"column {feature.name}: dtype {column.dtype}, registry says {feature.polars_dtype}"
            )
    if problems:
        return problems
    nulls = frame.select(pl.col(f.name).null_count() for f in features if not f.nullable)
    for name, count in nulls.row(0, named=True).items() if nulls.width else ():
        if count:
            first = frame.filter(pl.col(name).is_null())["game_id"][0]
            problems.append(
                f"column {name}: {count} null value(s) but the registry says never null (e.g. game {first})"
            )
    floats = [f.name for f in features if f.dtype == "float64"]
    if floats:
        nans = frame.select(pl.col(floats).is_nan().sum())
        problems += [
            f"column {name}: {n} NaN value(s) (missing is null)"
            for name, n in nans.row(0, named=True).items()
            if n
        ]
    return problems


def validate_features(frame: pl.DataFrame, features: Registry | None = None) -> None:
    """Raise :class:`LeakageError` unless every row passes the schema and provenance checks."""
    problems = check_schema(frame, features) + check_provenance(frame)
    if problems:
        raise LeakageError(problems)


@lru_cache(maxsize=1)
def feature_row_model() -> type[BaseModel]:
    """A Pydantic model of one full feature row, generated from the registry."""
    fields: dict[str, Any] = {
        "game_id": (str, ...),
        "date": (Any, ...),
        "as_of": (datetime, ...),
    }
    for feature in registry():
        kind = feature.python_type
        fields[feature.name] = (kind | None, None) if feature.nullable else (kind, ...)
    return create_model("FeatureRow", __config__=ConfigDict(extra="ignore", frozen=True), **fields)


def validate_rows(rows: list[dict[str, Any]]) -> list[BaseModel]:
    """Validate full rows (e.g. at export or before the online store) with :func:`feature_row_model`."""
    adapter = TypeAdapter(list[feature_row_model()])  # type: ignore[misc]
    return adapter.validate_python(rows)
