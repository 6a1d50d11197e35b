"""The offered-prices rule: every source of prices as market snapshots, and the prices in force at a cutoff.

One module, read by the market features (:mod:`mlbedge.features.market`), the backtest
(:mod:`mlbedge.betting.backtest`) and the API's slate (:mod:`mlbedge.serving.slate`), so the
prices a model is built on, backtested against and served against follow one rule.

**Snapshots.** Every source becomes one frame of *market snapshots*
(:data:`SNAPSHOT_SCHEMA`): one row per (game, book, market, observed_at) with the line (the total,
the **home** handicap of a run line, null for the moneyline) and the two prices (home/over first,
away/under second). SBRO's opening moneyline and total are observed at the start of the game's
local date (untimed: ``timestamped`` false); Pinnacle 2016 line snapshots and live quotes at their
own times. :func:`priced` adds the de-vigged probability of side a and the overround, and drops a
market priced outside [MIN_OVERROUND, MAX_OVERROUND] (a keying error, not a market).

**Offered.** :func:`quotes_at_cutoff` takes per game, book and market the last snapshot observed at
or before the game's ``as_of`` (and that book's opening one). :func:`offered_quotes` is what a
bettor could take then: SBRO's untimed opening line only where the start time is unknown (then
``as_of`` *is* the moment it was observed); a game with a known start is offered the time-stamped
books' last quote before its cutoff; never an aggregate no one takes bets at (Action Network's
consensus and open lines, :mod:`mlbedge.domain.books`), which the features still read.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from mlbedge.domain.books import bettable
from mlbedge.domain.markets import MARKETS
from mlbedge.domain.odds import american_to_implied, fair_two_way
from mlbedge.features.asof import TIMESTAMP

SBRO_BOOK = "sbro"

# A two-way market priced outside this overround is a keying error, not a market.
MIN_OVERROUND = 0.98
MAX_OVERROUND = 1.25

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
# The opening prices of curated.games (SBRO's): the only prices a game row carries that are
# known before its cutoff (closing lines and SBRO's closing-only run line are benchmarks).
OPENING_COLUMNS: dict[str, pl.DataType] = {
    "home_ml_open": pl.Int64(),
    "away_ml_open": pl.Int64(),
    "total_open": pl.Float64(),
    "over_odds_open": pl.Int64(),
    "under_odds_open": pl.Int64(),
}
# A price offered: ``line`` is the total (totals), the HOME handicap (run lines) or null
# (moneyline); ``price_a`` is the home/over price, ``price_b`` the away/under one; ``fair_a`` the
# de-vigged probability of side a from those two prices; ``as_of`` the cutoff it is offered at.
OFFER_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "line": pl.Float64(),
    "price_a": pl.Int64(),
    "price_b": pl.Int64(),
    "fair_a": pl.Float64(),
    "observed_at": TIMESTAMP,
    "as_of": TIMESTAMP,
}
OFFER_COLUMNS: tuple[str, ...] = tuple(OFFER_SCHEMA)


def conform(frame: pl.DataFrame | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Exactly ``schema``'s columns and types; a missing column is all null, extra columns dropped."""
    if frame is None or frame.is_empty():
        return pl.DataFrame(schema=schema)
    return frame.select(
        (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
        for name, dtype in schema.items()
    )


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
    common = [pl.col("game_id"), pl.lit(SBRO_BOOK).alias("book"), pl.col("day_start").alias("observed_at")]
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


def collect_snapshots(
    opening: pl.LazyFrame,
    *,
    pinnacle_lines: pl.DataFrame | None = None,
    pinnacle_games: pl.LazyFrame | None = None,
    quotes: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """Every source's snapshots of some games in one lazy frame (:data:`SNAPSHOT_SCHEMA`, not priced).

    ``opening``: ``game_id, day_start`` and :data:`OPENING_COLUMNS`. ``pinnacle_lines``:
    staging.pinnacle_lines rows (:data:`PINNACLE_SCHEMA`) with ``pinnacle_games`` (``pin_game_no,
    game_id``) keying them to games. ``quotes``: live quotes, one row per side (:data:`QUOTE_SCHEMA`).
    Absent or empty inputs add nothing.
    """
    parts = [sbro_open_snapshots(opening)]
    if pinnacle_lines is not None and not pinnacle_lines.is_empty() and pinnacle_games is not None:
        lines = conform(pinnacle_lines, PINNACLE_SCHEMA).lazy()
        parts.append(pinnacle_snapshots(lines, pinnacle_games))
    if quotes is not None and not quotes.is_empty():
        parts.append(live_snapshots(conform(quotes, QUOTE_SCHEMA).lazy()))
    return pl.concat([p.select(list(SNAPSHOT_SCHEMA)) for p in parts])


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


def offered_quotes(targets: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """The prices a bettor could take for each game at its ``as_of`` (see the module notes).

    ``targets``: ``game_id, as_of, start_known``; ``snapshots``: priced (:func:`priced`). Returns
    :data:`OFFER_SCHEMA` rows sorted by ``as_of, game_id, market, book``: per game, book and market
    the last snapshot observed at or before ``as_of``; SBRO's untimed opening line only where the
    start is unknown; only books that take bets.
    """
    if snapshots.is_empty() or targets.is_empty():
        return pl.DataFrame(schema=OFFER_SCHEMA)
    in_force = quotes_at_cutoff(targets.select("game_id", "as_of").lazy(), snapshots.lazy())
    return (
        in_force.join(targets.select("game_id", "start_known").lazy(), on="game_id", how="inner")
        .filter(pl.col("timestamped") | ~pl.col("start_known"), bettable("book"))
        .select(*OFFER_COLUMNS)
        .sort("as_of", "game_id", "market", "book")
        .collect()
    )
