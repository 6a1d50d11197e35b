"""Team family: form from earlier results, as of the cutoff.

Shape of the computation: one row per team per game with a result (``team_games``), cumulative
and rolling sums per team and season in game order, reduced to one state row per team per
observation time (a day's last game), and joined onto each game with ``join_asof`` on
``observed_at <= as_of`` by team and season. A game's own result is observed at the end of its
local date, so it never reaches its own features, nor those of any game that day.

Rolling windows count the team's last N games of the same season; early in a season a window
holds the games there are (a team's first game of the season has no state: null, not zero).
Elo carries across seasons (regressed toward the mean between them).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from mlbedge.features.asof import TIMESTAMP
from mlbedge.features.spec import Family, Feature, side_features

WINDOWS: tuple[int, ...] = (5, 10, 20, 30)
PYTHAG_EXPONENT = 1.83  # the usual baseball exponent for runs

# Elo: ratings around 1500; K and the home edge on the scale that fits baseball's small edges.
ELO_MEAN = 1500.0
ELO_K = 4.0
ELO_HOME_ADVANTAGE = 24.0
ELO_CARRY = 2.0 / 3.0  # share of a rating's distance from the mean kept into the next season

_RESULTS = ("results",)
_T = Family.TEAM


def _window_label(window: int | None) -> str:
    return "season" if window is None else f"l{window}"


def _window_text(window: int | None) -> str:
    return "this season to date" if window is None else f"over its last {window} games this season"


def _declare() -> tuple[Feature, ...]:
    features: list[Feature] = []
    for window in (*WINDOWS, None):
        label, text = _window_label(window), _window_text(window)
        features += side_features(
            f"{{side}}_win_pct_{label}",
            _T,
            "float64",
            f"Share of decided games {{team}} won {text}.",
            _RESULTS,
        )
        features += side_features(
            f"{{side}}_runs_scored_pg_{label}",
            _T,
            "float64",
            f"Runs per game {{team}} scored {text}.",
            _RESULTS,
        )
        features += side_features(
            f"{{side}}_runs_allowed_pg_{label}",
            _T,
            "float64",
            f"Runs per game {{team}} allowed {text}.",
            _RESULTS,
        )
        features += side_features(
            f"{{side}}_run_diff_pg_{label}",
            _T,
            "float64",
            f"Run differential per game of {{team}} {text}.",
            _RESULTS,
        )
        features += side_features(
            f"{{side}}_pythag_{label}",
            _T,
            "float64",
            f"Pythagorean win expectation RS^{PYTHAG_EXPONENT}/(RS^{PYTHAG_EXPONENT}+RA^{PYTHAG_EXPONENT}) "
            f"of {{team}} {text}.",
            _RESULTS,
        )
    features += side_features(
        "{side}_games_season",
        _T,
        "int16",
        "Games with a result {team} has played this season before the cutoff (0 before its first).",
        _RESULTS,
        nullable=False,
    )
    features += side_features(
        "{side}_venue_win_pct_season",
        _T,
        "float64",
        "Win share of {team} this season in games at the same venue side as this one "
        "(home games for the home team, road games for the away team).",
        _RESULTS,
    )
    features += side_features(
        "{side}_venue_run_diff_pg_season",
        _T,
        "float64",
        "Run differential per game of {team} this season at the same venue side as this one.",
        _RESULTS,
    )
    features += side_features(
        "{side}_venue_games_season",
        _T,
        "int16",
        "Games {team} has played this season at the same venue side as this one.",
        _RESULTS,
        nullable=False,
    )
    features += side_features(
        "{side}_one_run_games_season",
        _T,
        "int16",
        "One-run games {team} has played this season.",
        _RESULTS,
        nullable=False,
    )
    features += side_features(
        "{side}_one_run_win_pct_season",
        _T,
        "float64",
        "Share of its one-run games {team} won this season.",
        _RESULTS,
    )
    features += side_features(
        "{side}_streak",
        _T,
        "int16",
        "Current streak of {team} this season: +n after n straight wins, -n after n straight losses, "
        "0 before its first result or after a tie.",
        _RESULTS,
        nullable=False,
    )
    features += side_features(
        "{side}_elo",
        _T,
        "float64",
        f"Elo rating of {{team}} (mean {ELO_MEAN:.0f}, K {ELO_K:g}, margin-weighted, "
        f"home edge {ELO_HOME_ADVANTAGE:g}, {ELO_CARRY:.2f} of the distance from the mean kept "
        "between seasons; a team without history starts at the mean).",
        _RESULTS,
        nullable=False,
    )
    features += [
        Feature(
            "elo_diff",
            _T,
            "float64",
            f"Home Elo + home edge ({ELO_HOME_ADVANTAGE:g}) - away Elo.",
            _RESULTS,
            nullable=False,
        ),
        Feature(
            "elo_home_win_prob",
            _T,
            "float64",
            "Home win probability implied by the Elo difference: 1 / (1 + 10^(-elo_diff/400)).",
            _RESULTS,
            nullable=False,
        ),
        Feature(
            "h2h_games_season",
            _T,
            "int16",
            "Games between these two teams this season before the cutoff.",
            _RESULTS,
            nullable=False,
        ),
        Feature(
            "h2h_home_win_pct_season",
            _T,
            "float64",
            "Share of this season's decided games between the two teams that the home team won.",
            _RESULTS,
        ),
        Feature(
            "h2h_home_run_diff_pg_season",
            _T,
            "float64",
            "Home team's run differential per game against this opponent this season.",
            _RESULTS,
        ),
        Feature(
            "diff_win_pct_season",
            _T,
            "float64",
            "home_win_pct_season - away_win_pct_season.",
            _RESULTS,
        ),
        Feature(
            "diff_win_pct_l10",
            _T,
            "float64",
            "home_win_pct_l10 - away_win_pct_l10.",
            _RESULTS,
        ),
        Feature(
            "diff_pythag_season",
            _T,
            "float64",
            "home_pythag_season - away_pythag_season.",
            _RESULTS,
        ),
        Feature(
            "diff_run_diff_pg_season",
            _T,
            "float64",
            "home_run_diff_pg_season - away_run_diff_pg_season.",
            _RESULTS,
        ),
    ]
    return tuple(features)


FEATURES: tuple[Feature, ...] = _declare()

# ----------------------------------------------------------------------------------------------
# per-team game log


def team_games(schedule: pl.LazyFrame, results: pl.LazyFrame) -> pl.LazyFrame:
    """One row per team per game with a result: runs for/against, outcome, when it was observed.

    ``schedule``: ``game_id, season, date, game_num, home_team_id, away_team_id`` (+ optional
    ``home_starter_key, away_starter_key, home_starter_hand, away_starter_hand``); ``results``:
    ``game_id, home_score, away_score, observed_at`` (+ optional ``result_date``). A game without
    both scores is no result.

    ``date`` in the log is the date the result became known (a suspended game's completion date,
    else the game's own): states are accumulated in that order, so a suspended game counts from its
    completion on, never from its first date. ``played_on`` is the date the game began.
    """
    names = schedule.collect_schema().names()
    played = schedule.join(results, on="game_id", how="inner").filter(
        pl.col("home_score").is_not_null() & pl.col("away_score").is_not_null()
    )
    if "result_date" in results.collect_schema().names():
        played = played.with_columns(
            played_on=pl.col("date"), date=pl.coalesce(pl.col("result_date"), pl.col("date"))
        )
    else:
        played = played.with_columns(played_on=pl.col("date"))
    optional = [c for c in ("starter_key", "starter_hand") if f"home_{c}" in names]

    def side(us: str, them: str) -> pl.LazyFrame:
        return played.select(
            "game_id",
            "season",
            "date",
            "played_on",
            "game_num",
            "observed_at",
            pl.col(f"{us}_team_id").cast(pl.Int64).alias("team_id"),
            pl.col(f"{them}_team_id").cast(pl.Int64).alias("opp_id"),
            pl.lit(us == "home").alias("is_home"),
            pl.col(f"{us}_score").cast(pl.Float64).alias("rf"),
            pl.col(f"{them}_score").cast(pl.Float64).alias("ra"),
            *[pl.col(f"{us}_{c}").alias(c) for c in optional],
            *[pl.col(f"{them}_{c}").alias(f"opp_{c}") for c in optional],
        )

    return pl.concat([side("home", "away"), side("away", "home")]).with_columns(
        win=(pl.col("rf") > pl.col("ra")).cast(pl.Float64),
        decided=(pl.col("rf") != pl.col("ra")).cast(pl.Float64),
        one_run=((pl.col("rf") - pl.col("ra")).abs() == 1).cast(pl.Float64),
        outcome=(pl.col("rf") - pl.col("ra")).sign().cast(pl.Int16),
    )


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null (never NaN or inf) when the denominator is 0 or null."""
    return pl.when(denominator > 0).then(numerator / denominator).otherwise(None)


def _pythag(rf: pl.Expr, ra: pl.Expr) -> pl.Expr:
    scored = rf.pow(PYTHAG_EXPONENT)
    return _ratio(scored, scored + ra.pow(PYTHAG_EXPONENT))


def _window_stats(log: pl.LazyFrame, keys: list[str], windows: tuple[int | None, ...]) -> pl.LazyFrame:
    """Sums over the last N games (or the season) per ``keys``, as of each result, in the order the
    results are observed.

    ``observed_at`` becomes the latest observation time of any result summed so far (a state is
    known only once all of it is); observation order keeps it equal to the newest result's time.
    """
    # Accumulated in the order results are OBSERVED (then by date): a state at any moment holds
    # exactly the results observed by then -- a suspended game completed in another zone, or a
    # same-day result further west, joins the state only once it is known.
    ordered = log.sort([*keys, "observed_at", "date", "game_num", "game_id"])
    sums = [pl.col("observed_at").cum_max().over(keys).alias("observed_at")]
    for window in windows:
        label = _window_label(window)
        for column in ("win", "decided", "rf", "ra"):
            expr = (
                pl.col(column).cum_sum()
                if window is None
                else pl.col(column).rolling_sum(window, min_samples=1)
            )
            sums.append(expr.over(keys).alias(f"_{column}_{label}"))
        count = (
            pl.int_range(1, pl.len() + 1) if window is None else pl.int_range(1, pl.len() + 1).clip(0, window)
        )
        sums.append(count.over(keys).cast(pl.Float64).alias(f"_n_{label}"))
    return ordered.with_columns(sums)


def _stat_exprs(label: str) -> list[pl.Expr]:
    n, win, dec = pl.col(f"_n_{label}"), pl.col(f"_win_{label}"), pl.col(f"_decided_{label}")
    rf, ra = pl.col(f"_rf_{label}"), pl.col(f"_ra_{label}")
    return [
        _ratio(win, dec).alias(f"win_pct_{label}"),
        _ratio(rf, n).alias(f"runs_scored_pg_{label}"),
        _ratio(ra, n).alias(f"runs_allowed_pg_{label}"),
        _ratio(rf - ra, n).alias(f"run_diff_pg_{label}"),
        _pythag(rf, ra).alias(f"pythag_{label}"),
    ]


def _last_per_observation(state: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """One state row per key and observation time: the last game of the day wins (doubleheaders)."""
    return state.unique(subset=[*keys, "observed_at"], keep="last", maintain_order=True).sort("observed_at")


def form_state(log: pl.LazyFrame) -> pl.LazyFrame:
    """Per team and season, after each observation time: every window stat, one-run record, streak."""
    keys = ["team_id", "season"]
    windowed = _window_stats(log, keys, (*WINDOWS, None))
    streak_run = (pl.col("outcome") != pl.col("outcome").shift(1)).fill_null(True).cum_sum().over(keys)
    windowed = windowed.with_columns(_run=streak_run).with_columns(
        streak=(pl.int_range(1, pl.len() + 1).over([*keys, "_run"]) * pl.col("outcome")).cast(pl.Int16),
        _one_run_games=pl.col("one_run").cum_sum().over(keys),
        _one_run_wins=(pl.col("one_run") * pl.col("win")).cum_sum().over(keys),
    )
    stats = [e for w in (*WINDOWS, None) for e in _stat_exprs(_window_label(w))]
    state = windowed.select(
        *keys,
        "observed_at",
        *stats,
        pl.col("_n_season").cast(pl.Int16).alias("games_season"),
        pl.col("_one_run_games").cast(pl.Int16).alias("one_run_games_season"),
        _ratio(pl.col("_one_run_wins"), pl.col("_one_run_games")).alias("one_run_win_pct_season"),
        "streak",
    )
    return _last_per_observation(state, keys)


def venue_state(log: pl.LazyFrame) -> pl.LazyFrame:
    """Per team, season and venue side (home/road): season win share, run differential, games."""
    keys = ["team_id", "season", "is_home"]
    windowed = _window_stats(log, keys, (None,))
    state = windowed.select(
        *keys,
        "observed_at",
        _ratio(pl.col("_win_season"), pl.col("_decided_season")).alias("venue_win_pct_season"),
        _ratio(pl.col("_rf_season") - pl.col("_ra_season"), pl.col("_n_season")).alias(
            "venue_run_diff_pg_season"
        ),
        pl.col("_n_season").cast(pl.Int16).alias("venue_games_season"),
    )
    return _last_per_observation(state, keys)


def h2h_state(log: pl.LazyFrame) -> pl.LazyFrame:
    """Per team, opponent and season: games, win share and run differential against that opponent."""
    keys = ["team_id", "opp_id", "season"]
    windowed = _window_stats(log, keys, (None,))
    state = windowed.select(
        *keys,
        "observed_at",
        pl.col("_n_season").cast(pl.Int16).alias("h2h_games_season"),
        _ratio(pl.col("_win_season"), pl.col("_decided_season")).alias("h2h_win_pct_season"),
        _ratio(pl.col("_rf_season") - pl.col("_ra_season"), pl.col("_n_season")).alias(
            "h2h_run_diff_pg_season"
        ),
    )
    return _last_per_observation(state, keys)


def elo_state(schedule: pl.LazyFrame, results: pl.LazyFrame) -> pl.DataFrame:
    """Each team's Elo rating after each day it played, with when that rating is observed.

    Ratings move in daily rounds: every game of a day is rated from the ratings at the start of
    that day, and a team's rating after the day is observed when its own result is (end of its
    local date). A suspended game is rated on the day it was completed (``result_date`` in
    ``results``), when its result is observed. That rating also reflects opponents' ratings, which hold only results from
    earlier days (observed at the latest by western midnight, hours before any later midnight),
    so nothing in it is observed later than the team's own result.

    The loop is over days (about 180 a season), each a vectorised update of that day's games.
    """
    has_result_date = "result_date" in results.collect_schema().names()
    games = (
        schedule.join(results, on="game_id", how="inner")
        .filter(pl.col("home_score").is_not_null() & pl.col("away_score").is_not_null())
        .select(
            "game_id",
            "season",
            pl.coalesce("result_date", "date").alias("date") if has_result_date else pl.col("date"),
            "game_num",
            "observed_at",
            pl.col("home_team_id").cast(pl.Int64),
            pl.col("away_team_id").cast(pl.Int64),
            pl.col("home_score").cast(pl.Float64),
            pl.col("away_score").cast(pl.Float64),
        )
        .sort("date", "game_num", "home_team_id", "game_id")
        .collect()
    )
    empty = pl.DataFrame(
        schema={"team_id": pl.Int64, "season": pl.Int32, "observed_at": TIMESTAMP, "elo": pl.Float64}
    )
    if games.is_empty():
        return empty
    teams, team_index = np.unique(
        np.concatenate([games["home_team_id"].to_numpy(), games["away_team_id"].to_numpy()]),
        return_inverse=True,
    )
    n = games.height
    home, away = team_index[:n], team_index[n:]
    margin = games["home_score"].to_numpy() - games["away_score"].to_numpy()
    seasons = games["season"].to_numpy()
    days = games["date"].cast(pl.Int32).to_numpy()
    starts = np.flatnonzero(np.r_[True, days[1:] != days[:-1]])
    ends = np.r_[starts[1:], n]

    ratings = np.full(len(teams), ELO_MEAN)
    post_home, post_away = np.empty(n), np.empty(n)
    home_result = (margin > 0) + 0.5 * (margin == 0)
    current_season = seasons[0]
    for start, end in zip(starts, ends, strict=True):
        if seasons[start] != current_season:
            ratings = ELO_MEAN + (ratings - ELO_MEAN) * ELO_CARRY
            current_season = seasons[start]
        h, a = home[start:end], away[start:end]
        diff = ratings[h] + ELO_HOME_ADVANTAGE - ratings[a]
        expected = 1.0 / (1.0 + 10.0 ** (-diff / 400.0))
        day_margin = margin[start:end]
        winner_diff = np.where(day_margin > 0, diff, -diff)
        # A blowout says more than a one-run game, less so when the favourite won it (autocorrelation).
        multiplier = np.log(np.abs(day_margin) + 1.0) * 2.2 / (winner_diff * 0.001 + 2.2)
        delta = ELO_K * multiplier * (home_result[start:end] - expected)
        np.add.at(ratings, h, delta)
        np.add.at(ratings, a, -delta)
        post_home[start:end] = ratings[h]
        post_away[start:end] = ratings[a]

    state = pl.concat(
        [
            games.select("season", "date", "observed_at", team_id="home_team_id", elo=pl.Series(post_home)),
            games.select("season", "date", "observed_at", team_id="away_team_id", elo=pl.Series(post_away)),
        ]
    ).select(
        pl.col("team_id"),
        pl.col("season").cast(pl.Int32),
        # The rating after a day holds all of the team's results that day: known when the last is.
        pl.col("observed_at").max().over("team_id", "date"),
        "elo",
    )
    return state.unique(subset=["team_id", "observed_at"], keep="last", maintain_order=True).sort(
        "observed_at"
    )


# ----------------------------------------------------------------------------------------------
# onto games


def asof_side(
    targets: pl.LazyFrame,
    state: pl.LazyFrame,
    side: str,
    left_keys: dict[str, pl.Expr],
    columns: list[str],
    observed_alias: str,
) -> pl.LazyFrame:
    """As-of join of ``state`` onto each target game for one side: the last state row observed
    at or before the game's ``as_of``, matched on ``left_keys`` (state column name -> target expr).

    Columns come out as ``{side}_{column}`` (no prefix when ``side`` is empty), plus the state's
    observation time as ``observed_alias``.
    """
    left = targets.select("game_id", "as_of", *[expr.alias(name) for name, expr in left_keys.items()]).sort(
        "as_of"
    )
    joined = left.join_asof(
        state.select(*left_keys, "observed_at", *columns),
        left_on="as_of",
        right_on="observed_at",
        by=list(left_keys),
        strategy="backward",
        check_sortedness=False,  # both sides are sorted on the time just above
    )
    prefix = f"{side}_" if side else ""
    return joined.select(
        "game_id",
        *[pl.col(c).alias(f"{prefix}{c}") for c in columns],
        pl.col("observed_at").alias(observed_alias),
    )


def compute(targets: pl.LazyFrame, log: pl.LazyFrame, elo: pl.LazyFrame) -> pl.LazyFrame:
    """Team features for each target game (``game_id, season, home_team_id, away_team_id, as_of``).

    ``log`` is :func:`team_games` of (at least) the targets' seasons: every state but Elo is kept
    per season. ``elo`` is :func:`elo_state` of all history. Returns ``game_id``, every team
    feature, and ``src_team_observed_at`` (the latest observation time of any result behind it).
    """
    form = form_state(log)
    venue = venue_state(log)
    h2h = h2h_state(log)
    season = pl.col("season").cast(pl.Int32)
    form_columns = [c for c in form.collect_schema().names() if c not in ("team_id", "season", "observed_at")]
    venue_columns = ["venue_win_pct_season", "venue_run_diff_pg_season", "venue_games_season"]

    parts = []
    for side, is_home in (("home", True), ("away", False)):
        team = pl.col(f"{side}_team_id").cast(pl.Int64)
        parts.append(
            asof_side(
                targets, form, side, {"team_id": team, "season": season}, form_columns, f"_obs_form_{side}"
            )
        )
        parts.append(
            asof_side(
                targets,
                venue,
                side,
                {"team_id": team, "season": season, "is_home": pl.lit(is_home)},
                venue_columns,
                f"_obs_venue_{side}",
            )
        )
        parts.append(
            asof_side(
                targets,
                elo.rename({"season": "elo_season"}),
                side,
                {"team_id": team},
                ["elo", "elo_season"],
                f"_obs_elo_{side}",
            )
        )
    parts.append(
        asof_side(
            targets,
            h2h,
            "",
            {
                "team_id": pl.col("home_team_id").cast(pl.Int64),
                "opp_id": pl.col("away_team_id").cast(pl.Int64),
                "season": season,
            },
            ["h2h_games_season", "h2h_win_pct_season", "h2h_run_diff_pg_season"],
            "_obs_h2h",
        )
    )
    frame = targets.select("game_id", season.alias("_season"))
    for part in parts:
        frame = frame.join(part, on="game_id", how="left")

    def elo(side: str) -> pl.Expr:
        rating = pl.col(f"{side}_elo")
        regressed = ELO_MEAN + (rating - ELO_MEAN) * ELO_CARRY
        return (
            pl.when(rating.is_null())
            .then(ELO_MEAN)
            .when(pl.col(f"{side}_elo_season") < pl.col("_season"))
            .then(regressed)
            .otherwise(rating)
        )

    counts = [
        f"{side}_{c}"
        for side in ("home", "away")
        for c in ("games_season", "venue_games_season", "one_run_games_season", "streak")
    ]
    frame = frame.with_columns(
        *[pl.col(c).fill_null(0).cast(pl.Int16) for c in counts],
        home_elo=elo("home"),
        away_elo=elo("away"),
        h2h_games_season=pl.col("h2h_games_season").fill_null(0).cast(pl.Int16),
        h2h_home_win_pct_season=pl.col("h2h_win_pct_season"),
        h2h_home_run_diff_pg_season=pl.col("h2h_run_diff_pg_season"),
    ).with_columns(elo_diff=pl.col("home_elo") + ELO_HOME_ADVANTAGE - pl.col("away_elo"))
    frame = frame.with_columns(
        # 10^(-d/400) written as exp(): Polars' literal-base pow is not bit-stable across batch sizes,
        # and a game's features must not depend on how many games are built with it.
        elo_home_win_prob=1.0 / (1.0 + (pl.col("elo_diff") * (-math.log(10.0) / 400.0)).exp()),
        diff_win_pct_season=pl.col("home_win_pct_season") - pl.col("away_win_pct_season"),
        diff_win_pct_l10=pl.col("home_win_pct_l10") - pl.col("away_win_pct_l10"),
        diff_pythag_season=pl.col("home_pythag_season") - pl.col("away_pythag_season"),
        diff_run_diff_pg_season=pl.col("home_run_diff_pg_season") - pl.col("away_run_diff_pg_season"),
        src_team_observed_at=pl.max_horizontal(pl.col("^_obs_.*$")),
    )
    return frame.select(
        "game_id", *[pl.col(f.name).cast(f.polars_dtype) for f in FEATURES], "src_team_observed_at"
    )
