"""Starter family: the LISTED starting pitchers by Retrosheet id, their track record and form.

The listed starter (SBRO's, resolved to a Retrosheet id) is the pre-game fact: where an opener or a
late scratch threw the first pitch instead, the features still describe the listed one.

- **Prior seasons** (Lahman pitching, ``yearID <= S-1`` by the season rule of
  :mod:`mlbedge.features.players`): the last three seasons weighted 1.0/0.8/0.6, FIP and K-BB%
  shrunk toward the league's value of the same weighted seasons by :data:`FIP_PRIOR_IP` innings
  and :data:`KBB_PRIOR_BF` batters (a pitcher without history gets the league value), workload.
- **Platoon**: his wOBA allowed against left- and right-handed batters (retrosplits platoon splits,
  same seasons and weights, each shrunk toward the league by :data:`PLATOON_PRIOR_PA`), mixed by
  how the opposing team's lineups have batted against his hand this season (switch hitters bat
  from the other side; before a team's first game, its lineups of the season before).
- **This season** (his earlier actual starts, by id, for any team; each observed at the end of its
  local date, a suspended game's at its completion date): starts, days of rest, and his team's
  runs allowed, K-BB% and pitchers used in those starts.
"""

from __future__ import annotations

import polars as pl

from mlbedge.features.players import (
    PITCHING_SCHEMA,
    PLATOON_SCHEMA,
    TEAM_GAME_SCHEMA,
    WOBA_SCALE,
    last_per_observation,
    shrunk,
    weighted_seasons,
    woba_numerator,
)
from mlbedge.features.spec import Family, Feature, side_features
from mlbedge.features.team import asof_side

FIP_PRIOR_IP = 60.0  # innings of league-average pitching a prior FIP is mixed with
KBB_PRIOR_BF = 250.0  # batters faced at the league K-BB% mixed in
PLATOON_PRIOR_PA = 150.0  # plate appearances per batter hand at the league rate mixed in
# Outs to innings by a reciprocal, never by dividing by a literal: Polars may divide a long column
# by a literal as a multiplication but a one-row column exactly, and a game's features must be
# bit-identical whether it is built alone or with a season.
_THIRD = 1.0 / 3.0

_S = Family.STARTER
_LISTED = ("listed_starter_ids",)
_PRIOR = ("listed_starter_ids", "season_stats")
_PLATOON = ("listed_starter_ids", "season_stats", "people", "lineups")
_FORM = ("listed_starter_ids", "game_starters", "team_game_rows")


def _declare() -> tuple[Feature, ...]:
    features: list[Feature] = []
    features += side_features(
        "{side}_sp_id_known",
        _S,
        "int8",
        "1 if the {side} team's listed starter is resolved to a Retrosheet id, else 0.",
        _LISTED,
        nullable=False,
    )
    features += side_features(
        "{side}_sp_fip_prior",
        _S,
        "float64",
        f"FIP of the {{side}} listed starter over the last three seasons (weights 1.0/0.8/0.6), shrunk "
        f"toward the league's by {FIP_PRIOR_IP:g} innings (league value when he has no history).",
        _PRIOR,
    )
    features += side_features(
        "{side}_sp_kbb_prior",
        _S,
        "float64",
        f"(K - BB) / batters faced of the {{side}} listed starter over the last three seasons, shrunk "
        f"toward the league's by {KBB_PRIOR_BF:g} batters.",
        _PRIOR,
    )
    features += side_features(
        "{side}_sp_ip_last_season",
        _S,
        "float64",
        "Innings the {side} listed starter pitched last season (0 if none): workload and durability.",
        _PRIOR,
    )
    features += side_features(
        "{side}_sp_ip_per_game_prior",
        _S,
        "float64",
        "Innings per appearance of the {side} listed starter over the last three seasons (null without "
        "history).",
        _PRIOR,
    )
    features += side_features(
        "{side}_sp_start_share_prior",
        _S,
        "float64",
        "Share of his appearances the {side} listed starter started over the last three seasons (low "
        "for openers and relievers; null without history).",
        _PRIOR,
    )
    features += side_features(
        "{side}_sp_platoon_woba",
        _S,
        "float64",
        "Expected wOBA allowed by the {side} listed starter against the opposing lineup's usual hands: "
        f"his split by batter hand (last three seasons, each shrunk toward the league by "
        f"{PLATOON_PRIOR_PA:g} PA) mixed by the opponent's share of left-handed batting against his hand.",
        _PLATOON,
    )
    features += side_features(
        "{side}_sp_opp_left_share",
        _S,
        "float64",
        "Share of the opposing lineup slots that batted left-handed against the {side} listed starter's "
        "hand this season (switch hitters bat from the other side; last season's before the first game).",
        ("listed_starter_ids", "people", "lineups"),
    )
    features += side_features(
        "{side}_sp_starts_season_id",
        _S,
        "int16",
        "Earlier starts this season of the {side} listed starter (by id, for any team).",
        _FORM,
        nullable=False,
    )
    features += side_features(
        "{side}_sp_rest_days_id",
        _S,
        "int16",
        "Days since the {side} listed starter's previous start this season, minus one (null for his first).",
        _FORM,
    )
    features += side_features(
        "{side}_sp_form_runs_allowed_pg",
        _S,
        "float64",
        "Runs per game his team allowed in the {side} listed starter's earlier starts this season.",
        _FORM,
    )
    features += side_features(
        "{side}_sp_form_kbb",
        _S,
        "float64",
        "His team's (K - BB) / batters faced in the {side} listed starter's earlier starts this season.",
        _FORM,
    )
    features += side_features(
        "{side}_sp_form_pitchers_used",
        _S,
        "float64",
        "Pitchers his team used per game in the {side} listed starter's earlier starts this season "
        "(more means shorter starts).",
        _FORM,
    )
    features += [
        Feature("sp_fip_prior_diff", _S, "float64", "home_sp_fip_prior - away_sp_fip_prior.", _PRIOR),
        Feature("sp_kbb_prior_diff", _S, "float64", "home_sp_kbb_prior - away_sp_kbb_prior.", _PRIOR),
        Feature(
            "sp_platoon_woba_diff", _S, "float64", "home_sp_platoon_woba - away_sp_platoon_woba.", _PLATOON
        ),
    ]
    return tuple(features)


FEATURES: tuple[Feature, ...] = _declare()

_PITCH_STATS = ["g", "gs", "ip_outs", "bf", "so", "bb", "hbp", "hr", "er"]
_PLATOON_STATS = ["pa", "woba"]


def pitching_state(pitching: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(per pitcher, per league) prior-season states, each after season ``state_season``."""
    rows = pitching.select(*PITCHING_SCHEMA).filter(pl.col("player_id").is_not_null())
    per_player = weighted_seasons(rows, _PITCH_STATS, ["player_id"])
    league_rows = rows.group_by("season").agg(pl.col(s).sum() for s in _PITCH_STATS)
    league = weighted_seasons(league_rows.with_columns(_all=pl.lit(1)), _PITCH_STATS, ["_all"])
    ip = pl.col("ip_outs") * _THIRD
    league = league.with_columns(
        lg_era=pl.col("er") * 9.0 / ip,
        lg_fip_core=(13.0 * pl.col("hr") + 3.0 * (pl.col("bb") + pl.col("hbp")) - 2.0 * pl.col("so")) / ip,
        lg_kbb=(pl.col("so") - pl.col("bb")) / pl.col("bf"),
    ).select("state_season", "observed_at", "lg_era", "lg_fip_core", "lg_kbb")
    return per_player, league


def platoon_state(platoon: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(per pitcher and batter hand, per league and batter hand) weighted PA and wOBA sums."""
    rows = (
        platoon.select(*PLATOON_SCHEMA)
        .filter(pl.col("player_id").is_not_null() & pl.col("batter_hand").is_in(["L", "R"]))
        .with_columns(
            woba=woba_numerator(
                pl.col("bb"), pl.col("hbp"), pl.col("h"), pl.col("x2b"), pl.col("x3b"), pl.col("hr")
            )
        )
    )
    per_player = weighted_seasons(rows, _PLATOON_STATS, ["player_id", "batter_hand"]).with_columns(
        woba=pl.col("woba") * (1.0 / WOBA_SCALE)
    )
    league_rows = rows.group_by("season", "batter_hand").agg(pl.col(s).sum() for s in _PLATOON_STATS)
    league = weighted_seasons(league_rows, _PLATOON_STATS, ["batter_hand"]).with_columns(
        lg_woba=pl.col("woba") * (1.0 / WOBA_SCALE) / pl.col("pa")
    )
    return per_player, league.select("batter_hand", "state_season", "observed_at", "lg_woba")


def lineup_hand_state(lineups: pl.LazyFrame, people: pl.LazyFrame, times: pl.LazyFrame) -> pl.LazyFrame:
    """Per team, after each observation: this season's lineup slots batting left against a right-
    and against a left-handed pitcher (switch hitters bat from the other side)."""
    bats = people.select("player_id", "bats")
    slots = (
        lineups.join(times, on="game_id", how="inner")
        .join(bats, on="player_id", how="left")
        .with_columns(
            left_vs_r=pl.col("bats").is_in(["L", "B"]).cast(pl.Float64),
            left_vs_l=(pl.col("bats") == "L").cast(pl.Float64),
            known=pl.col("bats").is_in(["L", "R", "B"]).cast(pl.Float64),
        )
        .group_by("team_id", "season", "date", "game_id")
        .agg(
            pl.col("observed_at").first(),
            pl.col("left_vs_r").sum(),
            pl.col("left_vs_l").sum(),
            pl.col("known").sum(),
        )
    )
    keys = ["team_id", "season"]
    state = slots.sort(*keys, "date", "game_id").select(
        "team_id",
        pl.col("observed_at").cum_max().over(keys),
        (pl.col("left_vs_r").cum_sum() / pl.col("known").cum_sum()).over(keys).alias("left_share_vs_r"),
        (pl.col("left_vs_l").cum_sum() / pl.col("known").cum_sum()).over(keys).alias("left_share_vs_l"),
    )
    return last_per_observation(state, ["team_id"])


FORM_COLUMNS = [
    "starts_season_id",
    "last_start_date",
    "form_runs_allowed_pg",
    "form_kbb",
    "form_pitchers_used",
]


def _starts_state(starts: pl.LazyFrame) -> pl.LazyFrame:
    keys = ["player_id", "season"]
    ordered = starts.sort(*keys, "date", "game_id")
    n_rows = pl.col("has_row").cum_sum().over(keys)
    state = ordered.select(
        *keys,
        pl.col("observed_at").cum_max().over(keys),
        pl.int_range(1, pl.len() + 1).over(keys).cast(pl.Int16).alias("starts_season_id"),
        pl.col("date").alias("last_start_date"),
        pl.when(n_rows > 0)
        .then(pl.col("runs_allowed").fill_null(0).cum_sum().over(keys) / n_rows)
        .alias("form_runs_allowed_pg"),
        pl.when(pl.col("batters_faced").fill_null(0).cum_sum().over(keys) > 0)
        .then(
            (pl.col("strikeouts").fill_null(0) - pl.col("walks").fill_null(0)).cum_sum().over(keys)
            / pl.col("batters_faced").fill_null(0).cum_sum().over(keys)
        )
        .alias("form_kbb"),
        pl.when(n_rows > 0)
        .then(pl.col("pitchers_used").fill_null(0).cum_sum().over(keys) / n_rows)
        .alias("form_pitchers_used"),
    )
    return last_per_observation(state, keys)


def _start_rows(
    facts: pl.LazyFrame, times: pl.LazyFrame, team_games: pl.LazyFrame, schedule: pl.LazyFrame
) -> pl.LazyFrame:
    """One row per actual start: pitcher, his team, the game's time, his team's pitching row."""
    sides = schedule.select("game_id", "home_team_id", "away_team_id")
    rows = pl.concat(
        [
            facts.select("game_id", pl.col(f"{side}_starter_id").alias("player_id"))
            .join(sides, on="game_id", how="inner")
            .select("game_id", "player_id", pl.col(f"{side}_team_id").cast(pl.Int64).alias("team_id"))
            for side in ("home", "away")
        ]
    ).filter(pl.col("player_id").is_not_null())
    team_rows = team_games.select(*TEAM_GAME_SCHEMA).with_columns(has_row=pl.lit(1, pl.Int64))
    return (
        rows.join(times, on="game_id", how="inner")
        .join(team_rows, on=["game_id", "team_id"], how="left")
        .with_columns(pl.col("has_row").fill_null(0))
    )


def compute(
    targets: pl.LazyFrame,
    schedule: pl.LazyFrame,
    times: pl.LazyFrame,
    facts: pl.LazyFrame,
    pitching: pl.LazyFrame,
    platoon: pl.LazyFrame,
    people: pl.LazyFrame,
    lineups: pl.LazyFrame,
    team_games: pl.LazyFrame,
) -> pl.LazyFrame:
    """Starter features for each target game.

    ``targets``: ``game_id, season, date, as_of, home/away_team_id, home/away_starter_hand``.
    ``times``: :func:`mlbedge.features.players.game_fact_times` of every game. Returns ``game_id``,
    the features and ``src_starter_observed_at``.
    """
    season = pl.col("season").cast(pl.Int32)
    listed = facts.select("game_id", "home_listed_starter_id", "away_listed_starter_id")
    throws = people.select("player_id", "throws")
    frame = (
        targets.select("game_id", "season", "date", "as_of", "home_starter_hand", "away_starter_hand")
        .join(listed, on="game_id", how="left")
        .with_columns(
            home_sp_id_known=pl.col("home_listed_starter_id").is_not_null().cast(pl.Int8),
            away_sp_id_known=pl.col("away_listed_starter_id").is_not_null().cast(pl.Int8),
        )
    )
    for side in ("home", "away"):
        frame = frame.join(
            throws.rename({"player_id": f"{side}_listed_starter_id", "throws": f"_{side}_throws"}),
            on=f"{side}_listed_starter_id",
            how="left",
        ).with_columns(
            # Lahman's throwing hand first, the listed hand where Lahman has none
            pl.coalesce(
                pl.when(pl.col(f"_{side}_throws").is_in(["L", "R"])).then(pl.col(f"_{side}_throws")),
                pl.col(f"{side}_starter_hand"),
            ).alias(f"_{side}_hand")
        )
    enriched = targets.join(frame.select("game_id", "^.*listed_starter_id$", "^_.*_hand$"), on="game_id")

    per_player, league = pitching_state(pitching)
    per_hand, league_hand = platoon_state(platoon)
    hands = lineup_hand_state(lineups, people, times)
    starts = _starts_state(_start_rows(facts, times, team_games, schedule))
    prior_columns = ["state_season", *_PITCH_STATS, "ip_outs_last"]
    league_columns = ["lg_era", "lg_fip_core", "lg_kbb"]
    league_frame = (
        enriched.select("game_id", "as_of")
        .sort("as_of")
        .join_asof(
            league.rename({"state_season": "lg_season"}).select("observed_at", "lg_season", *league_columns),
            left_on="as_of",
            right_on="observed_at",
            strategy="backward",
            check_sortedness=False,
        )
    )
    frame = frame.join(
        league_frame.select(
            "game_id", "lg_season", *league_columns, pl.col("observed_at").alias("_obs_league")
        ),
        on="game_id",
        how="left",
    )
    for side, other in (("home", "away"), ("away", "home")):
        pid = pl.col(f"{side}_listed_starter_id")
        frame = frame.join(
            asof_side(
                enriched, per_player, f"_{side}", {"player_id": pid}, prior_columns, f"_obs_prior_{side}"
            ),
            on="game_id",
            how="left",
        )
        for hand in ("L", "R"):
            frame = frame.join(
                asof_side(
                    enriched,
                    per_hand.filter(pl.col("batter_hand") == hand).drop("batter_hand"),
                    f"_{side}_{hand}",
                    {"player_id": pid},
                    ["state_season", "pa", "woba"],
                    f"_obs_platoon_{side}_{hand}",
                ),
                on="game_id",
                how="left",
            ).join(
                asof_side(
                    enriched.with_columns(_hand=pl.lit(hand)),
                    league_hand,
                    f"_{side}_lg{hand}",
                    {"batter_hand": pl.col("_hand")},
                    ["lg_woba"],
                    f"_obs_lgplatoon_{side}_{hand}",
                ),
                on="game_id",
                how="left",
            )
        frame = frame.join(
            asof_side(
                enriched,
                hands,
                f"_{side}_opp",
                {"team_id": pl.col(f"{other}_team_id").cast(pl.Int64)},
                ["left_share_vs_r", "left_share_vs_l"],
                f"_obs_hands_{side}",
            ),
            on="game_id",
            how="left",
        ).join(
            asof_side(
                enriched,
                starts,
                f"_{side}",
                {"player_id": pid, "season": season},
                FORM_COLUMNS,
                f"_obs_starts_{side}",
            ),
            on="game_id",
            how="left",
        )

    def side_exprs(side: str) -> list[pl.Expr]:
        p = f"_{side}_"
        known = pl.col(f"{side}_listed_starter_id").is_not_null()
        # the prior state counts only when it is of last season (older ones: three seasons ago at most)
        recent = pl.col(f"{p}state_season") == pl.col("season").cast(pl.Int32) - 1
        current = pl.col("lg_season") == pl.col("season").cast(pl.Int32) - 1

        def stat(name: str) -> pl.Expr:
            return pl.when(recent).then(pl.col(f"{p}{name}")).otherwise(0.0)

        ip = stat("ip_outs") * _THIRD
        fip_core_sum = 13.0 * stat("hr") + 3.0 * (stat("bb") + stat("hbp")) - 2.0 * stat("so")
        lg_fip = pl.col("lg_era")
        # FIP = core/IP + (lgERA - lg core); shrunk: (core + C*IP + lgERA*k) / (IP + k)
        fip_sum = fip_core_sum + (pl.col("lg_era") - pl.col("lg_fip_core")) * ip
        fip = pl.when(known & current).then(shrunk(fip_sum, ip, lg_fip, FIP_PRIOR_IP))
        kbb = pl.when(known & current).then(
            shrunk(stat("so") - stat("bb"), stat("bf"), pl.col("lg_kbb"), KBB_PRIOR_BF)
        )
        games = stat("g")
        hand = pl.col(f"_{side}_hand")
        left_share = (
            pl.when(hand == "R")
            .then(pl.col(f"{p}opp_left_share_vs_r"))
            .when(hand == "L")
            .then(pl.col(f"{p}opp_left_share_vs_l"))
        )

        def hand_woba(b: str) -> pl.Expr:
            fresh = pl.col(f"{p}{b}_state_season") == pl.col("season").cast(pl.Int32) - 1
            pa = pl.when(fresh).then(pl.col(f"{p}{b}_pa")).otherwise(0.0)
            woba = pl.when(fresh).then(pl.col(f"{p}{b}_woba")).otherwise(0.0)
            return shrunk(woba, pa, pl.col(f"{p}lg{b}_lg_woba"), PLATOON_PRIOR_PA)

        platoon_woba = pl.when(known).then(left_share * hand_woba("L") + (1.0 - left_share) * hand_woba("R"))
        rest = (pl.col("date") - pl.col(f"{p}last_start_date")).dt.total_days() - 1
        return [
            fip.alias(f"{side}_sp_fip_prior"),
            kbb.alias(f"{side}_sp_kbb_prior"),
            pl.when(known & current)
            .then(pl.when(recent).then(pl.col(f"{p}ip_outs_last")).otherwise(0.0) * _THIRD)
            .alias(f"{side}_sp_ip_last_season"),
            pl.when(games > 0).then(ip / games).alias(f"{side}_sp_ip_per_game_prior"),
            pl.when(games > 0).then(stat("gs") / games).alias(f"{side}_sp_start_share_prior"),
            platoon_woba.alias(f"{side}_sp_platoon_woba"),
            pl.when(known).then(left_share).alias(f"{side}_sp_opp_left_share"),
            pl.col(f"{p}starts_season_id").fill_null(0).alias(f"{side}_sp_starts_season_id"),
            rest.alias(f"{side}_sp_rest_days_id"),
            pl.col(f"{p}form_runs_allowed_pg").alias(f"{side}_sp_form_runs_allowed_pg"),
            pl.col(f"{p}form_kbb").alias(f"{side}_sp_form_kbb"),
            pl.col(f"{p}form_pitchers_used").alias(f"{side}_sp_form_pitchers_used"),
        ]

    frame = (
        frame.with_columns(*side_exprs("home"), *side_exprs("away"))
        .with_columns(
            sp_fip_prior_diff=pl.col("home_sp_fip_prior") - pl.col("away_sp_fip_prior"),
            sp_kbb_prior_diff=pl.col("home_sp_kbb_prior") - pl.col("away_sp_kbb_prior"),
            sp_platoon_woba_diff=pl.col("home_sp_platoon_woba") - pl.col("away_sp_platoon_woba"),
        )
        .with_columns(src_starter_observed_at=pl.max_horizontal(pl.col("^_obs_.*$")))
    )
    return frame.select(
        "game_id", *[pl.col(f.name).cast(f.polars_dtype) for f in FEATURES], "src_starter_observed_at"
    )
