"""Bullpen family: how tired each team's relievers are, and how well they strand inherited runners.

From the retrosplits team-game pitching rows (pitchers used, pitches, inherited runners and how
many of them scored). Each row is observed at the end of its game's local date (a suspended game's:
of its completion date, and it counts on that date). Relievers used in a game are its pitchers
minus the starter.

"The last k days" are the k calendar days before the game's date. A team's totals are running sums
over all its rows; the k-day window is the running sum as of the cutoff (an as-of join on
observation time, so a row not yet observed is not in it) minus the running sum through the day
before the window (an as-of join on the date, whose rows are all observed days before the cutoff).
"""

from __future__ import annotations

import polars as pl

from mlbedge.features.players import TEAM_GAME_SCHEMA, last_per_observation
from mlbedge.features.spec import Family, Feature, side_features
from mlbedge.features.team import asof_side

DAYS: tuple[int, ...] = (1, 2, 3)
IRS_PRIOR_RATE = 0.30  # share of inherited runners that score, league-wide (about 30% in 2010-2020)
IRS_PRIOR_RUNNERS = 40.0  # inherited runners at that rate mixed into a team's season rate

_B = Family.BULLPEN
_ROWS = ("team_game_rows",)
_SUMS = ("relievers", "pitches", "inherited", "games")


def _declare() -> tuple[Feature, ...]:
    features: list[Feature] = []
    for k in DAYS:
        days = "day" if k == 1 else f"{k} days"
        features += side_features(
            f"{{side}}_bp_relievers_l{k}",
            _B,
            "int16",
            f"Relief appearances by {{team}} on the {days} before this game's date.",
            _ROWS,
            nullable=False,
        )
    for k in (1, 3):
        days = "day" if k == 1 else f"{k} days"
        features += side_features(
            f"{{side}}_bp_pitches_l{k}",
            _B,
            "int32",
            f"Pitches thrown by {{team}} (all its pitchers, where recorded) on the {days} before this "
            "game's date.",
            _ROWS,
            nullable=False,
        )
    features += side_features(
        "{side}_bp_games_l3",
        _B,
        "int16",
        "Games {team} played on the 3 days before this game's date.",
        _ROWS,
        nullable=False,
    )
    features += side_features(
        "{side}_bp_inherited_l3",
        _B,
        "int16",
        "Runners {team}'s relievers inherited on the 3 days before this game's date.",
        _ROWS,
        nullable=False,
    )
    features += side_features(
        "{side}_bp_relievers_pg_season",
        _B,
        "float64",
        "Relief appearances per game by {team} this season.",
        _ROWS,
    )
    features += side_features(
        "{side}_bp_irs_rate_season",
        _B,
        "float64",
        f"Share of inherited runners {{team}}'s relievers let score this season, shrunk toward "
        f"{IRS_PRIOR_RATE:g} by {IRS_PRIOR_RUNNERS:g} runners.",
        _ROWS,
    )
    features += [
        Feature(
            "bp_relievers_l3_diff",
            _B,
            "int16",
            "home_bp_relievers_l3 - away_bp_relievers_l3.",
            _ROWS,
            nullable=False,
        ),
        Feature(
            "bp_pitches_l3_diff",
            _B,
            "int32",
            "home_bp_pitches_l3 - away_bp_pitches_l3.",
            _ROWS,
            nullable=False,
        ),
    ]
    return tuple(features)


FEATURES: tuple[Feature, ...] = _declare()


def _rows(team_games: pl.LazyFrame, times: pl.LazyFrame) -> pl.LazyFrame:
    return (
        team_games.select(*TEAM_GAME_SCHEMA)
        .join(times, on="game_id", how="inner")
        .with_columns(
            relievers=(pl.col("pitchers_used") - 1).clip(lower_bound=0).fill_null(0),
            pitches=pl.col("pitches").fill_null(0),
            inherited=pl.col("inherited_runners").fill_null(0),
            scored=pl.col("inherited_scored").fill_null(0),
            games=pl.lit(1, pl.Int64),
        )
    )


def running_state(rows: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per team, running sums over all its rows by the date they count on: (after each observation
    time, after each date)."""
    daily = (
        rows.group_by("team_id", "known_on")
        .agg(pl.col("observed_at").max(), *[pl.col(c).sum() for c in _SUMS])
        .sort("team_id", "known_on")
    )
    running = daily.select(
        "team_id",
        "known_on",
        pl.col("observed_at").cum_max().over("team_id"),
        *[pl.col(c).cum_sum().over("team_id").alias(f"cum_{c}") for c in _SUMS],
    )
    by_time = last_per_observation(running.drop("known_on"), ["team_id"])
    by_date = running.drop("observed_at").sort("known_on")
    return by_time, by_date


def season_state(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Per team and season, after each observation: relief appearances per game, runners stranded."""
    keys = ["team_id", "season"]
    ordered = rows.sort(*keys, "known_on", "game_id")
    inherited = pl.col("inherited").cum_sum().over(keys)
    state = ordered.select(
        *keys,
        pl.col("observed_at").cum_max().over(keys),
        (pl.col("relievers").cum_sum().over(keys) / pl.col("games").cum_sum().over(keys)).alias(
            "relievers_pg_season"
        ),
        (
            (pl.col("scored").cum_sum().over(keys) + IRS_PRIOR_RATE * IRS_PRIOR_RUNNERS)
            / (inherited + IRS_PRIOR_RUNNERS)
        ).alias("irs_rate_season"),
    )
    return last_per_observation(state, keys)


def compute(targets: pl.LazyFrame, team_games: pl.LazyFrame, times: pl.LazyFrame) -> pl.LazyFrame:
    """Bullpen features for each target game (``game_id, season, date, as_of, home/away_team_id``).

    Returns ``game_id``, the features and ``src_bullpen_observed_at``.
    """
    rows = _rows(team_games, times)
    by_time, by_date = running_state(rows)
    seasonal = season_state(rows)
    sums = [f"cum_{c}" for c in _SUMS]
    frame = targets.select("game_id")
    for side in ("home", "away"):
        team = pl.col(f"{side}_team_id").cast(pl.Int64)
        frame = frame.join(
            asof_side(targets, by_time, f"_{side}_now", {"team_id": team}, sums, f"_obs_now_{side}"),
            on="game_id",
            how="left",
        ).join(
            asof_side(
                targets,
                seasonal,
                f"_{side}",
                {"team_id": team, "season": pl.col("season").cast(pl.Int32)},
                ["relievers_pg_season", "irs_rate_season"],
                f"_obs_season_{side}",
            ),
            on="game_id",
            how="left",
        )
        for k in DAYS:
            before = (
                targets.select(
                    "game_id", team.alias("team_id"), (pl.col("date") - pl.duration(days=k + 1)).alias("_d")
                )
                .sort("_d")
                .join_asof(
                    by_date,
                    left_on="_d",
                    right_on="known_on",
                    by="team_id",
                    strategy="backward",
                    check_sortedness=False,
                )
                .select("game_id", *[pl.col(c).alias(f"_{side}_b{k}_{c}") for c in sums])
            )
            frame = frame.join(before, on="game_id", how="left")

    def window(side: str, k: int, column: str) -> pl.Expr:
        now = pl.col(f"_{side}_now_cum_{column}").fill_null(0)
        # never negative: the window's start state is always inside the cutoff's state
        return (now - pl.col(f"_{side}_b{k}_cum_{column}").fill_null(0)).clip(lower_bound=0)

    exprs: list[pl.Expr] = []
    for side in ("home", "away"):
        exprs += [window(side, k, "relievers").alias(f"{side}_bp_relievers_l{k}") for k in DAYS]
        exprs += [window(side, k, "pitches").alias(f"{side}_bp_pitches_l{k}") for k in (1, 3)]
        exprs += [
            window(side, 3, "games").alias(f"{side}_bp_games_l3"),
            window(side, 3, "inherited").alias(f"{side}_bp_inherited_l3"),
            pl.col(f"_{side}_relievers_pg_season").alias(f"{side}_bp_relievers_pg_season"),
            pl.col(f"_{side}_irs_rate_season").alias(f"{side}_bp_irs_rate_season"),
        ]
    frame = (
        frame.with_columns(exprs)
        .with_columns(
            bp_relievers_l3_diff=pl.col("home_bp_relievers_l3") - pl.col("away_bp_relievers_l3"),
            bp_pitches_l3_diff=pl.col("home_bp_pitches_l3") - pl.col("away_bp_pitches_l3"),
        )
        .with_columns(src_bullpen_observed_at=pl.max_horizontal(pl.col("^_obs_.*$")))
    )
    return frame.select(
        "game_id", *[pl.col(f.name).cast(f.polars_dtype) for f in FEATURES], "src_bullpen_observed_at"
    )
