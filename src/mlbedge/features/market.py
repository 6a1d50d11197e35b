"""Market family: the prices known at the cutoff, de-vigged, with their movement and disagreement.

The prices come as *market snapshots* (:mod:`mlbedge.features.prices`, the one offered-prices
rule the backtest and the API share): one row per (game, book, market, observed_at) with the line
and the two prices (home/over first, away/under second). The snapshot in force for a game is the
last one per book and market with ``observed_at <= as_of`` (``join_asof``); the opening quote is
that book's first snapshot, which is never later than the one in force. Per market the books are
then averaged (consensus), and their spread is the disagreement.

Sources and when their prices are observed:

- SBRO: the opening moneyline and total only, observed at the start of the game's local date.
  Its closing lines and its run line (which has no opening price) are benchmarks, never read.
  SBRO has no history, so movement and speed are null for it (unknown, not zero).
- Pinnacle 2016: every line snapshot at its own time; snapshots flagged ``absurd_price`` dropped.
- Live books (``staging.odds_quotes``): every quote at its ``observed_at``; in-play quotes dropped.
"""

from __future__ import annotations

import polars as pl

from mlbedge.domain.markets import MARKETS, SIDE_A, SIDE_B
from mlbedge.features.asof import hours_between, minutes_between

# The snapshot model moved to mlbedge.features.prices; its names stay importable from here.
from mlbedge.features.prices import (
    MAX_OVERROUND,
    MIN_OVERROUND,
    PINNACLE_SCHEMA,
    QUOTE_SCHEMA,
    SNAPSHOT_SCHEMA,
    empty_snapshots,
    live_snapshots,
    pinnacle_snapshots,
    priced,
    quotes_at_cutoff,
    sbro_open_snapshots,
)
from mlbedge.features.spec import Family, Feature

__all__ = [
    "BANDS", "FEATURES", "MARKETS", "MAX_OVERROUND", "MIN_OVERROUND", "PINNACLE_SCHEMA", "QUOTE_SCHEMA",
    "SIDE_A", "SIDE_B", "SNAPSHOT_SCHEMA", "compute", "empty_snapshots", "live_snapshots",
    "pinnacle_snapshots", "priced", "quotes_at_cutoff", "sbro_open_snapshots",
]  # fmt: skip

_M = Family.MARKET
_PRICES = ("sbro_open", "pinnacle_lines", "live_quotes")
_HISTORY = ("pinnacle_lines", "live_quotes")

# Price bands on the favourite's de-vigged win probability.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("pickem", 0.0, 0.54),
    ("small_fav", 0.54, 0.60),
    ("medium_fav", 0.60, 0.67),
    ("large_fav", 0.67, 1.01),
)


def _declare() -> tuple[Feature, ...]:
    f = Feature
    features = [
        f(
            "ml_home_prob",
            _M,
            "float64",
            "De-vigged (multiplicative) home win probability at the cutoff, "
            "averaged over the books quoting then.",
            _PRICES,
        ),
        f("ml_home_prob_open", _M, "float64", "The same from each book's opening quote.", _PRICES),
        f(
            "ml_home_prob_move",
            _M,
            "float64",
            "ml_home_prob minus ml_home_prob_open, over books with a "
            "time-stamped history (null when only SBRO's opening line exists).",
            _HISTORY,
        ),
        f(
            "ml_move_per_hour",
            _M,
            "float64",
            "Moneyline movement per hour between a book's open and its "
            "quote at the cutoff (mean over books with history).",
            _HISTORY,
        ),
        f(
            "ml_overround",
            _M,
            "float64",
            "Sum of the two implied moneyline probabilities (the margin), mean over books.",
            _PRICES,
        ),
        f(
            "ml_book_count",
            _M,
            "int8",
            "Books with a moneyline quote at the cutoff.",
            _PRICES,
            nullable=False,
        ),
        f(
            "ml_disagreement",
            _M,
            "float64",
            "Max minus min de-vigged home probability across books (null with fewer than two books).",
            _PRICES,
        ),
        f(
            "ml_n_quotes",
            _M,
            "int32",
            "Moneyline snapshots observed up to the cutoff, all books.",
            _PRICES,
            nullable=False,
        ),
        f(
            "ml_home_favourite",
            _M,
            "int8",
            "1 if the home team is the favourite (ml_home_prob > 0.5), 0 if not, null without a price.",
            _PRICES,
        ),
        f("ml_favourite_prob", _M, "float64", "The favourite's de-vigged win probability.", _PRICES),
    ]
    for name, low, high in BANDS:
        features.append(
            f(
                f"ml_band_{name}",
                _M,
                "int8",
                f"1 if the favourite's probability is in [{low:.2f}, "
                f"{min(high, 1.0):.2f}), else 0; null without a price.",
                _PRICES,
            )
        )
    features += [
        f("total_line", _M, "float64", "Game total (runs) at the cutoff, mean over books.", _PRICES),
        f("total_line_open", _M, "float64", "Opening total, mean over books.", _PRICES),
        f(
            "total_line_move",
            _M,
            "float64",
            "total_line minus total_line_open over books with history.",
            _HISTORY,
        ),
        f(
            "total_over_prob",
            _M,
            "float64",
            "De-vigged probability of the over at the cutoff, mean over books (at each book's own line).",
            _PRICES,
        ),
        f("total_over_prob_open", _M, "float64", "The same from each book's opening quote.", _PRICES),
        f(
            "total_over_prob_move",
            _M,
            "float64",
            "total_over_prob minus its opening value, over books with history.",
            _HISTORY,
        ),
        f(
            "total_move_per_hour",
            _M,
            "float64",
            "Over-probability movement per hour since the open (books with history).",
            _HISTORY,
        ),
        f("total_overround", _M, "float64", "Margin of the total market, mean over books.", _PRICES),
        f("total_book_count", _M, "int8", "Books with a total at the cutoff.", _PRICES, nullable=False),
        f(
            "total_disagreement",
            _M,
            "float64",
            "Max minus min total line across books (null with fewer than two books).",
            _PRICES,
        ),
        f(
            "total_n_quotes",
            _M,
            "int32",
            "Total snapshots observed up to the cutoff, all books.",
            _PRICES,
            nullable=False,
        ),
        f(
            "rl_home_line",
            _M,
            "float64",
            "Home run-line handicap at the cutoff (-1.5 = home gives 1.5 runs), "
            "mean over books with run-line history.",
            _HISTORY,
        ),
        f(
            "rl_home_cover_prob",
            _M,
            "float64",
            "De-vigged probability the home side covers its run line at the cutoff.",
            _HISTORY,
        ),
        f(
            "rl_home_cover_prob_open",
            _M,
            "float64",
            "The same at each book's opening run-line quote.",
            _HISTORY,
        ),
        f("rl_home_cover_prob_move", _M, "float64", "rl_home_cover_prob minus its opening value.", _HISTORY),
        f("rl_overround", _M, "float64", "Margin of the run-line market, mean over books.", _HISTORY),
        f(
            "rl_book_count",
            _M,
            "int8",
            "Books with a run line at the cutoff (SBRO's closing-only run line never counts).",
            _HISTORY,
            nullable=False,
        ),
        f(
            "mkt_minutes_since_last_quote",
            _M,
            "float64",
            "Minutes between the newest time-stamped quote "
            "used and the cutoff (null without time-stamped quotes).",
            _HISTORY,
        ),
        f(
            "mkt_hours_open_to_cutoff",
            _M,
            "float64",
            "Hours between the earliest time-stamped opening "
            "quote and the cutoff (null without time-stamped quotes).",
            _HISTORY,
        ),
    ]
    return tuple(features)


FEATURES: tuple[Feature, ...] = _declare()

# ----------------------------------------------------------------------------------------------
# onto games


def _per_market(in_force: pl.LazyFrame) -> pl.LazyFrame:
    """Books averaged per game and market: consensus, opening consensus, movement, disagreement."""
    hist = pl.col("timestamped")
    hours = hours_between(pl.col("observed_at"), pl.col("open_observed_at"))
    move = pl.when(hist).then(pl.col("fair_a") - pl.col("open_fair_a"))
    per_book = in_force.with_columns(
        _move=move,
        _line_move=pl.when(hist).then(pl.col("line") - pl.col("open_line")),
        _speed=pl.when(hist & (hours > 0)).then(move / hours),
        _hist_last=pl.when(hist).then(pl.col("observed_at")),
        _hist_open=pl.when(hist).then(pl.col("open_observed_at")),
    )
    two_books = pl.col("book").n_unique() >= 2
    # Books in a fixed order: a float mean must not depend on the order rows arrive in.
    return (
        per_book.sort("game_id", "market", "book")
        .group_by("game_id", "market")
        .agg(
            prob=pl.col("fair_a").mean(),
            prob_open=pl.col("open_fair_a").mean(),
            prob_move=pl.col("_move").mean(),
            move_per_hour=pl.col("_speed").mean(),
            overround=pl.col("overround").mean(),
            book_count=pl.col("book").n_unique().cast(pl.Int8),
            prob_spread=pl.when(two_books).then(pl.col("fair_a").max() - pl.col("fair_a").min()),
            line_spread=pl.when(two_books).then(pl.col("line").max() - pl.col("line").min()),
            n_quotes=pl.col("n_quotes").sum().cast(pl.Int32),
            line=pl.col("line").mean(),
            line_open=pl.col("open_line").mean(),
            line_move=pl.col("_line_move").mean(),
            last_observed=pl.col("observed_at").max(),
            hist_last=pl.col("_hist_last").max(),
            hist_open=pl.col("_hist_open").min(),
            books=pl.col("book").unique().sort().str.join(","),
        )
    )


def compute(targets: pl.LazyFrame, snapshots: pl.LazyFrame) -> pl.LazyFrame:
    """Market features for each target game (``game_id, as_of``) from priced snapshots.

    Returns ``game_id``, the features, ``src_market_observed_at`` (newest snapshot used) and
    ``market_books`` (the books behind the row, comma-separated).
    """
    markets = _per_market(quotes_at_cutoff(targets, snapshots))

    def market(name: str, columns: dict[str, str]) -> pl.LazyFrame:
        return markets.filter(pl.col("market") == name).select(
            "game_id",
            *[pl.col(src).alias(dst) for src, dst in columns.items()],
            pl.col("last_observed").alias(f"_last_{name}"),
            pl.col("hist_last").alias(f"_hist_last_{name}"),
            pl.col("hist_open").alias(f"_hist_open_{name}"),
            pl.col("books").alias(f"_books_{name}"),
        )

    ml = market(
        "moneyline",
        {
            "prob": "ml_home_prob", "prob_open": "ml_home_prob_open", "prob_move": "ml_home_prob_move",
            "move_per_hour": "ml_move_per_hour", "overround": "ml_overround", "book_count": "ml_book_count",
            "prob_spread": "ml_disagreement", "n_quotes": "ml_n_quotes",
        },
    )  # fmt: skip
    total = market(
        "total",
        {
            "line": "total_line", "line_open": "total_line_open", "line_move": "total_line_move",
            "prob": "total_over_prob", "prob_open": "total_over_prob_open",
            "prob_move": "total_over_prob_move", "move_per_hour": "total_move_per_hour",
            "overround": "total_overround", "book_count": "total_book_count",
            "line_spread": "total_disagreement", "n_quotes": "total_n_quotes",
        },
    )  # fmt: skip
    runline = market(
        "runline",
        {
            "line": "rl_home_line", "prob": "rl_home_cover_prob", "prob_open": "rl_home_cover_prob_open",
            "prob_move": "rl_home_cover_prob_move", "overround": "rl_overround", "book_count": "rl_book_count",
        },
    )  # fmt: skip
    frame = (
        targets.select("game_id", "as_of")
        .join(ml, on="game_id", how="left")
        .join(total, on="game_id", how="left")
        .join(runline, on="game_id", how="left")
    )
    fav = pl.max_horizontal(pl.col("ml_home_prob"), 1.0 - pl.col("ml_home_prob"))
    bands = {
        f"ml_band_{name}": pl.when(fav.is_not_null()).then(
            fav.is_between(low, high, closed="left").cast(pl.Int8)
        )
        for name, low, high in BANDS
    }
    hist_last = pl.max_horizontal(pl.col("^_hist_last_.*$"))
    hist_open = pl.min_horizontal(pl.col("^_hist_open_.*$"))
    books = pl.concat_str(pl.col("^_books_.*$"), separator=",", ignore_nulls=True)
    frame = frame.with_columns(
        ml_home_favourite=pl.when(pl.col("ml_home_prob").is_not_null()).then(
            (pl.col("ml_home_prob") > 0.5).cast(pl.Int8)
        ),
        ml_favourite_prob=fav,
        **bands,
        **{
            c: pl.col(c).fill_null(0)
            for c in ("ml_book_count", "total_book_count", "rl_book_count", "ml_n_quotes", "total_n_quotes")
        },
        mkt_minutes_since_last_quote=minutes_between(pl.col("as_of"), hist_last),
        mkt_hours_open_to_cutoff=hours_between(pl.col("as_of"), hist_open),
        src_market_observed_at=pl.max_horizontal(pl.col("^_last_.*$")),
        market_books=pl.when(books != "").then(books.str.split(",").list.unique().list.sort().list.join(",")),
    )
    return frame.select(
        "game_id",
        *[pl.col(f.name).cast(f.polars_dtype) for f in FEATURES],
        "src_market_observed_at",
        "market_books",
    )
