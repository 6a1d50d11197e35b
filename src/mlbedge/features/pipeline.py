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

from mlbedge.features import market, pitcher, splits, team, temporal
from mlbedge.features.asof import TIMESTAMP, game_clock
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
    Absent optional inputs mean "none observed": their features come out null, never zero.
    """

    games: pl.DataFrame
    pinnacle_lines: pl.DataFrame | None = None
    quotes: pl.DataFrame | None = None
    splits: pl.DataFrame | None = None


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

    frame = targets.select(
        "game_id",
        pl.col("season").cast(pl.Int32),
        "date",
        "as_of",
        "start_known",
        pl.lit(version).alias("feature_set_version"),
    )
    for part in (team_part, pitcher_part, temporal_part, market_part, splits_part):
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
