"""Starting-pitcher family: the listed starters, their rest, and how their team fared in their starts.

The listed starter and his hand are pre-game facts. Everything about earlier starts comes from
results, observed at the end of each start's local date, and reaches a game through
``join_asof`` like the team family.

A pitcher is identified within a season and team by a name key (first initial + surname, letters
only: Retrosheet/Pinnacle full names and SBRO's ``CSABATHIA`` style give the same key for most
pitchers). Keying by team keeps two pitchers of the same key on different clubs apart; the price
is that a pitcher traded mid-season starts over with his new team.
"""

from __future__ import annotations

import polars as pl

from mlbedge.features.spec import Family, Feature, side_features
from mlbedge.features.team import asof_side

START_WINDOWS: tuple[int, ...] = (3, 5)
_P = Family.PITCHER
_STARTERS = ("starters",)
_BOTH = ("starters", "results")


def starter_key(name: pl.Expr) -> pl.Expr:
    """``"Adam Wainwright"`` and ``"AWAINWRIGHT"`` -> ``"AWAINWRIGHT"``; null when no name is listed."""
    letters = name.str.to_uppercase().str.replace_all(r"[^A-Z ]", "").str.strip_chars()
    spaced = letters.str.contains(" ")
    key = (
        pl.when(spaced).then(letters.str.slice(0, 1) + letters.str.split(" ").list.last()).otherwise(letters)
    )
    return pl.when(key.str.len_chars() > 0).then(key).otherwise(None)


def _declare() -> tuple[Feature, ...]:
    features: list[Feature] = []
    features += side_features(
        "{side}_sp_left",
        _P,
        "int8",
        "1 if the {side} starter is listed as left-handed, 0 if right-handed, null if unknown.",
        _STARTERS,
    )
    features += side_features(
        "{side}_sp_known",
        _P,
        "int8",
        "1 if a {side} starting pitcher is listed before the game, else 0.",
        _STARTERS,
        nullable=False,
    )
    features += side_features(
        "{side}_sp_days_rest",
        _P,
        "int16",
        "Days of rest of the {side} starter: days since his previous start this season for this team, "
        "minus one (null for his first start).",
        _BOTH,
    )
    features += side_features(
        "{side}_sp_starts_season",
        _P,
        "int16",
        "Earlier starts of the {side} starter this season for this team.",
        _BOTH,
        nullable=False,
    )
    for window in (*START_WINDOWS, None):
        label = "season" if window is None else f"l{window}"
        text = (
            "in all his starts this season" if window is None else f"in his last {window} starts this season"
        )
        features += side_features(
            f"{{side}}_sp_team_win_pct_{label}",
            _P,
            "float64",
            f"Share of decided games {{team}} won {text} (the {{side}} starter's).",
            _BOTH,
        )
        features += side_features(
            f"{{side}}_sp_runs_allowed_pg_{label}",
            _P,
            "float64",
            f"Runs per game {{team}} allowed {text} (the {{side}} starter's).",
            _BOTH,
        )
    features += side_features(
        "{side}_vs_hand_win_pct_season",
        _P,
        "float64",
        "Win share of {team} this season against starters of the hand the opponent lists today.",
        _BOTH,
    )
    features += side_features(
        "{side}_vs_hand_runs_scored_pg_season",
        _P,
        "float64",
        "Runs per game {team} scored this season against starters of the hand the opponent lists today.",
        _BOTH,
    )
    features += side_features(
        "{side}_vs_hand_games_season",
        _P,
        "int16",
        "Games {team} played this season against starters of the hand the opponent lists today.",
        _BOTH,
        nullable=False,
    )
    features += [
        Feature(
            "sp_same_hand",
            _P,
            "int8",
            "1 if both listed starters throw with the same hand, 0 if not, null if either is unknown.",
            _STARTERS,
        ),
        Feature(
            "sp_days_rest_diff",
            _P,
            "int16",
            "home_sp_days_rest - away_sp_days_rest.",
            _BOTH,
        ),
    ]
    return tuple(features)


FEATURES: tuple[Feature, ...] = _declare()


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(None)


def starts_state(log: pl.LazyFrame) -> pl.LazyFrame:
    """Per pitcher (season, team, key), after each observation time: starts, team results in them."""
    keys = ["team_id", "season", "starter_key"]
    # In observation order, as team form (see team._window_stats).
    ordered = log.filter(pl.col("starter_key").is_not_null()).sort(
        [*keys, "observed_at", "date", "game_num", "game_id"]
    )
    columns = [
        # A state is known once every result in it is (see team._window_stats).
        pl.col("observed_at").cum_max().over(keys).alias("observed_at"),
        pl.int_range(1, pl.len() + 1).over(keys).cast(pl.Int16).alias("starts_season"),
        # The latest date the pitcher started on (a suspended game counts from its completion
        # but was started on its first date).
        pl.col("played_on").cum_max().over(keys).alias("last_start_date"),
    ]
    for window in (*START_WINDOWS, None):
        label = "season" if window is None else f"l{window}"

        def summed(column: str, window: int | None = window) -> pl.Expr:
            expr = (
                pl.col(column).cum_sum()
                if window is None
                else pl.col(column).rolling_sum(window, min_samples=1)
            )
            return expr.over(keys)

        n = pl.int_range(1, pl.len() + 1).over(keys).cast(pl.Float64)
        if window is not None:
            n = n.clip(0, window)
        columns += [
            _ratio(summed("win"), summed("decided")).alias(f"team_win_pct_{label}"),
            _ratio(summed("ra"), n).alias(f"runs_allowed_pg_{label}"),
        ]
    state = ordered.select(*keys, *columns)
    return state.unique(subset=[*keys, "observed_at"], keep="last", maintain_order=True).sort("observed_at")


def vs_hand_state(log: pl.LazyFrame) -> pl.LazyFrame:
    """Per team, season and opposing starter's hand: win share, runs scored per game, games."""
    keys = ["team_id", "season", "opp_starter_hand"]
    ordered = log.filter(pl.col("opp_starter_hand").is_not_null()).sort(
        [*keys, "observed_at", "date", "game_num", "game_id"]
    )
    n = pl.int_range(1, pl.len() + 1).over(keys)
    state = ordered.select(
        *keys,
        pl.col("observed_at").cum_max().over(keys),
        _ratio(pl.col("win").cum_sum().over(keys), pl.col("decided").cum_sum().over(keys)).alias(
            "vs_hand_win_pct_season"
        ),
        _ratio(pl.col("rf").cum_sum().over(keys), n.cast(pl.Float64)).alias("vs_hand_runs_scored_pg_season"),
        n.cast(pl.Int16).alias("vs_hand_games_season"),
    )
    return state.unique(subset=[*keys, "observed_at"], keep="last", maintain_order=True).sort("observed_at")


def compute(targets: pl.LazyFrame, log: pl.LazyFrame) -> pl.LazyFrame:
    """Pitcher features for each target game.

    ``targets`` needs ``game_id, season, date, as_of, home/away_team_id, home/away_starter_key,
    home/away_starter_hand``. Returns ``game_id``, the features and ``src_pitcher_observed_at``.
    """
    starts = starts_state(log)
    vs_hand = vs_hand_state(log)
    season = pl.col("season").cast(pl.Int32)
    start_columns = [
        c
        for c in starts.collect_schema().names()
        if c not in ("team_id", "season", "starter_key", "observed_at")
    ]
    hand_columns = ["vs_hand_win_pct_season", "vs_hand_runs_scored_pg_season", "vs_hand_games_season"]
    frame = targets.select(
        "game_id",
        "date",
        *[pl.col(f"{s}_starter_hand").alias(f"_{s}_hand") for s in ("home", "away")],
        *[
            pl.col(f"{s}_starter_key").is_not_null().cast(pl.Int8).alias(f"{s}_sp_known")
            for s in ("home", "away")
        ],
    )
    for side, other in (("home", "away"), ("away", "home")):
        team = pl.col(f"{side}_team_id").cast(pl.Int64)
        frame = frame.join(
            asof_side(
                targets,
                starts,
                f"{side}_sp",
                {"team_id": team, "season": season, "starter_key": pl.col(f"{side}_starter_key")},
                start_columns,
                f"_obs_start_{side}",
            ),
            on="game_id",
            how="left",
        ).join(
            asof_side(
                targets,
                vs_hand,
                side,
                {"team_id": team, "season": season, "opp_starter_hand": pl.col(f"{other}_starter_hand")},
                hand_columns,
                f"_obs_hand_{side}",
            ),
            on="game_id",
            how="left",
        )

    def hand_left(side: str) -> pl.Expr:
        hand = pl.col(f"_{side}_hand")
        return pl.when(hand == "L").then(1).when(hand == "R").then(0).otherwise(None).cast(pl.Int8)

    def rest(side: str) -> pl.Expr:
        return ((pl.col("date") - pl.col(f"{side}_sp_last_start_date")).dt.total_days() - 1).cast(pl.Int16)

    frame = frame.with_columns(
        home_sp_left=hand_left("home"),
        away_sp_left=hand_left("away"),
        home_sp_days_rest=rest("home"),
        away_sp_days_rest=rest("away"),
        home_sp_starts_season=pl.col("home_sp_starts_season").fill_null(0),
        away_sp_starts_season=pl.col("away_sp_starts_season").fill_null(0),
        home_vs_hand_games_season=pl.col("home_vs_hand_games_season").fill_null(0),
        away_vs_hand_games_season=pl.col("away_vs_hand_games_season").fill_null(0),
        sp_same_hand=(pl.col("_home_hand") == pl.col("_away_hand")).cast(pl.Int8),
        src_pitcher_observed_at=pl.max_horizontal(pl.col("^_obs_.*$")),
    ).with_columns(sp_days_rest_diff=pl.col("home_sp_days_rest") - pl.col("away_sp_days_rest"))
    return frame.select(
        "game_id", *[pl.col(f.name).cast(f.polars_dtype) for f in FEATURES], "src_pitcher_observed_at"
    )
