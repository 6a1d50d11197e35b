"""The feature pipeline: games and snapshots in, one validated row of features per game out.

:func:`build_features` is pure (frames in, a frame out; the database side is in
:mod:`mlbedge.features.io`). Its first step decides what any feature may read at all:

- the **schedule** (pre-game facts, a whitelist of curated.games columns),
- the **results** (the two scores, each tagged with when it is observed: end of local date, or of
  the completion date for a suspended game),
- the **opening prices** (SBRO open, observed at the start of the local date),
- time-stamped **snapshots** (Pinnacle lines, live quotes, live splits).

Closing lines, the SBRO run line and anything else in curated.games is never selected, so no
family can read it (a test deletes those columns and the build still runs). Every family then
joins its facts onto the games with ``join_asof`` on ``observed_at <= as_of``; the rows are
checked at the boundary (:func:`mlbedge.features.validation.validate_features`) before they are
returned.

Building a subset (``game_ids``) computes the state from every fact but emits only those games,
and gives exactly the rows a full build gives them: that is what incremental builds rely on.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

import polars as pl

from mlbedge.features import (
    availability,
    bullpen,
    market,
    park,
    pitcher,
    players,
    splits,
    starter,
    team,
    temporal,
    umpire,
)
from mlbedge.features.asof import TIMESTAMP, game_clock
from mlbedge.features.players import PlayerInputs
from mlbedge.features.prices import OPENING_COLUMNS, collect_snapshots, conform, priced
from mlbedge.features.registry import feature_set_version, registry
from mlbedge.features.validation import validate_features
from mlbedge.games.schema import games_columns
from mlbedge.settings import get_settings

# The curated.games columns feature code may read, by kind. Nothing else is ever selected.
SCHEDULE_COLUMNS: dict[str, pl.DataType] = games_columns(
    [
        "game_id",
        "season",
        "date",
        "game_type",
        "game_num",
        "home_team_id",
        "away_team_id",
        "start_time_utc",
        "day_night",
        # The starters listed before the game (the actual starter is a label, never read here).
        "home_listed_starter",
        "away_listed_starter",
        "home_starter_hand",
        "away_starter_hand",
        "pin_game_no",
    ]
)
RESULT_COLUMNS: dict[str, pl.DataType] = games_columns(["home_score", "away_score"])
# When a result is observed: a suspended game's completion date (read by the clock only).
RESULT_TIME_COLUMNS: dict[str, pl.DataType] = games_columns(["completion_date"])
GAME_COLUMNS: dict[str, pl.DataType] = {
    **SCHEDULE_COLUMNS,
    **OPENING_COLUMNS,
    **RESULT_COLUMNS,
    **RESULT_TIME_COLUMNS,
}

META_COLUMNS: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "season": pl.Int32(),
    "date": pl.Date(),
    "as_of": TIMESTAMP,
    "start_known": pl.Boolean(),
    "feature_set_version": pl.String(),
}
PROVENANCE: dict[str, pl.DataType] = {
    "src_team_observed_at": TIMESTAMP,
    "src_pitcher_observed_at": TIMESTAMP,
    "src_market_observed_at": TIMESTAMP,
    "src_splits_observed_at": TIMESTAMP,
    "src_starter_observed_at": TIMESTAMP,
    "src_availability_observed_at": TIMESTAMP,
    "src_bullpen_observed_at": TIMESTAMP,
    "src_park_observed_at": TIMESTAMP,
    "src_umpire_observed_at": TIMESTAMP,
    "market_books": pl.String(),
    "splits_books": pl.String(),
}


@dataclass(frozen=True)
class FeatureInputs:
    """Everything the features may be built from.

    ``games``: curated.games rows (any extra columns are ignored, closing lines included).
    ``pinnacle_lines``: staging.pinnacle_lines rows (:data:`mlbedge.features.prices.PINNACLE_SCHEMA`).
    ``quotes``: live odds quotes, one row per side (:data:`mlbedge.features.prices.QUOTE_SCHEMA`).
    ``splits``: live betting splits, one row per side (:data:`splits.SPLITS_SCHEMA`).
    ``players``: lineups, starters by id, season stats, team-game rows (:class:`PlayerInputs`).
    Absent optional inputs mean "none observed": their features come out null, never zero.
    """

    games: pl.DataFrame
    pinnacle_lines: pl.DataFrame | None = None
    quotes: pl.DataFrame | None = None
    splits: pl.DataFrame | None = None
    players: PlayerInputs | None = None


def _snapshots(
    games: pl.LazyFrame, clock: pl.LazyFrame, inputs: FeatureInputs, wanted: pl.LazyFrame
) -> pl.DataFrame:
    """Every usable price snapshot of the wanted games, priced (de-vigged) and sorted."""
    opening = games.select("game_id", *OPENING_COLUMNS).join(
        clock.select("game_id", "day_start"), on="game_id", how="inner"
    )
    snapshots = (
        collect_snapshots(
            opening,
            pinnacle_lines=inputs.pinnacle_lines,
            pinnacle_games=games.select("pin_game_no", "game_id").drop_nulls(),
            quotes=inputs.quotes,
        )
        .join(wanted, on="game_id", how="semi")
        .collect()
    )
    return priced(snapshots)


def _splits_snapshots(inputs: FeatureInputs, wanted: pl.LazyFrame) -> pl.LazyFrame:
    if inputs.splits is None or inputs.splits.is_empty():
        return splits.empty_snapshots().lazy()
    raw = conform(inputs.splits, splits.SPLITS_SCHEMA).lazy()
    return splits.splits_snapshots(raw).join(wanted, on="game_id", how="semi")


def _player_parts(
    inputs: PlayerInputs | None, games: pl.LazyFrame, clock: pl.LazyFrame, targets: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """The starter, availability and bullpen families, from the player-level inputs."""
    inputs = inputs or PlayerInputs()

    def frame(name: str, schema: dict[str, pl.DataType]) -> pl.LazyFrame:
        return players.conformed(getattr(inputs, name), schema).lazy()

    facts = frame("game_facts", players.GAME_FACTS_SCHEMA).unique("game_id", keep="first").collect().lazy()
    times = players.game_fact_times(games, clock).collect().lazy()
    lineups = frame("lineups", players.LINEUP_SCHEMA)
    team_games = frame("team_games", players.TEAM_GAME_SCHEMA)
    people = frame("people", players.PEOPLE_SCHEMA)
    schedule = games.select("game_id", "home_team_id", "away_team_id")
    starter_part = starter.compute(
        targets,
        schedule,
        times,
        facts,
        frame("pitching", players.PITCHING_SCHEMA),
        frame("platoon", players.PLATOON_SCHEMA),
        people,
        lineups,
        team_games,
    )
    availability_part = availability.compute(
        targets, lineups, times, frame("batting", players.BATTING_SCHEMA)
    )
    bullpen_part = bullpen.compute(targets, team_games, times)
    return starter_part, availability_part, bullpen_part


def _venue_parts(
    inputs: PlayerInputs | None, schedule: pl.LazyFrame, results: pl.LazyFrame, targets: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """The park and umpire families: each game's park and plate umpire, and the earlier results."""
    facts = (
        players.conformed(inputs.game_facts if inputs else None, players.GAME_FACTS_SCHEMA)
        .select("game_id", "park_id", "plate_umpire_id")
        .unique("game_id", keep="first")
        .lazy()
    )
    # Regular-season games only: a park's and an umpire's record are the game logs' games.
    history = (
        schedule.filter(pl.col("game_type").fill_null("R") == "R")
        .select("game_id", "season", "date", "home_team_id")
        .join(results, on="game_id", how="inner")
        .join(facts, on="game_id", how="left")
        .select(
            pl.col("season").cast(pl.Int32),
            "date",
            pl.col("home_team_id").cast(pl.Int64),
            "park_id",
            "plate_umpire_id",
            (pl.col("home_score") + pl.col("away_score")).cast(pl.Int64).alias("runs"),
            "observed_at",
        )
        .collect()
    )
    wanted = (
        targets.select(
            "game_id", pl.col("season").cast(pl.Int32), pl.col("home_team_id").cast(pl.Int64), "as_of"
        )
        .join(facts, on="game_id", how="left")
        .collect()
    )
    park_part = park.compute(wanted.select(*park.TARGET_SCHEMA), history.select(*park.HISTORY_SCHEMA))
    umpire_part = umpire.compute(wanted.select(*umpire.TARGET_SCHEMA), history.select(*umpire.HISTORY_SCHEMA))
    return park_part.lazy(), umpire_part.lazy()


def build_features(
    inputs: FeatureInputs,
    *,
    cutoff_minutes: int | None = None,
    game_ids: Collection[str] | None = None,
    validate: bool = True,
) -> pl.DataFrame:
    """One row per game (all, or ``game_ids``): meta columns, provenance, every registry feature.

    ``cutoff_minutes`` defaults to the setting. Rows are sorted by date and game id. With
    ``validate`` (the default, and what every caller in the product uses) the rows pass
    :func:`validate_features` or :class:`~mlbedge.features.validation.LeakageError` is raised.
    """
    cutoff = get_settings().cutoff_minutes if cutoff_minutes is None else cutoff_minutes
    version = feature_set_version(cutoff)
    games = conform(inputs.games, GAME_COLUMNS).unique("game_id", keep="first").lazy()
    clock = game_clock(games, cutoff).collect().lazy()
    schedule = (
        games.select(*SCHEDULE_COLUMNS)
        .with_columns(
            home_starter_key=pitcher.starter_key(pl.col("home_listed_starter")),
            away_starter_key=pitcher.starter_key(pl.col("away_listed_starter")),
        )
        .collect()
        .lazy()
    )
    results = (
        games.select("game_id", *RESULT_COLUMNS)
        .join(
            clock.select("game_id", "result_date", pl.col("result_observed_at").alias("observed_at")),
            on="game_id",
        )
        .collect()
        .lazy()
    )
    targets = schedule.join(clock, on="game_id", how="inner")
    if game_ids is not None:
        wanted_ids = pl.DataFrame({"game_id": list(game_ids)}, schema={"game_id": pl.String})
        targets = targets.join(wanted_ids.lazy(), on="game_id", how="semi")
    targets = targets.collect().lazy()
    wanted = targets.select("game_id")

    # Every state but Elo is kept per season: the targets' seasons are all the history they need.
    seasons = targets.select(pl.col("season").unique()).collect().to_series().implode()
    season_schedule = schedule.filter(pl.col("season").is_in(seasons)).collect().lazy()
    season_log = team.team_games(season_schedule, results).collect().lazy()
    elo = team.elo_state(schedule, results).lazy()
    team_part = team.compute(targets, season_log, elo)
    pitcher_part = pitcher.compute(targets, season_log)
    temporal_part = temporal.compute(targets, season_schedule)
    market_part = market.compute(targets, _snapshots(games, clock, inputs, wanted).lazy()).collect().lazy()
    splits_part = splits.compute(targets, _splits_snapshots(inputs, wanted), market_part)
    starter_part, availability_part, bullpen_part = _player_parts(inputs.players, games, clock, targets)
    park_part, umpire_part = _venue_parts(inputs.players, schedule, results, targets)

    frame = targets.select(
        "game_id",
        pl.col("season").cast(pl.Int32),
        "date",
        "as_of",
        "start_known",
        pl.lit(version).alias("feature_set_version"),
    )
    parts = (team_part, pitcher_part, temporal_part, market_part, splits_part)
    for part in (*parts, starter_part, availability_part, bullpen_part, park_part, umpire_part):
        frame = frame.join(part, on="game_id", how="left")
    names = registry().names
    floats = [f.name for f in registry() if f.dtype == "float64"]
    built = (
        frame.select(*META_COLUMNS, *PROVENANCE, *names)
        .with_columns(pl.col(floats).fill_nan(None))
        .sort("date", "game_id")
        .collect()
    )
    if validate:
        validate_features(built)
    return built
