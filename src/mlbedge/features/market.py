"""Market family: the prices known at the cutoff, de-vigged, with their movement and disagreement.

Every source of prices becomes one frame of *market snapshots*: one row per (game, book, market,
observed_at) with the line and the two prices (home/over first, away/under second). The
snapshot in force for a game is the last one per book and market with ``observed_at <= as_of``
(``join_asof``); the opening quote is that book's first snapshot, which is never later than the
one in force. Per market the books are then averaged (consensus), and their spread is the
disagreement.

Sources and when their prices are observed:

- SBRO: the opening moneyline and total only, observed at the start of the game's local date.
  Its closing lines and its run line (which has no opening price) are benchmarks, never read.
  SBRO has no history, so movement and speed are null for it (unknown, not zero).
- Pinnacle 2016: every line snapshot at its own time; snapshots flagged ``absurd_price`` dropped.
- Live books (``staging.odds_quotes``): every quote at its ``observed_at``; in-play quotes dropped.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mlbedge.domain.odds import american_to_implied, fair_two_way
from mlbedge.features.asof import TIMESTAMP, hours_between, minutes_between
from mlbedge.features.registry import Family, Feature

_M = Family.MARKET
_PRICES = ("sbro_open", "pinnacle_lines", "live_quotes")
_HISTORY = ("pinnacle_lines", "live_quotes")

MARKETS: tuple[str, ...] = ("moneyline", "total", "runline")
# The de-vigged probability a market's first price stands for.
SIDE_A = {"moneyline": "home", "total": "over", "runline": "home"}
SIDE_B = {"moneyline": "away", "total": "under", "runline": "away"}

# A two-way market priced outside this overround is a keying error, not a market.
MIN_OVERROUND = 0.98
MAX_OVERROUND = 1.25

# Price bands on the favourite's de-vigged win probability.
BANDS: tuple[tuple[str, float, float], ...] = (
    ("pickem", 0.0, 0.54),
    ("small_fav", 0.54, 0.60),
    ("medium_fav", 0.60, 0.67),
    ("large_fav", 0.67, 1.01),
)

SNAPSHOT_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "observed_at": TIMESTAMP,
    "line": pl.Float64(),
    "price_a": pl.Int64(),
    "price_b": pl.Int64(),
    "timestamped": pl.Boolean(),
}
# Live quotes as the live sources store them (one row per side), keyed to curated game ids.
QUOTE_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "line": pl.Float64(),
    "price": pl.Int64(),
    "observed_at": TIMESTAMP,
    "in_play": pl.Boolean(),
}
PINNACLE_SCHEMA: dict[str, pl.DataType] = {
    "pin_game_no": pl.Int64(),
    "observed_at": TIMESTAMP,
    "away_rl": pl.Float64(),
    "away_rl_odds": pl.Int64(),
    "home_rl_odds": pl.Int64(),
    "away_ml": pl.Int64(),
    "home_ml": pl.Int64(),
    "total": pl.Float64(),
    "over_odds": pl.Int64(),
    "under_odds": pl.Int64(),
    "flags": pl.String(),
}


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
# sources -> market snapshots


def empty_snapshots() -> pl.DataFrame:
    """No snapshots, with the snapshot schema."""
    return pl.DataFrame(schema=SNAPSHOT_SCHEMA)


def sbro_open_snapshots(opening: pl.LazyFrame) -> pl.LazyFrame:
    """SBRO's opening moneyline and total as snapshots observed at the start of the local date.

    ``opening``: ``game_id, day_start, home_ml_open, away_ml_open, total_open, over_odds_open,
    under_odds_open`` (nothing else of the SBRO row is read).
    """
    common = [pl.col("game_id"), pl.lit("sbro").alias("book"), pl.col("day_start").alias("observed_at")]
    ml = opening.select(
        *common[:2],
        pl.lit("moneyline").alias("market"),
        common[2],
        pl.lit(None, pl.Float64).alias("line"),
        pl.col("home_ml_open").cast(pl.Int64).alias("price_a"),
        pl.col("away_ml_open").cast(pl.Int64).alias("price_b"),
    )
    total = opening.select(
        *common[:2],
        pl.lit("total").alias("market"),
        common[2],
        pl.col("total_open").cast(pl.Float64).alias("line"),
        pl.col("over_odds_open").cast(pl.Int64).alias("price_a"),
        pl.col("under_odds_open").cast(pl.Int64).alias("price_b"),
    )
    return (
        pl.concat([ml, total])
        .with_columns(timestamped=pl.lit(False))
        .filter(pl.col("price_a").is_not_null() & pl.col("price_b").is_not_null())
    )


def pinnacle_snapshots(lines: pl.LazyFrame, game_ids: pl.LazyFrame) -> pl.LazyFrame:
    """Pinnacle line snapshots (one row per time, all markets) as market snapshots.

    ``game_ids``: ``pin_game_no, game_id`` from curated.games. Rows flagged ``absurd_price`` are
    dropped; ``after_start`` rows stay (the as-of join leaves them out of every pre-game cutoff).
    """
    keyed = lines.filter(~pl.col("flags").fill_null("").str.contains(r"\babsurd_price\b")).join(
        game_ids.select(pl.col("pin_game_no").cast(pl.Int64), "game_id"), on="pin_game_no", how="inner"
    )
    base = [pl.col("game_id"), pl.lit("pinnacle").alias("book")]
    ml = keyed.select(
        *base, pl.lit("moneyline").alias("market"), pl.col("observed_at").cast(TIMESTAMP),
        pl.lit(None, pl.Float64).alias("line"), pl.col("home_ml").alias("price_a"), pl.col("away_ml").alias("price_b"),
    )  # fmt: skip
    total = keyed.select(
        *base, pl.lit("total").alias("market"), pl.col("observed_at").cast(TIMESTAMP),
        pl.col("total").cast(pl.Float64).alias("line"), pl.col("over_odds").alias("price_a"),
        pl.col("under_odds").alias("price_b"),
    )  # fmt: skip
    runline = keyed.select(
        *base, pl.lit("runline").alias("market"), pl.col("observed_at").cast(TIMESTAMP),
        (-pl.col("away_rl").cast(pl.Float64)).alias("line"), pl.col("home_rl_odds").alias("price_a"),
        pl.col("away_rl_odds").alias("price_b"),
    )  # fmt: skip
    return (
        pl.concat([ml, total, runline])
        .with_columns(
            pl.col("price_a").cast(pl.Int64), pl.col("price_b").cast(pl.Int64), timestamped=pl.lit(True)
        )
        .filter(pl.col("price_a").is_not_null() & pl.col("price_b").is_not_null())
    )


def live_snapshots(quotes: pl.LazyFrame) -> pl.LazyFrame:
    """Live quotes (one row per side) paired into market snapshots; in-play quotes dropped.

    Sides may be observed at different times (a price history stamps each outcome on its own),
    so a snapshot is taken at every time either side was observed, with each side's last price
    at or before that time (``join_asof`` within the quote stream). A market becomes usable once
    both sides have been seen; the snapshot's ``observed_at`` is never earlier than either price.
    """
    names = quotes.collect_schema().names()
    pre_game = quotes.filter(~pl.col("in_play").fill_null(False)) if "in_play" in names else quotes
    pre_game = pre_game.filter(pl.col("market").is_in(MARKETS) & pl.col("price").is_not_null())
    keys = ["game_id", "book", "market"]

    def side(sides: list[str], suffix: str) -> pl.LazyFrame:
        return (
            pre_game.filter(pl.col("side").is_in(sides))
            .group_by(*keys, "observed_at")
            .agg(pl.col("price").last(), pl.col("line").last())
            .select(
                *keys,
                pl.col("observed_at").alias(f"_at_{suffix}"),
                pl.col("price").alias(f"price_{suffix}"),
                pl.col("line").alias(f"_line_{suffix}"),
            )
            .sort(f"_at_{suffix}", *keys)
        )

    times = pre_game.select(*keys, "observed_at").unique().sort("observed_at", *keys)
    paired = times.join_asof(
        side(["home", "over"], "a"), left_on="observed_at", right_on="_at_a", by=keys, check_sortedness=False
    ).join_asof(
        side(["away", "under"], "b"), left_on="observed_at", right_on="_at_b", by=keys, check_sortedness=False
    )
    # The run line is stored per side (+1.5 / -1.5): the home handicap is the home side's, or minus the away's.
    line = pl.coalesce(
        "_line_a",
        pl.when(pl.col("market") == "runline").then(-pl.col("_line_b")).otherwise(pl.col("_line_b")),
    )
    return paired.select(
        "game_id",
        "book",
        "market",
        pl.col("observed_at").cast(TIMESTAMP),
        line.cast(pl.Float64).alias("line"),
        pl.col("price_a").cast(pl.Int64),
        pl.col("price_b").cast(pl.Int64),
        timestamped=pl.lit(True),
    ).filter(pl.col("price_a").is_not_null() & pl.col("price_b").is_not_null())


def priced(snapshots: pl.DataFrame) -> pl.DataFrame:
    """Snapshots with de-vigged probability of side A and overround; unusable markets dropped.

    Uses :mod:`mlbedge.domain.odds` (multiplicative margin removal). A market with an impossible
    price or an overround outside [MIN_OVERROUND, MAX_OVERROUND] is a keying error and is dropped.
    """
    a = snapshots["price_a"].cast(pl.Float64).to_numpy()
    b = snapshots["price_b"].cast(pl.Float64).to_numpy()
    fair_a, _ = fair_two_way(a, b)
    margin = np.asarray(american_to_implied(a)) + np.asarray(american_to_implied(b))
    return snapshots.with_columns(
        fair_a=pl.Series(fair_a, dtype=pl.Float64), overround=pl.Series(margin, dtype=pl.Float64)
    ).filter(pl.col("fair_a").is_not_nan() & pl.col("overround").is_between(MIN_OVERROUND, MAX_OVERROUND))


# ----------------------------------------------------------------------------------------------
# onto games


def quotes_at_cutoff(targets: pl.LazyFrame, snapshots: pl.LazyFrame) -> pl.LazyFrame:
    """Per game, book and market: the snapshot in force at ``as_of`` and that book's opening one.

    Rows for a (game, book, market) whose first snapshot is after the cutoff are dropped.
    """
    keys = ["game_id", "book", "market"]
    history = snapshots.sort([*keys, "observed_at"]).with_columns(
        n_quotes=pl.int_range(1, pl.len() + 1).over(keys).cast(pl.Int32),
        open_fair_a=pl.col("fair_a").first().over(keys),
        open_line=pl.col("line").first().over(keys),
        open_observed_at=pl.col("observed_at").first().over(keys),
    )
    left = (
        targets.select("game_id", "as_of")
        .join(history.select(keys).unique(), on="game_id", how="inner")
        .sort("as_of", *keys)
    )
    return left.join_asof(
        history.sort("observed_at"),
        left_on="as_of",
        right_on="observed_at",
        by=keys,
        strategy="backward",
        check_sortedness=False,
    ).filter(pl.col("observed_at").is_not_null())


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
