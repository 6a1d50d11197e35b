"""The poison the backtest leakage tests pour in after each game's moment of decision.

Shared by the outcome strategy's test (decided at the cutoff) and the close strategy's (decided at
the open): every SBRO closing line and run line scrambled, results from a date on replaced, every
Pinnacle snapshot after the game's moment re-priced, and an absurd one injected a second after it.
Written without the product's clock: the caller says when each game's moment is.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl


def poison_games(window: pl.DataFrame, rng: np.random.Generator, late_from: date) -> pl.DataFrame:
    """``window``'s games with every closing line and SBRO run line scrambled and every result from
    ``late_from`` on replaced."""
    n = window.height
    late = pl.col("date") >= late_from
    return window.with_columns(
        home_ml_close=pl.Series(rng.choice([-250, -120, 110, 240], n)),
        away_ml_close=pl.Series(rng.choice([-230, -105, 115, 210], n)),
        total_close=pl.Series(rng.choice([6.5, 7.0, 11.5], n)),
        over_odds_close=pl.Series(rng.choice([-140, 120], n)),
        under_odds_close=pl.Series(rng.choice([-140, 120], n)),
        home_rl=pl.Series(rng.choice([-1.5, 1.5], n)),
        home_rl_odds=pl.Series(rng.choice([-200, 170], n)),
        away_rl_odds=pl.Series(rng.choice([-190, 160], n)),
        home_score=pl.when(late).then(pl.Series(rng.integers(0, 15, n))).otherwise(pl.col("home_score")),
        away_score=pl.when(late).then(pl.Series(rng.integers(0, 15, n))).otherwise(pl.col("away_score")),
    )


def poison_lines(lines: pl.DataFrame, cuts: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Pinnacle ``lines`` with every snapshot after its game's moment (``cuts``: ``pin_game_no``,
    ``cut``) re-priced, and a new absurd snapshot one second after each moment."""
    joined = lines.join(cuts, on="pin_game_no", how="left")
    after = pl.col("cut").is_not_null() & (pl.col("observed_at") > pl.col("cut"))
    m = joined.height
    joined = joined.with_columns(
        home_ml=pl.when(after).then(pl.Series(rng.choice([-300, 250], m))).otherwise(pl.col("home_ml")),
        away_ml=pl.when(after).then(pl.Series(rng.choice([260, -280], m))).otherwise(pl.col("away_ml")),
        total=pl.when(after).then(pl.lit(12.5)).otherwise(pl.col("total")),
        away_rl_odds=pl.when(after).then(pl.lit(-300)).otherwise(pl.col("away_rl_odds")),
    ).drop("cut")
    extra = (
        cuts.with_columns(observed_at=pl.col("cut") + pl.duration(seconds=1))
        .join(lines.group_by("pin_game_no").agg(pl.all().last()), on="pin_game_no", how="inner")
        .with_columns(home_ml=pl.lit(-400), away_ml=pl.lit(320), total=pl.lit(3.5))
    )
    return pl.concat([joined, extra.select(joined.columns)], how="vertical_relaxed")


def with_scores(all_games: pl.DataFrame, games: pl.DataFrame) -> pl.DataFrame:
    """``all_games`` with the (poisoned) scores of ``games`` where it has them."""
    return (
        all_games.join(games.select("game_id", "home_score", "away_score"), on="game_id", how="left")
        .with_columns(
            home_score=pl.coalesce("home_score_right", "home_score"),
            away_score=pl.coalesce("away_score_right", "away_score"),
        )
        .drop("home_score_right", "away_score_right")
    )
