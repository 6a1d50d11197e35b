"""Helpers of the leakage tests: change or delete every fact observed after a moment, compare rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import numpy as np
import polars as pl

from mlbedge.features.pipeline import FeatureInputs
from mlbedge.features.players import PlayerInputs
from tests.features.oracle import observation_times

CLOSING = ["home_ml_close", "away_ml_close", "total_close", "over_odds_close", "under_odds_close"]
SBRO_RUN_LINE = ["home_rl", "home_rl_odds", "away_rl_odds"]


def _random_prices(rng: np.random.Generator, n: int) -> pl.Series:
    sign = rng.choice([-1, 1], n)
    return pl.Series(sign * rng.integers(101, 400, n), dtype=pl.Int64)


def poison_labels(games: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Every closing line and SBRO run-line value replaced by a random one (some deleted)."""
    n = games.height
    keep_null = rng.random(n) < 0.2
    return games.with_columns(
        *[
            pl.when(pl.Series(keep_null)).then(None).otherwise(_random_prices(rng, n)).alias(c)
            for c in (
                "home_ml_close",
                "away_ml_close",
                "over_odds_close",
                "under_odds_close",
                "home_rl_odds",
                "away_rl_odds",
            )
        ],
        total_close=pl.Series(rng.choice([6.5, 7.0, 9.5, 12.0], n)),
        home_rl=pl.Series(rng.choice([-1.5, 1.5, -2.5], n)),
    )


def alter_after(
    inputs: FeatureInputs,
    cut: datetime,
    game_date: date,
    seed: int,
    *,
    delete_share: float,
    drop_later_games: bool,
    inject: bool,
    cutoff_minutes: int,
) -> FeatureInputs:
    """``inputs`` with every fact observed after ``cut`` randomly changed or deleted.

    - results (scores) observed after ``cut``: random scores, or deleted (``delete_share``);
    - SBRO opening lines observed after ``cut`` (later local days): random, or deleted;
    - closing lines and the SBRO run line of EVERY game: random (they are labels, never features);
    - games on dates after ``game_date``: removed entirely when ``drop_later_games``;
    - Pinnacle lines, live quotes and live splits observed after ``cut``: prices and percentages
      changed, some rows deleted, and with ``inject`` new rows added after ``cut``;
    - player-level facts observed after ``cut`` (:func:`alter_players_after`).
    """
    rng = np.random.default_rng(seed)
    games = inputs.games
    # "Later" is decided by the independent clock, never by the pipeline's own.
    clock = observation_times(games, cutoff_minutes).select("game_id", "result_observed_at", "day_start")
    g = games.join(clock, on="game_id", how="left", maintain_order="left")
    n = g.height
    late_result = pl.col("result_observed_at") > cut
    late_open = pl.col("day_start") > cut
    delete = pl.Series(rng.random(n) < delete_share)
    g = g.with_columns(
        home_score=pl.when(late_result)
        .then(pl.when(delete).then(None).otherwise(pl.Series(rng.integers(0, 20, n))))
        .otherwise(pl.col("home_score")),
        away_score=pl.when(late_result)
        .then(pl.when(delete).then(None).otherwise(pl.Series(rng.integers(0, 20, n))))
        .otherwise(pl.col("away_score")),
        **{
            c: pl.when(late_open)
            .then(pl.when(delete).then(None).otherwise(_random_prices(rng, n)))
            .otherwise(pl.col(c))
            for c in ("home_ml_open", "away_ml_open", "over_odds_open", "under_odds_open")
        },
        total_open=pl.when(late_open)
        .then(pl.Series(rng.choice([6.5, 8.0, 11.5], n)))
        .otherwise(pl.col("total_open")),
    )
    g = poison_labels(g, rng)
    if drop_later_games:
        g = g.filter(pl.col("date") <= game_date)
    altered = replace(inputs, games=g.drop("result_observed_at", "day_start"))

    def after(frame: pl.DataFrame | None, change: dict[str, pl.Expr]) -> pl.DataFrame | None:
        if frame is None or frame.is_empty():
            return frame
        late = pl.col("observed_at") > cut
        m = frame.height
        dropped = pl.Series(rng.random(m) < delete_share)
        out = frame.filter(~(late & dropped)).with_columns(
            pl.when(late).then(expr).otherwise(pl.col(name)).alias(name) for name, expr in change.items()
        )
        if inject:
            sample = frame.sample(n=min(200, m), seed=seed % 2**32)
            shifted = sample.with_columns(
                observed_at=pl.lit(cut)
                + pl.duration(seconds=pl.Series(rng.integers(1, 86_400, sample.height)))
            ).with_columns(expr.alias(name) for name, expr in change.items())
            out = pl.concat([out, shifted.select(out.columns)], how="vertical_relaxed")
        return out

    def scaled(column: str) -> pl.Expr:
        return (pl.col(column) * 1.37 + 17).round().cast(pl.Int64)

    altered = replace(
        altered,
        pinnacle_lines=after(
            inputs.pinnacle_lines,
            {
                c: scaled(c)
                for c in ("home_ml", "away_ml", "over_odds", "under_odds", "home_rl_odds", "away_rl_odds")
            },
        ),
        quotes=after(inputs.quotes, {"price": scaled("price")}),
        splits=after(
            inputs.splits,
            {"bets_pct": 100.0 - pl.col("bets_pct"), "money_pct": (pl.col("money_pct") * 0.5).round(1)},
        ),
        players=alter_players_after(inputs, cut, rng, delete_share=delete_share),
    )
    return altered


def as_of(frame: pl.DataFrame, game_id: str) -> datetime:
    """The cutoff of one game in a built frame."""
    return frame.filter(pl.col("game_id") == game_id)["as_of"].item()


def assert_same_rows(got: pl.DataFrame, expected: pl.DataFrame, what: str) -> None:
    """Bit-identical rows (same dtypes, nulls in the same places, floats equal to the last bit)."""
    assert got.columns == expected.columns, what
    assert got.height == expected.height, f"{what}: {got.height} rows, expected {expected.height}"
    if got.equals(expected):
        return
    differing = [c for c in got.columns if not got.select(c).equals(expected.select(c))]
    sample = got.select("game_id", *differing[:5]).head(3).to_dicts()
    expected_sample = expected.select("game_id", *differing[:5]).head(3).to_dicts()
    raise AssertionError(
        f"{what}: columns differ {differing}\n got      {sample}\n expected {expected_sample}"
    )


# ----------------------------------------------------------------------------------------------
# player-level facts (lineups, starters, season rows, team-game rows)


def player_fact_times(games: pl.DataFrame) -> pl.DataFrame:
    """Per game, from the time rules of docs/features.md (through the independent oracle):

    - ``result_at``: its post-game facts (team-game rows, the lineup used, the actual starter),
      observed with its result (a suspended game's: at the end of its completion date);
    - ``listed_at``: its listed starters (pre-game: the start of its local date);
    - ``lineup_at``: its own lineup: first pitch - 120 minutes where the start is known, else
      with its result.
    """
    times = observation_times(games, 0)
    starts = games.select("game_id", pl.col("start_time_utc").cast(pl.Datetime("us", "UTC")))
    return times.join(starts, on="game_id", how="left").select(
        "game_id",
        pl.col("result_observed_at").alias("result_at"),
        pl.col("day_start").alias("listed_at"),
        lineup_at=pl.when(pl.col("start_time_utc").is_not_null())
        .then(pl.col("start_time_utc") - pl.duration(minutes=120))
        .otherwise(pl.col("result_observed_at")),
    )


def alter_players_after(
    inputs: FeatureInputs, cut: datetime, rng: np.random.Generator, *, delete_share: float
) -> PlayerInputs | None:
    """``inputs.players`` with every player-level fact observed after ``cut`` changed or deleted.

    - team-game rows and actual starters of games whose result is observed after ``cut``;
    - lineups of games whose lineup is observed after ``cut`` (a game's own lineup where its start
      is unknown: at the end of its date; where it is known: 120 minutes before first pitch);
    - listed starters of games on later local dates;
    - Lahman batting/pitching and platoon rows of seasons observed after ``cut`` (Y+1-01-01 UTC).
    """
    p = inputs.players
    if p is None:
        return None
    times = player_fact_times(inputs.games)
    late = times.filter(pl.col("result_at") > cut)["game_id"]
    late_lineup = times.filter(pl.col("lineup_at") > cut)["game_id"]
    late_listed = times.filter(pl.col("listed_at") > cut)["game_id"]

    def scramble(
        frame: pl.DataFrame | None, rows: pl.Expr, columns: dict[str, pl.Expr]
    ) -> pl.DataFrame | None:
        if frame is None or frame.is_empty():
            return frame
        n = frame.height
        flagged = frame.with_columns(_late=rows, _drop=pl.Series(rng.random(n) < delete_share))
        changed = flagged.with_columns(
            pl.when(pl.col("_late")).then(expr).otherwise(pl.col(name)).alias(name)
            for name, expr in columns.items()
        )
        return changed.filter(~(pl.col("_late") & pl.col("_drop"))).drop("_late", "_drop")

    def ints(n: int, high: int) -> pl.Series:
        return pl.Series(rng.integers(0, high, n), dtype=pl.Int64)

    pool: list[str] = []
    if p.lineups is not None and not p.lineups.is_empty():
        pool = p.lineups["player_id"].unique().sort().to_list()

    def other_players(n: int) -> pl.Series:
        return pl.Series(rng.choice(pool, n) if pool else [None] * n, dtype=pl.String)

    season_late = pl.datetime(pl.col("season") + 1, 1, 1, time_zone="UTC") > cut

    team_games = p.team_games
    if team_games is not None and not team_games.is_empty():
        n = team_games.height
        team_games = scramble(
            team_games,
            pl.col("game_id").is_in(late.implode()),
            {c: ints(n, 9 if c in ("pitchers_used", "inherited_runners", "inherited_scored") else 200)
             for c in ("pitchers_used", "pitches", "inherited_runners", "inherited_scored", "batters_faced",
                       "strikeouts", "walks", "runs_allowed")},
        )  # fmt: skip
    lineups = p.lineups
    if lineups is not None and not lineups.is_empty():
        n = lineups.height
        lineups = scramble(
            lineups,
            pl.col("game_id").is_in(late_lineup.implode()),
            {"player_id": other_players(n), "position": pl.Series(rng.integers(1, 11, n), dtype=pl.Int16)},
        )
    game_facts = p.game_facts
    if game_facts is not None and not game_facts.is_empty():
        n = game_facts.height
        game_facts = game_facts.with_columns(
            *[
                pl.when(pl.col("game_id").is_in(late.implode()))
                .then(other_players(n))
                .otherwise(pl.col(c))
                .alias(c)
                for c in ("home_starter_id", "away_starter_id")
            ],
            *[
                pl.when(pl.col("game_id").is_in(late_listed.implode()))
                .then(other_players(n))
                .otherwise(pl.col(c))
                .alias(c)
                for c in ("home_listed_starter_id", "away_listed_starter_id")
            ],
        )

    def seasons(frame: pl.DataFrame | None, columns: tuple[str, ...]) -> pl.DataFrame | None:
        if frame is None or frame.is_empty():
            return frame
        return scramble(frame, season_late, {c: ints(frame.height, 600) for c in columns})

    return replace(
        p,
        game_facts=game_facts,
        lineups=lineups,
        team_games=team_games,
        pitching=seasons(p.pitching, ("g", "gs", "ip_outs", "bf", "so", "bb", "hbp", "hr", "er")),
        batting=seasons(p.batting, ("ab", "h", "x2b", "x3b", "hr", "bb", "hbp", "sf")),
        platoon=seasons(p.platoon, ("pa", "h", "x2b", "x3b", "hr", "bb", "hbp", "so")),
    )
