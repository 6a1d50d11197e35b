"""Schedule and travel family ("temporal"): calendar, day/night, doubleheaders, rest, travel.

Everything here is a scheduled fact (dates, opponents, parks, day/night from Retrosheet,
doubleheader game numbers), known before any cutoff; no result is read. For symmetry with the
result-based families, "previous game" means the team's last game on an EARLIER date: the rest,
density, time-zone and travel features of a doubleheader's two games are the same.
"""

from __future__ import annotations

import polars as pl

from mlbedge.features.asof import PARKS, utc_offset_hours
from mlbedge.features.spec import Family, Feature, side_features

EARTH_RADIUS_KM = 6371.0088
_S = Family.TEMPORAL
_SCHEDULE = ("schedule",)
_TRAVEL = ("schedule", "parks")


def _declare() -> tuple[Feature, ...]:
    features: list[Feature] = [
        Feature(
            "day_of_week",
            _S,
            "int8",
            "ISO day of the week of the game's local date (1 Monday - 7 Sunday).",
            _SCHEDULE,
            nullable=False,
        ),
        Feature("month", _S, "int8", "Month of the game's local date.", _SCHEDULE, nullable=False),
        Feature("is_weekend", _S, "int8", "1 on Saturday or Sunday.", _SCHEDULE, nullable=False),
        Feature(
            "day_of_season",
            _S,
            "int16",
            "Days since the season's first game (0 on opening day).",
            _SCHEDULE,
            nullable=False,
        ),
        Feature(
            "is_night",
            _S,
            "int8",
            "1 for a night game, 0 for a day game (Retrosheet's scheduled D/N), null when unknown.",
            _SCHEDULE,
        ),
        Feature(
            "is_doubleheader",
            _S,
            "int8",
            "1 if the game is part of a doubleheader.",
            _SCHEDULE,
            nullable=False,
        ),
        Feature(
            "dh_game_num",
            _S,
            "int8",
            "Doubleheader game number (1 or 2), 0 for a single game.",
            _SCHEDULE,
            nullable=False,
        ),
        Feature("is_postseason", _S, "int8", "1 for a postseason game.", _SCHEDULE, nullable=False),
    ]
    features += side_features(
        "{side}_rest_days",
        _S,
        "int16",
        "Days off {team} had since its previous game this season (0 = played yesterday; null for its first).",
        _SCHEDULE,
    )
    features += side_features(
        "{side}_games_last_7_days",
        _S,
        "int16",
        "Games {team} played on the 7 dates before this one.",
        _SCHEDULE,
        nullable=False,
    )
    features += side_features(
        "{side}_series_game_number",
        _S,
        "int16",
        "Game number of this game within the current series of {team} (same opponent, same park, "
        "consecutive games).",
        _SCHEDULE,
        nullable=False,
    )
    features += side_features(
        "{side}_venue_stretch_game_number",
        _S,
        "int16",
        "Game number within the current home stand (home team) or road trip (away team).",
        _SCHEDULE,
        nullable=False,
    )
    features += side_features(
        "{side}_tz_shift_hours",
        _S,
        "float64",
        "Hours the body clock of {team} moved since its previous game: UTC offset of this park minus "
        "that of the previous game's park (positive = travelled east; null for its first game).",
        _TRAVEL,
    )
    features += side_features(
        "{side}_travel_km",
        _S,
        "float64",
        "Great-circle distance in km {team} travelled from its previous game's park "
        "(0 at the same park; null for its first game of the season).",
        _TRAVEL,
    )
    features.append(Feature("rest_days_diff", _S, "int16", "home_rest_days - away_rest_days.", _SCHEDULE))
    return tuple(features)


FEATURES: tuple[Feature, ...] = _declare()


def _haversine_km(lat1: pl.Expr, lon1: pl.Expr, lat2: pl.Expr, lon2: pl.Expr) -> pl.Expr:
    rad = 3.141592653589793 / 180.0
    dlat = (lat2 - lat1) * rad
    dlon = (lon2 - lon1) * rad
    a = (dlat / 2).sin().pow(2) + (lat1 * rad).cos() * (lat2 * rad).cos() * (dlon / 2).sin().pow(2)
    return 2.0 * EARTH_RADIUS_KM * a.sqrt().arcsin()


def team_days(schedule: pl.LazyFrame) -> pl.LazyFrame:
    """One row per team per date it plays: park, opponent, games that day, and the previous date's."""

    def side(us: str, them: str) -> pl.LazyFrame:
        return schedule.select(
            pl.col(f"{us}_team_id").cast(pl.Int64).alias("team_id"),
            pl.col(f"{them}_team_id").cast(pl.Int64).alias("opp_id"),
            pl.col("home_team_id").cast(pl.Int64).alias("park_id"),
            pl.lit(us == "home").alias("is_home"),
            "season",
            "date",
            "game_num",
            "game_id",
        )

    parks = PARKS.lazy().select(pl.col("team_id").alias("park_id"), "tz", "lat", "lon")
    days = (
        pl.concat([side("home", "away"), side("away", "home")])
        # A team's first game of the date gives the day's park and opponent; the order is fixed so
        # that the (rare, data-error) day with two parks always resolves the same way.
        .sort("team_id", "date", "game_num", "game_id")
        .group_by("team_id", "date", maintain_order=True)
        .agg(
            pl.col("opp_id").first(),
            pl.col("park_id").first(),
            pl.col("is_home").first(),
            pl.col("season").first(),
            pl.len().cast(pl.Int16).alias("games_on_date"),
        )
        .join(parks, on="park_id", how="left")
        .sort("team_id", "date")
    )
    keys = ["team_id"]
    prev = {
        c: pl.col(c).shift(1).over(keys)
        for c in ("date", "opp_id", "park_id", "is_home", "season", "tz", "lat", "lon")
    }
    same_season = prev["season"] == pl.col("season")
    new_series = (
        ~same_season.fill_null(False)
        | (pl.col("opp_id") != prev["opp_id"])
        | (pl.col("park_id") != prev["park_id"])
    )
    new_stretch = ~same_season.fill_null(False) | (pl.col("is_home") != prev["is_home"])
    days = days.with_columns(
        rest_days=pl.when(same_season).then((pl.col("date") - prev["date"]).dt.total_days() - 1),
        games_last_7_days=pl.col("games_on_date")
        .rolling_sum_by("date", "7d", closed="left")
        .over(["team_id", "season"]),
        _series=new_series.fill_null(True).cum_sum().over(keys),
        _stretch=new_stretch.fill_null(True).cum_sum().over(keys),
        tz_shift_hours=pl.when(same_season).then(
            utc_offset_hours(pl.col("date"), pl.col("tz")) - utc_offset_hours(pl.col("date"), prev["tz"])
        ),
        travel_km=pl.when(same_season).then(
            _haversine_km(prev["lat"], prev["lon"], pl.col("lat"), pl.col("lon"))
        ),
    )
    return days.with_columns(
        series_games_before=(pl.col("games_on_date").cum_sum() - pl.col("games_on_date")).over(
            [*keys, "_series"]
        ),
        stretch_games_before=(pl.col("games_on_date").cum_sum() - pl.col("games_on_date")).over(
            [*keys, "_stretch"]
        ),
    )


def compute(targets: pl.LazyFrame, schedule: pl.LazyFrame) -> pl.LazyFrame:
    """Temporal features for each target game (``game_id, season, date, game_num, game_type,
    day_night, home/away_team_id``). Scheduled facts only, so no observation time is reported.
    """
    days = team_days(schedule)
    season_start = schedule.group_by("season").agg(pl.col("date").min().alias("_season_start"))
    # A doubleheader's game 2 is the day's second game for both teams: its rank within the date.
    day_rank = pl.when(pl.col("game_num") == 2).then(1).otherwise(0)
    frame = targets.select(
        "game_id", "season", "date", "game_num", "game_type", "day_night", "home_team_id", "away_team_id"
    ).join(season_start, on="season", how="left")
    per_day = [
        "rest_days",
        "games_last_7_days",
        "series_games_before",
        "stretch_games_before",
        "tz_shift_hours",
        "travel_km",
    ]
    for side in ("home", "away"):
        frame = frame.join(
            days.select(
                pl.col("team_id").alias(f"{side}_team_id"),
                "date",
                *[pl.col(c).alias(f"{side}_{c}") for c in per_day],
            ),
            on=[f"{side}_team_id", "date"],
            how="left",
        )
    weekday = pl.col("date").dt.weekday()
    frame = frame.with_columns(
        day_of_week=weekday.cast(pl.Int8),
        month=pl.col("date").dt.month().cast(pl.Int8),
        is_weekend=(weekday >= 6).cast(pl.Int8),
        day_of_season=(pl.col("date") - pl.col("_season_start")).dt.total_days().cast(pl.Int16),
        is_night=pl.when(pl.col("day_night") == "N")
        .then(1)
        .when(pl.col("day_night") == "D")
        .then(0)
        .cast(pl.Int8),
        is_doubleheader=(pl.col("game_num") > 0).cast(pl.Int8),
        dh_game_num=pl.col("game_num").cast(pl.Int8),
        is_postseason=(pl.col("game_type") == "P").cast(pl.Int8),
        **{
            f"{side}_series_game_number": pl.col(f"{side}_series_games_before") + 1 + day_rank
            for side in ("home", "away")
        },
        **{
            f"{side}_venue_stretch_game_number": pl.col(f"{side}_stretch_games_before") + 1 + day_rank
            for side in ("home", "away")
        },
    ).with_columns(rest_days_diff=pl.col("home_rest_days") - pl.col("away_rest_days"))
    return frame.select("game_id", *[pl.col(f.name).cast(f.polars_dtype) for f in FEATURES])
