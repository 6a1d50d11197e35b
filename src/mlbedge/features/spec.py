"""The feature spec: what a feature is (:class:`Feature`), its family, the facts it may read, and
the :class:`Registry` type. A leaf of the features package: the family modules import it to declare
their ``FEATURES``, and :mod:`mlbedge.features.registry` (the catalog) gathers those.

``sources`` name the *kinds of fact* a feature reads (keys of :data:`SOURCES`), each with the time
it is observed. Nothing listed in :data:`LABEL_ONLY` may ever appear there: those are outcomes and
benchmarks, and a test proves the pipeline runs without them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Literal

import polars as pl


class Family(StrEnum):
    """The feature families, in the order they appear everywhere."""

    TEAM = "team"
    PITCHER = "pitcher"
    TEMPORAL = "temporal"
    MARKET = "market"
    SPLITS = "splits"
    STARTER = "starter"
    AVAILABILITY = "availability"
    BULLPEN = "bullpen"
    PARK = "park"
    UMPIRE = "umpire"


FAMILY_DESCRIPTIONS: dict[Family, str] = {
    Family.TEAM: "Team form from earlier results: rolling windows, season to date, venue splits, "
    "one-run games, streak, Elo, head-to-head.",
    Family.PITCHER: "The listed starting pitchers: hand, rest, the team's results in their earlier "
    "starts this season, and each lineup's record against that hand.",
    Family.TEMPORAL: "Schedule and travel: calendar, day/night, doubleheaders, rest, density, series, "
    "time-zone shift and distance since the previous game.",
    Family.MARKET: "Prices known at the cutoff: de-vigged moneyline, total and run-line probabilities, "
    "margin, movement since the open, disagreement across books, price bands.",
    Family.SPLITS: "Public betting splits (share of bets and of money) at the cutoff, their movement, "
    "and line movement against the public. Null where no splits exist.",
    Family.STARTER: "The listed starting pitchers by Retrosheet id: prior seasons' FIP, K-BB%, workload "
    "and platoon split against the opposing lineup's hands (shrunk toward league average), rest, and "
    "form in their earlier starts this season.",
    Family.AVAILABILITY: "Who is missing: each team's recent lineups against its strongest usual "
    "lineup (prior seasons' batting, this season's starts); the posted lineup only where the start "
    "time is known.",
    Family.BULLPEN: "Bullpen fatigue and quality: relievers and pitches used in the last 1-3 days, "
    "inherited runners, season-to-date relief use.",
    Family.PARK: "The park's run factor from the three seasons before this one (runs per game there "
    "over the league's, shrunk toward neutral).",
    Family.UMPIRE: "The plate umpire's runs per game in his earlier games behind the plate, shrunk "
    "toward the league, minus the league's.",
}

# What a feature may read. Each entry says where it lives and when it counts as observed.
SOURCES: dict[str, str] = {
    "schedule": "curated.games date, teams, game_num, game_type, day_night: scheduled facts, "
    "known before the game",
    "starters": "curated.games home/away_listed_starter and *_starter_hand: the starting pitchers "
    "listed before the game (SBRO, else Pinnacle; live: the probable pitchers at the cutoff), a "
    "pre-game fact",
    "results": "curated.games home_score/away_score of EARLIER games, each observed at the end of "
    "its local date (midnight after, home team's time zone)",
    "parks": "mlbedge.domain.teams: each team's park coordinates and time zone",
    "sbro_open": "curated.games *_ml_open, total_open, over/under_odds_open: the SBRO opening line, "
    "observed at the start of the game's local date",
    "pinnacle_lines": "staging.pinnacle_lines: time-stamped Pinnacle snapshots (2016), observed at "
    "their own observed_at",
    "live_quotes": "staging.odds_quotes: live odds snapshots per book, observed at their observed_at "
    "(in-play quotes excluded)",
    "live_splits": "staging.splits: live betting splits per book, observed at their observed_at "
    "(in-play splits excluded)",
    "listed_starter_ids": "curated.games home/away_listed_starter_id: SBRO's listed starters resolved "
    "to Retrosheet ids, a pre-game fact",
    "season_stats": "Lahman batting and pitching season totals and retrosplits pitcher platoon splits "
    "of season Y, each observed at Y+1-01-01 00:00 UTC (after that season's last game)",
    "people": "Lahman People: bats and throws of each player (a fixed fact)",
    "game_starters": "who actually started EARLIER games (game logs), each observed at the end of its "
    "game's local date (a suspended game's: of its completion date)",
    "lineups": "starting lineups of EARLIER games (game logs), each observed at the end of its game's "
    "local date (a suspended game's: of its completion date)",
    "posted_lineup": "the game's own starting lineup, observed 120 minutes before first pitch where the "
    "start time is known, never where it is not",
    "venue": "curated.games park_id and plate_umpire_id (game logs): the game's park and its plate "
    "umpire, pre-game facts (the park is scheduled; umpire crews are assigned to a series before it "
    "starts and rotate each game)",
    "team_game_rows": "retrosplits team-game pitching rows and the game log's pitchers used, of EARLIER "
    "games, each observed at the end of its game's local date (a suspended game's: of its completion "
    "date)",
}

# Outcomes and benchmarks. Feature code never reads these; tests poison and delete them.
LABEL_ONLY: tuple[str, ...] = (
    "home_score",  # of the game itself (earlier games' scores are `results`)
    "away_score",
    "home_ml_close",
    "away_ml_close",
    "total_close",
    "over_odds_close",
    "under_odds_close",
    "home_rl",  # SBRO's run line has no open: it is closing-ish
    "home_rl_odds",
    "away_rl_odds",
    "home_starter",  # who actually threw the first pitch (the box score's): known after the game
    "away_starter",
)

DType = Literal["float64", "int32", "int16", "int8"]

_POLARS: dict[str, pl.DataType] = {
    "float64": pl.Float64(),
    "int32": pl.Int32(),
    "int16": pl.Int16(),
    "int8": pl.Int8(),
}
_SQL: dict[str, str] = {
    "float64": "double precision",
    "int32": "integer",
    "int16": "smallint",
    "int8": "smallint",
}
_PYTHON: dict[str, type] = {"float64": float, "int32": int, "int16": int, "int8": int}


@dataclass(frozen=True)
class Feature:
    """One feature: its column name, family, type, meaning, the sources it reads, nullability."""

    name: str
    family: Family
    dtype: DType
    description: str
    sources: tuple[str, ...]
    nullable: bool = True

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise ValueError(f"feature {self.name!r}: unknown sources {unknown}; known: {sorted(SOURCES)}")
        if self.dtype not in _POLARS:
            raise ValueError(f"feature {self.name!r}: unknown dtype {self.dtype!r}")

    @property
    def polars_dtype(self) -> pl.DataType:
        """The column's Polars type."""
        return _POLARS[self.dtype]

    @property
    def sql_type(self) -> str:
        """The column's PostgreSQL type in ``curated.game_features``."""
        return _SQL[self.dtype]

    @property
    def python_type(self) -> type:
        """The Python type of one value (for the Pydantic row model)."""
        return _PYTHON[self.dtype]


def side_features(
    template: str,
    family: Family,
    dtype: DType,
    description: str,
    sources: tuple[str, ...],
    *,
    nullable: bool = True,
) -> tuple[Feature, Feature]:
    """The home and away versions of one per-team feature (``{side}`` in name and description)."""
    return tuple(  # type: ignore[return-value]
        Feature(
            template.format(side=side),
            family,
            dtype,
            description.format(side=side, team=f"the {side} team"),
            sources,
            nullable,
        )
        for side in ("home", "away")
    )


@dataclass(frozen=True)
class Registry:
    """All features, in a stable order (family order, then declaration order)."""

    features: tuple[Feature, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.features]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"feature names declared twice: {duplicates}")

    def __iter__(self) -> Iterator[Feature]:
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    @property
    def names(self) -> list[str]:
        """Column names in registry order."""
        return [f.name for f in self.features]

    def family(self, family: Family | str) -> tuple[Feature, ...]:
        """The features of one family."""
        family = Family(family)
        return tuple(f for f in self.features if f.family is family)

    def get(self, name: str) -> Feature:
        """One feature by name (KeyError names it)."""
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(f"no feature named {name!r} in the registry")

    def polars_schema(self) -> dict[str, pl.DataType]:
        """``{name: Polars dtype}`` in registry order."""
        return {f.name: f.polars_dtype for f in self.features}

    def as_records(self) -> list[dict[str, object]]:
        """Plain records (for JSON, the stored feature set, the docs)."""
        return [{**asdict(f), "family": f.family.value, "sources": list(f.sources)} for f in self.features]
