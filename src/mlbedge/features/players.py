"""Player-level facts behind the starter, availability and bullpen families, and when each is known.

The inputs (:class:`PlayerInputs`) come from the Retrosheet game logs (starting lineups, the
actual starters, park, plate umpire, completion dates), Lahman (season batting and pitching
totals, bats/throws), and retrosplits (team-game pitching rows, pitchers' platoon splits). One
player identity everywhere: the Retrosheet id (``verlj001``).

Observation times (the right-hand side of every as-of join of these families):

- a **season-level row** (Lahman batting/pitching, platoon splits) of season ``Y`` is observed at
  ``Y+1``-01-01 00:00 UTC (:func:`season_observed_at`): after that season's last game, postseason
  included, and before the next season's first. A game of season ``S`` therefore sees ``Y <= S-1``.
- a **team-game row** (retrosplits totals, the lineup a team used, who started) is observed when
  its game's result is: the end of its local date, and a suspended game's at the end of its
  completion date (:func:`game_fact_times`, from the shared clock).
- the **listed starters** (SBRO, resolved to Retrosheet ids) are pre-game facts.
- a game's **own posted lineup** is observed :data:`LINEUP_POSTED_MINUTES` before first pitch, and
  only where the start time is known; where it is not, it is never observed (null time), so the
  start-of-local-date ``as_of`` used then can never see it.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from mlbedge.features.asof import TIMESTAMP

# A posted lineup is public about this long before first pitch (clubs post 2-4 hours ahead).
LINEUP_POSTED_MINUTES = 120

# Marcel-style weights of the last three seasons (the most recent first): 1.0, 0.8, 0.6, kept as
# whole fifths so every weighted sum is exact integer arithmetic (bit-identical whatever the row
# order or partitioning of a group-by).
SEASON_WEIGHTS_FIFTHS: tuple[int, ...] = (5, 4, 3)

# Linear weights of a simple wOBA (walk/HBP, single, double, triple, home run) in hundredths: a
# batter's wOBA points are integers, again for exact sums.
WOBA_WEIGHTS = {"bb": 69, "x1b": 89, "x2b": 127, "x3b": 162, "hr": 210}
WOBA_SCALE = 100.0

GAME_FACTS_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "home_listed_starter_id": pl.String(),  # pre-game (SBRO's listed starter, as a Retrosheet id)
    "away_listed_starter_id": pl.String(),
    "home_starter_id": pl.String(),  # who threw the first pitch: known after the game
    "away_starter_id": pl.String(),
    "park_id": pl.String(),
    "plate_umpire_id": pl.String(),
}
LINEUP_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "side": pl.String(),  # home / away
    "batting_order": pl.Int16(),
    "team_id": pl.Int64(),
    "player_id": pl.String(),
    "position": pl.Int16(),  # 1-9, 10 = designated hitter
}
PITCHING_SCHEMA: dict[str, pl.DataType] = {
    "player_id": pl.String(),
    "season": pl.Int32(),
    "g": pl.Int64(),
    "gs": pl.Int64(),
    "ip_outs": pl.Int64(),
    "bf": pl.Int64(),
    "so": pl.Int64(),
    "bb": pl.Int64(),
    "hbp": pl.Int64(),
    "hr": pl.Int64(),
    "er": pl.Int64(),
}
BATTING_SCHEMA: dict[str, pl.DataType] = {
    "player_id": pl.String(),
    "season": pl.Int32(),
    "ab": pl.Int64(),
    "h": pl.Int64(),
    "x2b": pl.Int64(),
    "x3b": pl.Int64(),
    "hr": pl.Int64(),
    "bb": pl.Int64(),
    "hbp": pl.Int64(),
    "sf": pl.Int64(),
}
PLATOON_SCHEMA: dict[str, pl.DataType] = {
    "player_id": pl.String(),
    "season": pl.Int32(),
    "batter_hand": pl.String(),
    "pa": pl.Int64(),
    "h": pl.Int64(),
    "x2b": pl.Int64(),
    "x3b": pl.Int64(),
    "hr": pl.Int64(),
    "bb": pl.Int64(),
    "hbp": pl.Int64(),
    "so": pl.Int64(),
}
PEOPLE_SCHEMA: dict[str, pl.DataType] = {"player_id": pl.String(), "bats": pl.String(), "throws": pl.String()}
TEAM_GAME_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "team_id": pl.Int64(),
    "pitchers_used": pl.Int64(),
    "pitches": pl.Int64(),
    "inherited_runners": pl.Int64(),
    "inherited_scored": pl.Int64(),
    "batters_faced": pl.Int64(),
    "strikeouts": pl.Int64(),
    "walks": pl.Int64(),
    "runs_allowed": pl.Int64(),
}


@dataclass(frozen=True)
class PlayerInputs:
    """The player-level inputs; any may be absent (its features then come out null, never zero).

    ``game_facts``: per game, the listed and actual starters, park, plate umpire.
    ``lineups``: game-log starting lineups (one row per game, side and batting slot).
    ``pitching`` / ``batting``: Lahman season totals per player (stints summed).
    ``platoon``: pitchers' regular-season splits by batter hand. ``people``: bats and throws.
    ``team_games``: retrosplits regular-season pitching rows, one per team and game.
    """

    game_facts: pl.DataFrame | None = None
    lineups: pl.DataFrame | None = None
    pitching: pl.DataFrame | None = None
    batting: pl.DataFrame | None = None
    platoon: pl.DataFrame | None = None
    people: pl.DataFrame | None = None
    team_games: pl.DataFrame | None = None


def conformed(frame: pl.DataFrame | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Exactly ``schema``'s columns and types (missing columns null, extra ones dropped)."""
    if frame is None or frame.is_empty():
        return pl.DataFrame(schema=schema)
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


def season_observed_at(season: pl.Expr) -> pl.Expr:
    """When a season-level row of ``season`` is observed: the next New Year, 00:00 UTC."""
    return pl.datetime(season + 1, 1, 1, time_zone="UTC").cast(TIMESTAMP)


def game_fact_times(games: pl.LazyFrame, clock: pl.LazyFrame) -> pl.LazyFrame:
    """Per game: when its post-game facts (team-game rows, lineup used, starter) are observed.

    Exactly when its result is (:func:`mlbedge.features.asof.game_clock`): the end of its local
    date, or for a suspended game the end of its completion date. Columns: ``game_id, season,
    date, known_on`` (the date its result is known, where it takes its place in a sequence) and
    ``observed_at``.
    """
    return (
        games.select("game_id", "season", "date")
        .join(clock.select("game_id", "result_date", "result_observed_at"), on="game_id", how="inner")
        .select(
            "game_id",
            pl.col("season").cast(pl.Int32),
            "date",
            pl.col("result_date").alias("known_on"),
            pl.col("result_observed_at").alias("observed_at"),
        )
    )


def weighted_seasons(rows: pl.LazyFrame, stats: list[str], keys: list[str]) -> pl.LazyFrame:
    """Season rows as Marcel-style states: per ``keys`` and state season ``Y``, the sums of the
    integer ``stats`` over seasons ``Y, Y-1, Y-2`` weighted 1.0/0.8/0.6, observed after season ``Y``.

    Also ``{stat}_last``: the unweighted total of season ``Y`` itself (0 when absent), and
    ``observed_at``. Sorted by ``observed_at``.
    """
    expanded = pl.concat(
        [
            rows.with_columns(
                state_season=pl.col("season") + lag,
                _w=pl.lit(weight, pl.Int64),
                _last=pl.lit(1 if lag == 0 else 0, pl.Int64),
            )
            for lag, weight in enumerate(SEASON_WEIGHTS_FIFTHS)
        ]
    )
    fifth = 1.0 / SEASON_WEIGHTS_FIFTHS[0]
    return (
        expanded.group_by(*keys, "state_season")
        .agg(
            *[(pl.col(s).cast(pl.Int64).fill_null(0) * pl.col("_w")).sum().alias(s) for s in stats],
            *[
                (pl.col(s).cast(pl.Int64).fill_null(0) * pl.col("_last")).sum().alias(f"{s}_last")
                for s in stats
            ],
        )
        .with_columns(
            *[(pl.col(s).cast(pl.Float64) * fifth).alias(s) for s in stats],
            *[pl.col(f"{s}_last").cast(pl.Float64) for s in stats],
            observed_at=season_observed_at(pl.col("state_season")),
        )
        .sort("observed_at")
    )


def woba_numerator(bb: pl.Expr, hbp: pl.Expr, h: pl.Expr, x2b: pl.Expr, x3b: pl.Expr, hr: pl.Expr) -> pl.Expr:
    """A simple wOBA's points in hundredths (an integer; divide by :data:`WOBA_SCALE` and by PA)."""
    w = WOBA_WEIGHTS
    singles = h - x2b - x3b - hr
    points = w["bb"] * (bb + hbp) + w["x1b"] * singles + w["x2b"] * x2b + w["x3b"] * x3b + w["hr"] * hr
    return points.cast(pl.Int64)


def shrunk(value_sum: pl.Expr, weight: pl.Expr, prior: pl.Expr, prior_weight: float) -> pl.Expr:
    """``(value_sum + prior * k) / (weight + k)``: a rate pulled toward ``prior`` by ``k`` units."""
    return (value_sum.fill_null(0.0) + prior * prior_weight) / (weight.fill_null(0.0) + prior_weight)


def last_per_observation(state: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """One state row per key and observation time (the last in order), sorted by time."""
    return state.unique(subset=[*keys, "observed_at"], keep="last", maintain_order=True).sort("observed_at")
