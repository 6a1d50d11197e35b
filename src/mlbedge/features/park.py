"""Park family: how many runs a park gives up, from EARLIER seasons' game logs only.

A park's run factor for season ``S`` is the runs per game scored there (both teams) in the
seasons ``S-3 .. S-1`` divided by the league's runs per game in the same seasons, shrunk toward 1
by :data:`PRIOR_GAMES` games. Every game behind it finished before season ``S`` began (a
suspended game is completed within its season), so the factor is a season-level fact known from
the start of season ``S``; the newest result it reads is carried out as ``src_park_observed_at``.
Lahman's ``BPF``/``PPF`` are not used: their three-year window is undocumented and may include
later seasons.

The park of a game (``park_id``, Retrosheet's, e.g. ``DEN02``) is a scheduled fact. Games without
a park (no game log: postseason, live games not yet in a log) get the home team's most recent
park from the history, else null.
"""

from __future__ import annotations

import polars as pl

from mlbedge.features.asof import TIMESTAMP
from mlbedge.features.spec import Family, Feature

SEASONS_BACK = 3  # seasons of history behind a factor
PRIOR_GAMES = 100.0  # games at the league rate mixed into a park's own rate

# name -> (dtype, description); the registry declarations are built from these.
FEATURE_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "park_run_factor": (
        "float64",
        f"Runs per game at this game's park in the {SEASONS_BACK} seasons before this one over the "
        f"league's, shrunk toward 1 by {PRIOR_GAMES:.0f} games (1 = neutral; null without history).",
    ),
    "park_games_prior": (
        "int16",
        f"Games played at this park in the {SEASONS_BACK} seasons before this one (0 for a new park).",
    ),
}

FEATURES: tuple[Feature, ...] = tuple(
    Feature(name, Family.PARK, dtype, description, ("venue", "results"))  # type: ignore[arg-type]
    for name, (dtype, description) in FEATURE_DESCRIPTIONS.items()
)

HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "season": pl.Int32(),
    "date": pl.Date(),
    "home_team_id": pl.Int64(),
    "park_id": pl.String(),
    "runs": pl.Int64(),  # both teams' runs in the game
    "observed_at": TIMESTAMP,  # when the result is known
}
TARGET_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "season": pl.Int32(),
    "home_team_id": pl.Int64(),
    "park_id": pl.String(),
}


def park_factors(history: pl.DataFrame) -> pl.DataFrame:
    """Per (park, season S): the shrunk factor from seasons ``S-3 .. S-1``, games, newest fact.

    One row for every park and every season after one it was played in (S = last season + 1
    included, so the next season's games find their factor).
    """
    per_season = (
        history.filter(pl.col("park_id").is_not_null() & pl.col("runs").is_not_null())
        .group_by("park_id", "season")
        .agg(runs=pl.col("runs").sum(), games=pl.len(), newest=pl.col("observed_at").max())
    )
    league = per_season.group_by("season").agg(
        league_runs=pl.col("runs").sum(),
        league_games=pl.col("games").sum(),
        league_newest=pl.col("newest").max(),
    )
    # Each season's totals count toward the factors of the next SEASONS_BACK seasons.
    ahead = pl.DataFrame({"ahead": list(range(1, SEASONS_BACK + 1))}, schema={"ahead": pl.Int32})
    spread = per_season.join(ahead, how="cross").with_columns(target=pl.col("season") + pl.col("ahead"))
    league_spread = league.join(ahead, how="cross").with_columns(target=pl.col("season") + pl.col("ahead"))
    park = spread.group_by("park_id", "target").agg(
        runs=pl.col("runs").sum(), games=pl.col("games").sum(), newest=pl.col("newest").max()
    )
    league_window = league_spread.group_by("target").agg(
        league_runs=pl.col("league_runs").sum(),
        league_games=pl.col("league_games").sum(),
        league_newest=pl.col("league_newest").max(),
    )
    rate = pl.col("runs") / pl.col("games")
    league_rate = pl.col("league_runs") / pl.col("league_games")
    return (
        park.join(league_window, on="target", how="inner")
        .with_columns(
            park_run_factor=(pl.col("games") * (rate / league_rate) + PRIOR_GAMES)
            / (pl.col("games") + PRIOR_GAMES),
            src_park_observed_at=pl.max_horizontal("newest", "league_newest"),
        )
        .select(
            "park_id",
            pl.col("target").cast(pl.Int32).alias("season"),
            "park_run_factor",
            pl.col("games").cast(pl.Int16).alias("park_games_prior"),
            "src_park_observed_at",
        )
    )


def compute(targets: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """Per target game: ``park_run_factor``, ``park_games_prior``, ``src_park_observed_at``.

    ``targets`` has :data:`TARGET_SCHEMA`; ``history`` (:data:`HISTORY_SCHEMA`) may hold any
    games: only seasons before each target's season are read.
    """
    # A season's totals only ever reach the seasons after it (park_factors spreads them forward).
    factors = park_factors(history)
    # A game without a park id plays at its home team's latest park of an earlier season.
    usual = (
        history.filter(pl.col("park_id").is_not_null())
        .sort("date")
        .group_by("home_team_id", "season")
        .agg(pl.col("park_id").last().alias("_usual_park"))
        .with_columns(season=pl.col("season") + 1)
    )
    out = (
        targets.join(usual, on=["home_team_id", "season"], how="left")
        .with_columns(_park=pl.coalesce("park_id", "_usual_park"))
        .join(factors, left_on=["_park", "season"], right_on=["park_id", "season"], how="left")
        .with_columns(pl.when(pl.col("_park").is_not_null()).then(pl.col("park_games_prior").fill_null(0)))
    )
    return out.select("game_id", "park_run_factor", "park_games_prior", "src_park_observed_at")
