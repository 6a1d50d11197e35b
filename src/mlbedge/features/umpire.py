"""Umpire family: the plate umpire's earlier runs per game, shrunk toward the league.

The plate umpire of a game (``plate_umpire_id``) is known before it: crews are assigned to a
series and rotate each game, the previous game's first-base umpire working the plate (see
docs/data.md). His record is every EARLIER game he worked behind the plate whose result was
observed by the game's ``as_of``: a result at the end of its local date, a suspended game's at the
end of its completion date. The league's runs per game comes from the same as-of history, so the
feature is the umpire's shrunk rate minus the league's (runs per game above the league).
"""

from __future__ import annotations

import polars as pl

from mlbedge.features.asof import TIMESTAMP
from mlbedge.features.spec import Family, Feature

PRIOR_GAMES = 60.0  # games at the league rate mixed into an umpire's own rate

FEATURE_DESCRIPTIONS: dict[str, tuple[str, str]] = {
    "ump_runs_per_game_diff": (
        "float64",
        "The plate umpire's runs per game (both teams) in his earlier games behind the plate, shrunk "
        f"toward the league by {PRIOR_GAMES:.0f} games, minus the league's runs per game; both from "
        "games observed by the cutoff (null without a known plate umpire or league history).",
    ),
    "ump_games_prior": (
        "int16",
        "Earlier games the plate umpire worked behind the plate, observed by the cutoff (null without "
        "a known plate umpire).",
    ),
}

FEATURES: tuple[Feature, ...] = tuple(
    Feature(name, Family.UMPIRE, dtype, description, ("venue", "results"))  # type: ignore[arg-type]
    for name, (dtype, description) in FEATURE_DESCRIPTIONS.items()
)

HISTORY_SCHEMA: dict[str, pl.DataType] = {
    "plate_umpire_id": pl.String(),
    "runs": pl.Int64(),  # both teams' runs in the game
    "observed_at": TIMESTAMP,  # end of the local date it was completed on
}
TARGET_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "plate_umpire_id": pl.String(),
    "as_of": TIMESTAMP,
}


def _running(history: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Running runs and games per ``keys`` as of each observation time (last row per time)."""
    grouped = (
        history.group_by(*keys, "observed_at")
        .agg(runs=pl.col("runs").sum(), games=pl.len())
        .sort(*keys, "observed_at")
    )
    cum = [pl.col("runs").cum_sum(), pl.col("games").cum_sum()]
    running = grouped.with_columns([c.over(keys) for c in cum] if keys else cum)
    return running.sort("observed_at")  # as-of joins need the time order


def compute(targets: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """Per target game: ``ump_runs_per_game_diff``, ``ump_games_prior``, ``src_umpire_observed_at``.

    ``targets`` has :data:`TARGET_SCHEMA`, ``history`` :data:`HISTORY_SCHEMA` (any games, the
    targets' own included: only those observed at or before each target's ``as_of`` count).
    """
    history = history.filter(pl.col("runs").is_not_null() & pl.col("observed_at").is_not_null())
    league = _running(history, []).rename(
        {"runs": "league_runs", "games": "league_games", "observed_at": "league_observed_at"}
    )
    umpire = _running(history.filter(pl.col("plate_umpire_id").is_not_null()), ["plate_umpire_id"])
    ordered = targets.with_row_index("_row").sort("as_of")
    with_league = ordered.join_asof(
        league, left_on="as_of", right_on="league_observed_at", strategy="backward", check_sortedness=False
    )
    with_umpire = with_league.join_asof(
        umpire.rename({"observed_at": "ump_observed_at"}),
        left_on="as_of",
        right_on="ump_observed_at",
        by="plate_umpire_id",
        strategy="backward",
        check_sortedness=False,
    )
    league_rate = pl.col("league_runs") / pl.col("league_games")
    games = pl.col("games").fill_null(0)
    shrunk = (pl.col("runs").fill_null(0) + PRIOR_GAMES * league_rate) / (games + PRIOR_GAMES)
    known = pl.col("plate_umpire_id").is_not_null()
    return (
        with_umpire.with_columns(
            ump_runs_per_game_diff=pl.when(known).then(shrunk - league_rate),
            ump_games_prior=pl.when(known).then(games.cast(pl.Int16)),
            src_umpire_observed_at=pl.when(known).then(
                pl.max_horizontal("league_observed_at", "ump_observed_at")
            ),
        )
        .sort("_row")
        .select("game_id", "ump_runs_per_game_diff", "ump_games_prior", "src_umpire_observed_at")
    )
