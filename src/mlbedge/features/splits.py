"""Betting-splits family: share of bets and of money per market side at the cutoff, and what moved.

Splits exist only where the live sources recorded them (``staging.splits``); no historical season
has any. A game without splits gets null in every feature here (and a book count of 0): null
means "not observed", never "zero percent".

As with prices, the splits in force are the last snapshot per book and market with
``observed_at <= as_of`` (``join_asof``), the first snapshot is the baseline for movement, and
books are averaged. Reverse line movement compares the public's side with the direction the
market moved (from the market family's movement, over books with a time-stamped history).
"""

from __future__ import annotations

import polars as pl

from mlbedge.features.asof import TIMESTAMP, minutes_between
from mlbedge.features.spec import Family, Feature

_S = Family.SPLITS
_SPLITS = ("live_splits",)
_RLM = ("live_splits", "pinnacle_lines", "live_quotes")

SPLITS_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "bets_pct": pl.Float64(),
    "money_pct": pl.Float64(),
    "observed_at": TIMESTAMP,
    "in_play": pl.Boolean(),
}
SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "observed_at": TIMESTAMP,
    "bets_a": pl.Float64(),
    "money_a": pl.Float64(),
}

_MARKET_SIDE = {"ml": ("moneyline", "home"), "total": ("total", "over"), "rl": ("runline", "home")}


def _declare() -> tuple[Feature, ...]:
    f = Feature
    features: list[Feature] = []
    for short, (market, side) in _MARKET_SIDE.items():
        prefix = f"splits_{short}_{side}"
        features += [
            f(
                f"{prefix}_bets_pct",
                _S,
                "float64",
                f"Share of {market} bets (tickets) on the {side} side at "
                "the cutoff, percent, mean over books.",
                _SPLITS,
            ),
            f(
                f"{prefix}_money_pct",
                _S,
                "float64",
                f"Share of {market} money (handle) on the {side} side "
                "at the cutoff, percent, mean over books.",
                _SPLITS,
            ),
            f(
                f"{prefix}_money_minus_bets",
                _S,
                "float64",
                f"{prefix}_money_pct - {prefix}_bets_pct: "
                "positive when fewer, larger bets back the side (the 'sharp' signal).",
                _SPLITS,
            ),
        ]
        if short != "rl":
            features += [
                f(
                    f"{prefix}_bets_move",
                    _S,
                    "float64",
                    f"Change of {prefix}_bets_pct since each book's first splits snapshot.",
                    _SPLITS,
                ),
                f(
                    f"{prefix}_money_move",
                    _S,
                    "float64",
                    f"Change of {prefix}_money_pct since each book's first splits snapshot.",
                    _SPLITS,
                ),
                f(
                    f"splits_{short}_reverse_line_move",
                    _S,
                    "int8",
                    f"1 if the {market} line moved against "
                    "the side most bets are on (the public), 0 if with it or not at all, null when splits "
                    "or line history are missing.",
                    _RLM,
                ),
            ]
    features += [
        f(
            "splits_book_count",
            _S,
            "int8",
            "Books with splits at the cutoff (0 where none were recorded).",
            _SPLITS,
            nullable=False,
        ),
        f(
            "splits_minutes_since_update",
            _S,
            "float64",
            "Minutes between the newest splits snapshot used and the cutoff.",
            _SPLITS,
        ),
    ]
    return tuple(features)


FEATURES: tuple[Feature, ...] = _declare()


def empty_snapshots() -> pl.DataFrame:
    """No splits snapshots, with the snapshot schema."""
    return pl.DataFrame(schema=SNAPSHOT_SCHEMA)


def splits_snapshots(splits: pl.LazyFrame) -> pl.LazyFrame:
    """Splits rows (one per side) as one row per (game, book, market, time) for side A.

    Side A is home (moneyline, run line) or over (total); when only the other side is recorded,
    side A's share is 100 minus it. In-play splits are dropped.
    """
    names = splits.collect_schema().names()
    pre_game = splits.filter(~pl.col("in_play").fill_null(False)) if "in_play" in names else splits
    is_a = pl.col("side").is_in(["home", "over"])
    is_b = pl.col("side").is_in(["away", "under"])
    grouped = pre_game.group_by("game_id", "book", "market", "observed_at").agg(
        *[pl.col(c).filter(is_a).last().alias(f"_{c}_a") for c in ("bets_pct", "money_pct")],
        *[pl.col(c).filter(is_b).last().alias(f"_{c}_b") for c in ("bets_pct", "money_pct")],
    )
    return grouped.select(
        "game_id",
        "book",
        "market",
        pl.col("observed_at").cast(TIMESTAMP),
        pl.coalesce("_bets_pct_a", 100.0 - pl.col("_bets_pct_b")).cast(pl.Float64).alias("bets_a"),
        pl.coalesce("_money_pct_a", 100.0 - pl.col("_money_pct_b")).cast(pl.Float64).alias("money_a"),
    ).filter(pl.col("bets_a").is_not_null() | pl.col("money_a").is_not_null())


def _direction_against(public: pl.Expr, moved: pl.Expr) -> pl.Expr:
    """1 when the market moved away from the side the public backs, 0 otherwise, null if unknown."""
    product = (public - 50.0).sign() * moved.sign()
    return pl.when(public.is_null() | moved.is_null()).then(None).otherwise((product < 0).cast(pl.Int8))


def compute(targets: pl.LazyFrame, snapshots: pl.LazyFrame, market: pl.LazyFrame) -> pl.LazyFrame:
    """Splits features for each target game (``game_id, as_of``).

    ``market`` is the market family's output (its movement drives reverse line movement).
    Returns ``game_id``, the features, ``src_splits_observed_at`` and ``splits_books``.
    """
    keys = ["game_id", "book", "market"]
    history = snapshots.sort([*keys, "observed_at"]).with_columns(
        first_bets=pl.col("bets_a").first().over(keys),
        first_money=pl.col("money_a").first().over(keys),
    )
    left = (
        targets.select("game_id", "as_of")
        .join(history.select(keys).unique(), on="game_id", how="inner")
        .sort("as_of", *keys)
    )
    in_force = left.join_asof(
        history.sort("observed_at"),
        left_on="as_of",
        right_on="observed_at",
        by=keys,
        strategy="backward",
        check_sortedness=False,
    ).filter(pl.col("observed_at").is_not_null())
    # Books in a fixed order: a float mean must not depend on the order rows arrive in.
    per_market = (
        in_force.sort("game_id", "market", "book")
        .group_by("game_id", "market")
        .agg(
            bets=pl.col("bets_a").mean(),
            money=pl.col("money_a").mean(),
            bets_move=(pl.col("bets_a") - pl.col("first_bets")).mean(),
            money_move=(pl.col("money_a") - pl.col("first_money")).mean(),
            last_observed=pl.col("observed_at").max(),
            books=pl.col("book").unique().sort().str.join(","),
        )
    )
    frame = targets.select("game_id", "as_of")
    for short, (market_name, side) in _MARKET_SIDE.items():
        prefix = f"splits_{short}_{side}"
        frame = frame.join(
            per_market.filter(pl.col("market") == market_name).select(
                "game_id",
                pl.col("bets").alias(f"{prefix}_bets_pct"),
                pl.col("money").alias(f"{prefix}_money_pct"),
                (pl.col("money") - pl.col("bets")).alias(f"{prefix}_money_minus_bets"),
                pl.col("bets_move").alias(f"{prefix}_bets_move"),
                pl.col("money_move").alias(f"{prefix}_money_move"),
                pl.col("last_observed").alias(f"_last_{short}"),
                pl.col("books").alias(f"_books_{short}"),
            ),
            on="game_id",
            how="left",
        )
    moves = market.select("game_id", "ml_home_prob_move", "total_line_move", "total_over_prob_move")
    frame = frame.join(moves, on="game_id", how="left")
    # Totals move by line first; at an unchanged line, by price.
    total_moved = (
        pl.when(pl.col("total_line_move").is_not_null() & (pl.col("total_line_move") != 0))
        .then(pl.col("total_line_move"))
        .otherwise(pl.col("total_over_prob_move"))
    )
    last = pl.max_horizontal(pl.col("^_last_.*$"))
    books = pl.concat_str(pl.col("^_books_.*$"), separator=",", ignore_nulls=True)
    book_list = books.str.split(",").list.unique().list.sort()
    frame = frame.with_columns(
        splits_ml_reverse_line_move=_direction_against(
            pl.col("splits_ml_home_bets_pct"), pl.col("ml_home_prob_move")
        ),
        splits_total_reverse_line_move=_direction_against(pl.col("splits_total_over_bets_pct"), total_moved),
        splits_book_count=pl.when(books != "").then(book_list.list.len()).otherwise(0).cast(pl.Int8),
        splits_minutes_since_update=minutes_between(pl.col("as_of"), last),
        src_splits_observed_at=last,
        splits_books=pl.when(books != "").then(book_list.list.join(",")),
    )
    return frame.select(
        "game_id",
        *[pl.col(f.name).cast(f.polars_dtype) for f in FEATURES],
        "src_splits_observed_at",
        "splits_books",
    )
