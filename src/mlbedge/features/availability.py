"""Availability family: who is missing from each team's lineups, known before the day.

Each batter is valued by his prior seasons' batting (Lahman, the last three seasons weighted
1.0/0.8/0.6, a simple wOBA shrunk toward :data:`NEWCOMER_SHARE` of the league's by
:data:`PRIOR_PA` plate appearances; season ``S`` uses seasons up to ``S-1``). This season's
starting lineups of EARLIER games (each observed at the end of its local date; a suspended game's
at its completion date, where it also takes its place in the sequence) say who plays:

- a **regular** has started at least :data:`REGULAR_MIN_STARTS` of his team's last
  :data:`REGULAR_WINDOW` games; the team's **strongest usual lineup** is its best
  :data:`LINEUP_BATTERS` regulars (pitchers batting excluded);
- a regular is **missing** when he started none of the team's last :data:`MISSING_GAMES` games
  (injury, illness, suspension, rest);
- the **last lineup** is the one of the team's latest game.

The game's own **posted lineup** is a feature only where the start time is known: it is observed
120 minutes before first pitch (:data:`mlbedge.features.players.LINEUP_POSTED_MINUTES`) and never
where the start is unknown. Historically that is the 2016 games with Pinnacle start times.
"""

from __future__ import annotations

import polars as pl

from mlbedge.features.players import (
    BATTING_SCHEMA,
    LINEUP_POSTED_MINUTES,
    WOBA_SCALE,
    last_per_observation,
    shrunk,
    weighted_seasons,
    woba_numerator,
)
from mlbedge.features.spec import Family, Feature, side_features
from mlbedge.features.team import asof_side

REGULAR_WINDOW = 20
REGULAR_MIN_STARTS = 10
MISSING_GAMES = 3
LINEUP_BATTERS = 8
PRIOR_PA = 200.0
NEWCOMER_SHARE = 0.93  # a batter without history is valued at this share of the league's wOBA
MICRO = 1_000_000.0

_A = Family.AVAILABILITY
_RECENT = ("lineups", "season_stats")
_POSTED = ("posted_lineup", "lineups", "season_stats")


def _declare() -> tuple[Feature, ...]:
    features: list[Feature] = []
    features += side_features(
        "{side}_lineup_regulars_woba",
        _A,
        "float64",
        f"Mean prior-seasons wOBA of {{team}}'s strongest usual lineup: its best {LINEUP_BATTERS} regulars "
        f"(started >= {REGULAR_MIN_STARTS} of its last {REGULAR_WINDOW} games this season).",
        _RECENT,
    )
    features += side_features(
        "{side}_lineup_last_woba",
        _A,
        "float64",
        "Mean prior-seasons wOBA of the batters (pitchers excluded) in {team}'s latest lineup.",
        _RECENT,
    )
    features += side_features(
        "{side}_lineup_last_vs_regulars",
        _A,
        "float64",
        "{side}_lineup_last_woba - {side}_lineup_regulars_woba: how far the latest lineup fell short.",
        _RECENT,
    )
    features += side_features(
        "{side}_regulars_missing",
        _A,
        "int16",
        f"Regulars of {{team}} who started none of its last {MISSING_GAMES} games (null before its "
        "first game this season).",
        _RECENT,
    )
    features += side_features(
        "{side}_regulars_missing_value",
        _A,
        "float64",
        "Sum over {team}'s missing regulars of their wOBA above the league's (the quality lost).",
        _RECENT,
    )
    features += side_features(
        "{side}_posted_lineup_woba",
        _A,
        "float64",
        "Mean prior-seasons wOBA of the batters in {team}'s posted lineup for this game; only where the "
        f"start time is known (posted {LINEUP_POSTED_MINUTES} minutes before first pitch), else null.",
        _POSTED,
    )
    features += side_features(
        "{side}_posted_vs_regulars",
        _A,
        "float64",
        "{side}_posted_lineup_woba - {side}_lineup_regulars_woba (null where the start time is unknown).",
        _POSTED,
    )
    features += [
        Feature(
            "lineup_regulars_woba_diff",
            _A,
            "float64",
            "home_lineup_regulars_woba - away_lineup_regulars_woba.",
            _RECENT,
        ),
        Feature(
            "lineup_last_woba_diff", _A, "float64", "home_lineup_last_woba - away_lineup_last_woba.", _RECENT
        ),
        Feature(
            "regulars_missing_value_diff",
            _A,
            "float64",
            "home_regulars_missing_value - away_regulars_missing_value.",
            _RECENT,
        ),
    ]
    return tuple(features)


FEATURES: tuple[Feature, ...] = _declare()

_BAT_STATS = ["pa", "woba"]


def _batting_rows(batting: pl.LazyFrame) -> pl.LazyFrame:
    return (
        batting.select(*BATTING_SCHEMA)
        .filter(pl.col("player_id").is_not_null())
        .with_columns(
            pa=(pl.col("ab") + pl.col("bb") + pl.col("hbp") + pl.col("sf")).cast(pl.Int64),
            woba=woba_numerator(
                pl.col("bb"), pl.col("hbp"), pl.col("h"), pl.col("x2b"), pl.col("x3b"), pl.col("hr")
            ),
        )
    )


def batter_values(batting: pl.LazyFrame) -> pl.LazyFrame:
    """Per batter and season ``S``: his prior-seasons wOBA (seasons up to ``S-1``), and the league's.

    Columns ``player_id, season, woba, lg_woba, observed_at`` (when the newest row behind it was).
    Batters without a row get the newcomer value from :func:`league_values`.
    """
    rows = _batting_rows(batting)
    per_player = weighted_seasons(rows, _BAT_STATS, ["player_id"])
    league = league_values(rows)
    return (
        per_player.with_columns(season=pl.col("state_season") + 1)
        .join(league, on="season", how="inner")
        .select(
            "player_id",
            "season",
            shrunk(
                pl.col("woba") * (1.0 / WOBA_SCALE),
                pl.col("pa"),
                NEWCOMER_SHARE * pl.col("lg_woba"),
                PRIOR_PA,
            ).alias("woba"),
            "lg_woba",
            pl.max_horizontal("observed_at", "lg_observed_at").alias("observed_at"),
        )
    )


def league_values(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Per season ``S``: the league's weighted wOBA of seasons up to ``S-1``, and when it is known."""
    totals = rows.group_by("season").agg(pl.col(s).sum() for s in _BAT_STATS).with_columns(_all=pl.lit(1))
    return weighted_seasons(totals, _BAT_STATS, ["_all"]).select(
        (pl.col("state_season") + 1).alias("season"),
        (pl.col("woba") * (1.0 / WOBA_SCALE) / pl.col("pa")).alias("lg_woba"),
        pl.col("observed_at").alias("lg_observed_at"),
    )


def _valued_slots(
    lineups: pl.LazyFrame, times: pl.LazyFrame, batting: pl.LazyFrame
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """(lineup slots of batters -- not pitchers -- with the game's time and the batter's value,
    batter values, league values)."""
    values = batter_values(batting).select("player_id", "season", "woba")
    league = league_values(_batting_rows(batting)).select("season", "lg_woba")
    slots = (
        lineups.filter(pl.col("position") != 1)
        .join(times, on="game_id", how="inner")
        .join(league, on="season", how="left")
        .join(values, on=["player_id", "season"], how="left")
        .with_columns(woba=pl.coalesce("woba", NEWCOMER_SHARE * pl.col("lg_woba")))
        .with_columns(woba_u=_micro(pl.col("woba")), lg_u=_micro(pl.col("lg_woba")))
    )
    return slots, values, league


def _micro(woba: pl.Expr) -> pl.Expr:
    """wOBA in millionths, an integer: sums and means over players are then exact, so a team's
    state is bit-identical however its rows are ordered or partitioned."""
    return (woba * MICRO).round().cast(pl.Int64)


def _lagged(n: int) -> pl.Expr:
    """The running sum ``n`` rows back within the same player, or his group's start value."""
    return pl.when(pl.col("gidx") >= n).then(pl.col("_cum").shift(n)).otherwise(pl.col("_start"))


def lineup_state(slots: pl.LazyFrame) -> pl.LazyFrame:
    """Per team and season, after each of its games is observed: regulars, missing, latest lineup."""
    keys = ["team_id", "season"]
    games = (
        slots.group_by(*keys, "game_id")
        .agg(
            pl.col("known_on").first(),
            pl.col("observed_at").first(),
            (pl.col("woba_u").sum() * (1.0 / MICRO) / pl.len()).alias("last_woba"),
            pl.col("lg_u").first(),
        )
        .sort(*keys, "known_on", "game_id")
        .with_columns(
            gidx=pl.int_range(pl.len()).over(keys),
            observed_at=pl.col("observed_at").cum_max().over(keys),
        )
    )
    # Integer keys from here on (joins and sorts on the player id strings are the slow part).
    players = (
        slots.group_by(*keys, "player_id")
        .agg(pl.col("woba_u").first(), pl.len().alias("_starts"))
        # one who never reaches the regulars' count this season cannot be a regular at any point
        .filter(pl.col("_starts") >= REGULAR_MIN_STARTS)
        .sort(*keys, "player_id")  # a fixed order: sums over players are then bit-reproducible
        .with_columns(pidx=pl.int_range(pl.len()).over(keys))
    )
    started = (
        slots.select(*keys, "game_id", "player_id")
        .join(games.select(*keys, "game_id", "gidx"), on=[*keys, "game_id"], how="inner")
        .join(players.select(*keys, "player_id", "pidx"), on=[*keys, "player_id"], how="inner")
        .select(*keys, "gidx", "pidx", pl.lit(1, pl.Int32).alias("started"))
    )
    grid = (
        games.select(*keys, "gidx", "lg_u")
        .join(players.select(*keys, "pidx", "woba_u"), on=keys, how="inner")
        .join(started, on=[*keys, "gidx", "pidx"], how="left")
        .with_columns(pl.col("started").fill_null(0))
        .sort(*keys, "pidx", "gidx")
        # The grid is dense (every player of a team-season has a row for each of its games), so a
        # window of the last n games is a difference of one running sum n rows apart: no
        # per-group rolling windows, which are slow over tens of thousands of small groups.
        .with_columns(_cum=pl.col("started").cum_sum())
        .with_columns(
            _start=pl.when(pl.col("gidx") == 0).then(pl.col("_cum") - pl.col("started")).forward_fill()
        )
        .with_columns(
            recent=pl.col("_cum") - _lagged(REGULAR_WINDOW),
            latest=pl.col("_cum") - _lagged(MISSING_GAMES),
        )
        .with_columns(regular=pl.col("recent") >= REGULAR_MIN_STARTS)
    )
    per_game = grid.group_by(*keys, "gidx").agg(
        (
            pl.col("woba_u").filter(pl.col("regular")).top_k(LINEUP_BATTERS).sum()
            * (1.0 / MICRO)
            / pl.col("woba_u").filter(pl.col("regular")).top_k(LINEUP_BATTERS).len()
        ).alias("regulars_woba"),
        (pl.col("regular") & (pl.col("latest") == 0)).sum().cast(pl.Int16).alias("regulars_missing"),
        (
            (pl.col("woba_u") - pl.col("lg_u")).filter(pl.col("regular") & (pl.col("latest") == 0)).sum()
            * (1.0 / MICRO)
        ).alias("regulars_missing_value"),
    )
    state = games.join(per_game, on=[*keys, "gidx"], how="left").select(
        *keys,
        "observed_at",
        "gidx",
        "regulars_woba",
        "last_woba",
        # A team-season none of whose players can be a regular yet has no grid rows: nobody is
        # missing (0, as when its players are in the grid but none is a regular).
        pl.col("regulars_missing").fill_null(0),
        pl.col("regulars_missing_value").fill_null(0.0),
    )
    return last_per_observation(state.sort(*keys, "gidx").drop("gidx"), keys)


def compute(
    targets: pl.LazyFrame, lineups: pl.LazyFrame, times: pl.LazyFrame, batting: pl.LazyFrame
) -> pl.LazyFrame:
    """Availability features for each target game.

    ``targets``: ``game_id, season, as_of, start_time_utc, start_known, home/away_team_id``;
    ``lineups``: every game's starting lineup (:data:`mlbedge.features.players.LINEUP_SCHEMA`);
    ``times``: :func:`mlbedge.features.players.game_fact_times`. Returns ``game_id``, the features
    and ``src_availability_observed_at``.
    """
    slots, values, league = _valued_slots(lineups, times, batting)
    state = lineup_state(slots)
    columns = ["regulars_woba", "last_woba", "regulars_missing", "regulars_missing_value"]
    # The game's own lineup, observed before first pitch only where the start time is known.
    posted = (
        targets.filter(pl.col("start_known"))
        .select(
            "game_id",
            "as_of",
            (pl.col("start_time_utc") - pl.duration(minutes=LINEUP_POSTED_MINUTES)).alias("posted_at"),
        )
        .filter(pl.col("posted_at") <= pl.col("as_of"))
        .join(
            lineups.filter(pl.col("position") != 1).select("game_id", "side", "batting_order", "player_id"),
            on="game_id",
            how="inner",
        )
        .join(targets.select("game_id", pl.col("season").cast(pl.Int32)), on="game_id", how="inner")
        .join(values, on=["player_id", "season"], how="left")
        .join(league, on="season", how="left")
        .with_columns(woba_u=_micro(pl.coalesce("woba", NEWCOMER_SHARE * pl.col("lg_woba"))))
        .group_by("game_id", "side")
        .agg((pl.col("woba_u").sum() * (1.0 / MICRO) / pl.len()).alias("woba"), pl.col("posted_at").first())
    )  # fmt: skip
    frame = targets.select("game_id")
    for side in ("home", "away"):
        frame = frame.join(
            asof_side(
                targets,
                state,
                f"_{side}",
                {
                    "team_id": pl.col(f"{side}_team_id").cast(pl.Int64),
                    "season": pl.col("season").cast(pl.Int32),
                },
                columns,
                f"_obs_lineups_{side}",
            ),
            on="game_id",
            how="left",
        ).join(
            posted.filter(pl.col("side") == side).select(
                "game_id",
                pl.col("woba").alias(f"_{side}_posted"),
                pl.col("posted_at").alias(f"_obs_posted_{side}"),
            ),
            on="game_id",
            how="left",
        )
    exprs: list[pl.Expr] = []
    for side in ("home", "away"):
        p = f"_{side}_"
        exprs += [
            pl.col(f"{p}regulars_woba").alias(f"{side}_lineup_regulars_woba"),
            pl.col(f"{p}last_woba").alias(f"{side}_lineup_last_woba"),
            (pl.col(f"{p}last_woba") - pl.col(f"{p}regulars_woba")).alias(f"{side}_lineup_last_vs_regulars"),
            pl.col(f"{p}regulars_missing").alias(f"{side}_regulars_missing"),
            pl.col(f"{p}regulars_missing_value").alias(f"{side}_regulars_missing_value"),
            pl.col(f"{p}posted").alias(f"{side}_posted_lineup_woba"),
            (pl.col(f"{p}posted") - pl.col(f"{p}regulars_woba")).alias(f"{side}_posted_vs_regulars"),
        ]
    frame = (
        frame.with_columns(exprs)
        .with_columns(
            lineup_regulars_woba_diff=pl.col("home_lineup_regulars_woba")
            - pl.col("away_lineup_regulars_woba"),
            lineup_last_woba_diff=pl.col("home_lineup_last_woba") - pl.col("away_lineup_last_woba"),
            regulars_missing_value_diff=pl.col("home_regulars_missing_value")
            - pl.col("away_regulars_missing_value"),
        )
        .with_columns(src_availability_observed_at=pl.max_horizontal(pl.col("^_obs_.*$")))
    )
    return frame.select(
        "game_id", *[pl.col(f.name).cast(f.polars_dtype) for f in FEATURES], "src_availability_observed_at"
    )
