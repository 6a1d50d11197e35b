"""What a backtest reads: the games, their features and every price; what was offered and what closed."""

from __future__ import annotations

from dataclasses import dataclass, replace

import polars as pl
import psycopg
from psycopg import sql

from mlbedge.betting.metrics import clv
from mlbedge.domain.markets import A_SIDES
from mlbedge.domain.odds import fair_two_way
from mlbedge.features import prices
from mlbedge.features.asof import game_clock
from mlbedge.features.io import copy_frame, read_features, read_price_inputs
from mlbedge.features.opening import OPEN_INPUTS, with_open_inputs
from mlbedge.features.prices import OFFER_SCHEMA, OPENING_COLUMNS, SBRO_BOOK
from mlbedge.games.schema import games_columns
from mlbedge.settings import get_settings

# Everything the engine reads of curated.games: the schedule, the results, the opening and closing lines.
GAMES_SCHEMA: dict[str, pl.DataType] = games_columns(
    [
        "game_id",
        "season",
        "date",
        "game_type",
        "home_team_id",
        "away_team_id",
        "home_team",
        "away_team",
        "start_time_utc",
        "pin_game_no",
        "home_score",
        "away_score",
        # A suspended game settles when it was completed (the clock's result_observed_at).
        "completion_date",
        "home_ml_open",
        "away_ml_open",
        "total_open",
        "over_odds_open",
        "under_odds_open",
        "home_ml_close",
        "away_ml_close",
        "total_close",
        "over_odds_close",
        "under_odds_close",
        "home_rl",
        "home_rl_odds",
        "away_rl_odds",
    ]
)
# The part of a game a strategy may see: scheduled facts only.
SCHEDULE_COLUMNS: tuple[str, ...] = (
    "game_id",
    "season",
    "date",
    "game_type",
    "home_team_id",
    "away_team_id",
    "home_team",
    "away_team",
    "start_time_utc",
    "as_of",
)
# A price offered: ``line`` is the total (totals), the HOME handicap (run lines) or null
# (moneyline); ``price_a`` is the home/over price, ``price_b`` the away/under one; ``fair_a`` the
# de-vigged probability of side a from those two prices.
QUOTE_COLUMNS: tuple[str, ...] = (
    "game_id",
    "book",
    "market",
    "line",
    "price_a",
    "price_b",
    "fair_a",
    "observed_at",
)


# ----------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True)
class BacktestInputs:
    """Everything one backtest reads. Only the engine sees it whole.

    ``games``: :data:`GAMES_SCHEMA` rows (results and closing lines included). ``features``: their
    point-in-time rows (``game_id, season, date, as_of, start_known`` and the features).
    ``snapshots``: every priced market snapshot of these games at any time (the
    :data:`mlbedge.features.prices.SNAPSHOT_SCHEMA` columns plus ``fair_a`` and ``overround``),
    later ones included: the engine offers each game only what was quoted by its ``as_of``.
    """

    games: pl.DataFrame
    features: pl.DataFrame
    snapshots: pl.DataFrame
    cutoff_minutes: int


def market_snapshots(
    games: pl.DataFrame,
    *,
    pinnacle_lines: pl.DataFrame | None = None,
    quotes: pl.DataFrame | None = None,
    cutoff_minutes: int,
) -> pl.DataFrame:
    """Every price of ``games`` as priced market snapshots: SBRO's opening lines (observed at the
    start of the local date), Pinnacle line snapshots and live quotes (at their own times).

    The same sources and rules as the market features (:mod:`mlbedge.features.prices`): a
    snapshot with an impossible price or margin is dropped.
    """
    lazy = games.lazy()
    clock = game_clock(lazy, cutoff_minutes)
    opening = lazy.select("game_id", *OPENING_COLUMNS).join(
        clock.select("game_id", "day_start"), on="game_id", how="inner"
    )
    frame = prices.collect_snapshots(
        opening,
        pinnacle_lines=pinnacle_lines,
        pinnacle_games=lazy.select("pin_game_no", "game_id").drop_nulls(),
        quotes=quotes,
    ).collect()
    return prices.priced(frame)


def load_inputs(
    conn: psycopg.Connection, season: int, *, cutoff_minutes: int | None = None
) -> BacktestInputs:
    """The games, stored features and every price of one season, from the database.

    Raises ``LookupError`` when the season has no games or no stored features.
    """
    cutoff = get_settings().cutoff_minutes if cutoff_minutes is None else cutoff_minutes
    games = copy_frame(
        conn, sql.SQL("(SELECT * FROM curated.games WHERE season = %s) g"), GAMES_SCHEMA, [season]
    ).sort("date", "game_id")
    if games.is_empty():
        raise LookupError(
            f"season {season} has no games in curated.games; load its file with `mlbedge data load`"
        )
    features = read_features(conn, seasons=[season])
    if features.is_empty():
        raise LookupError(f"season {season} has no stored features; run `mlbedge features build`")
    # Only the games' own price snapshots: the rest of the feature inputs is not read here.
    pinnacle_lines, quotes = read_price_inputs(conn, games["game_id"].to_list())
    snapshots = market_snapshots(games, pinnacle_lines=pinnacle_lines, quotes=quotes, cutoff_minutes=cutoff)
    return BacktestInputs(games, features, snapshots, cutoff)


def at_the_open(inputs: BacktestInputs, features: pl.DataFrame) -> BacktestInputs:
    """The same games decided at the open: ``features`` are their rows built as of the start of
    each game's local date (``start_known`` false, ``as_of`` the local midnight:
    :func:`mlbedge.training.dataset.open_time_features`), with the opening prices as inputs
    (:func:`mlbedge.features.opening.with_open_inputs`).

    The engine then decides each game at the start of its local date and offers it the prices in
    force then: SBRO's opening line (observed at that moment) and each time-stamped book's last
    quote observed by then, at the quote's own time. Results, closes (a time-stamped book's last
    quote before first pitch) and settlement are as at the cutoff. Raises ``ValueError`` when a
    row was not built at the open.
    """
    rows = features.join(inputs.games.select("game_id"), on="game_id", how="semi")
    late = rows.filter(pl.col("start_known"))
    if late.height:
        raise ValueError(
            f"the features of {late['game_id'][0]} were built as of its cutoff, not at the open: "
            "rebuild them without start times (training.dataset.open_time_features)"
        )
    opening = with_open_inputs(inputs.games.select("game_id", *OPENING_COLUMNS)).select(
        "game_id", *OPEN_INPUTS
    )
    rows = rows.drop(OPEN_INPUTS, strict=False).join(opening, on="game_id", how="left", maintain_order="left")
    return replace(inputs, features=rows)


# ----------------------------------------------------------------------------------------------
# what is offered, what closes


def _quote_schema() -> dict[str, pl.DataType]:
    return {c: OFFER_SCHEMA[c] for c in QUOTE_COLUMNS}


_CLOSE_SCHEMA: dict[str, pl.DataType] = {
    "game_id": pl.String(),
    "book": pl.String(),
    "market": pl.String(),
    "line": pl.Float64(),
    "close_fair_a": pl.Float64(),
}


def closing_quotes(games: pl.DataFrame, snapshots: pl.DataFrame) -> pl.DataFrame:
    """Per game, book and market the closing price: ``game_id, book, market, line, close_fair_a``.

    Time-stamped books: the last snapshot at or before first pitch (games with a known start).
    SBRO: its closing moneyline, closing total and run line from ``games``.
    """
    keys = ["game_id", "book", "market"]
    stamped = snapshots.filter(pl.col("timestamped"))
    parts: list[pl.DataFrame] = []
    if not stamped.is_empty():
        starts = games.select("game_id", "start_time_utc").drop_nulls()
        left = starts.join(stamped.select(keys).unique(), on="game_id", how="inner").sort("start_time_utc")
        parts.append(
            left.join_asof(
                stamped.sort("observed_at"),
                left_on="start_time_utc",
                right_on="observed_at",
                by=keys,
                strategy="backward",
                check_sortedness=False,
            )
            .filter(pl.col("observed_at").is_not_null())
            .select(*keys, "line", pl.col("fair_a").alias("close_fair_a"))
        )
    sbro = pl.concat(
        [
            games.select(
                "game_id",
                pl.lit("moneyline").alias("market"),
                pl.lit(None, pl.Float64).alias("line"),
                pl.col("home_ml_close").alias("a"),
                pl.col("away_ml_close").alias("b"),
            ),
            games.select(
                "game_id",
                pl.lit("total").alias("market"),
                pl.col("total_close").alias("line"),
                pl.col("over_odds_close").alias("a"),
                pl.col("under_odds_close").alias("b"),
            ),
            games.select(
                "game_id",
                pl.lit("runline").alias("market"),
                pl.col("home_rl").alias("line"),
                pl.col("home_rl_odds").alias("a"),
                pl.col("away_rl_odds").alias("b"),
            ),
        ]
    ).filter(pl.col("a").is_not_null() & pl.col("b").is_not_null())
    fair_a, _ = fair_two_way(sbro["a"].cast(pl.Float64).to_numpy(), sbro["b"].cast(pl.Float64).to_numpy())
    parts.append(
        sbro.with_columns(book=pl.lit(SBRO_BOOK), close_fair_a=pl.Series(fair_a, dtype=pl.Float64))
        .filter(pl.col("close_fair_a").is_not_nan())
        .select(*keys, "line", "close_fair_a")
    )
    return pl.concat(parts)


def closing_line_value(bets: pl.DataFrame, closes: pl.DataFrame) -> pl.DataFrame:
    """``bets`` with ``close_book``, ``close_probability`` (de-vigged, of the side bet on) and ``clv``.

    The close is the bet's own book at the same line when it has one, else SBRO's at the same
    line; no comparable close leaves the three null.
    """
    side_a = pl.col("side").is_in(A_SIDES)
    own = closes.rename({"line": "_own_line", "close_fair_a": "_own_fair"})
    sbro = (
        closes.filter(pl.col("book") == SBRO_BOOK)
        .drop("book")
        .rename({"line": "_sbro_line", "close_fair_a": "_sbro_fair"})
    )
    joined = bets.join(own, on=["game_id", "market", "book"], how="left").join(
        sbro, on=["game_id", "market"], how="left"
    )
    own_ok = pl.col("_own_fair").is_not_null() & pl.col("_own_line").eq_missing(pl.col("line"))
    sbro_ok = pl.col("_sbro_fair").is_not_null() & pl.col("_sbro_line").eq_missing(pl.col("line"))
    fair_a = pl.when(own_ok).then(pl.col("_own_fair")).when(sbro_ok).then(pl.col("_sbro_fair"))
    joined = joined.with_columns(
        close_book=pl.when(own_ok).then(pl.col("book")).when(sbro_ok).then(pl.lit(SBRO_BOOK)),
        close_probability=pl.when(side_a).then(fair_a).otherwise(1.0 - fair_a),
    )
    value = clv(joined["odds"].cast(pl.Float64).to_numpy(), joined["close_probability"].to_numpy())
    return joined.with_columns(clv=pl.Series(value, dtype=pl.Float64).fill_nan(None)).select(
        *bets.columns, "close_book", "close_probability", "clv"
    )
