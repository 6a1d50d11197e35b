"""One date's schedule and the prices offered at each game's cutoff, read from PostgreSQL.

The schedule is ``curated.games`` with each game's ``as_of`` by the features' rule
(:func:`mlbedge.features.asof.game_clock`). The prices follow the one offered-prices rule
(:mod:`mlbedge.features.prices`, shared with the backtest): SBRO's opening line (observed at the
start of the local date), Pinnacle's time-stamped lines and the live books' pre-game quotes; per
game, book and market the one in force at ``as_of``. SBRO's untimed opening line is offered only
where the start time is unknown (then ``as_of`` *is* the moment it was observed); a game with a
known start is offered the time-stamped books' last quote before its cutoff. Nothing observed
after ``as_of`` is read: the queries stop there. The close strategy is offered the prices in force
at the start of each game's local date instead (:func:`offered_at_open`).
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import polars as pl
import psycopg
from psycopg import sql

from mlbedge.domain.teams import by_mlb_id
from mlbedge.features import prices
from mlbedge.features.asof import TIMESTAMP, game_clock
from mlbedge.features.io import copy_frame
from mlbedge.features.prices import OPENING_COLUMNS, offered_quotes
from mlbedge.games.schema import games_columns
from mlbedge.storage.database import fetch_frame

SCHEDULE_SCHEMA: dict[str, pl.DataType] = games_columns(
    [
        "game_id",
        "date",
        "game_type",
        "home_team",
        "away_team",
        "home_team_id",
        "away_team_id",
        "start_time_utc",
        "pin_game_no",
        "game_pk",
        "home_starter",
        "away_starter",
        "home_score",
        "away_score",
        *OPENING_COLUMNS,
    ]
)


def games_on(conn: psycopg.Connection, day: date, cutoff_minutes: int) -> pl.DataFrame:
    """The games of ``day`` (:data:`SCHEDULE_SCHEMA` plus ``as_of, day_start, start_known``), by id."""
    games = copy_frame(
        conn, sql.SQL("(SELECT * FROM curated.games WHERE date = %s) g"), SCHEDULE_SCHEMA, [day]
    ).sort("game_id")
    if games.is_empty():
        return games.with_columns(
            as_of=pl.lit(None, TIMESTAMP),
            day_start=pl.lit(None, TIMESTAMP),
            start_known=pl.lit(None, pl.Boolean),
        )
    clock = game_clock(games.lazy(), cutoff_minutes).select("game_id", "as_of", "day_start", "start_known")
    return games.lazy().join(clock, on="game_id", how="left").sort("game_id").collect()


def game_status(conn: psycopg.Connection, games: pl.DataFrame) -> pl.DataFrame:
    """``game_id, status`` of ``games``: MLB's newest ``detailedState`` for a live game (Scheduled,
    Pre-Game, In Progress, Final, Postponed, ...), else Final where a score is stored, else Scheduled."""
    pks = games.select("game_pk").drop_nulls()["game_pk"].to_list() if not games.is_empty() else []
    live = fetch_frame(
        conn,
        "SELECT DISTINCT ON (game_pk) game_pk, detailed_state FROM staging.schedule "
        "WHERE game_pk = ANY(%s) ORDER BY game_pk, observed_at DESC",
        (pks,),
    )
    if live.is_empty():
        live = pl.DataFrame(schema={"game_pk": pl.Int64(), "detailed_state": pl.String()})
    scored = pl.col("home_score").is_not_null() & pl.col("away_score").is_not_null()
    return (
        games.select("game_id", "game_pk", "home_score", "away_score")
        .join(live.with_columns(pl.col("game_pk").cast(pl.Int64)), on="game_pk", how="left")
        .select(
            "game_id",
            status=pl.coalesce(
                "detailed_state", pl.when(scored).then(pl.lit("Final")).otherwise(pl.lit("Scheduled"))
            ),
        )
    )


def local_start(start_utc: datetime | None, home_team_id: int) -> datetime | None:
    """First pitch in the home park's time zone (None when unknown)."""
    if start_utc is None:
        return None
    return start_utc.astimezone(ZoneInfo(by_mlb_id(home_team_id).timezone))


def _snapshots(conn: psycopg.Connection, games: pl.DataFrame) -> pl.DataFrame:
    """Every priced snapshot of ``games`` observed by the latest cutoff among them."""
    latest = games["as_of"].max()
    opening = games.select("game_id", "day_start", *OPENING_COLUMNS).lazy()
    pin_games = games.select("pin_game_no", "game_id").drop_nulls()
    lines = None
    if not pin_games.is_empty():
        lines = copy_frame(
            conn,
            sql.SQL(
                "(SELECT * FROM staging.pinnacle_lines WHERE pin_game_no = ANY(%s) AND observed_at <= %s) l"
            ),
            prices.PINNACLE_SCHEMA,
            [pin_games["pin_game_no"].to_list(), latest],
        )
    live_games = games.select("game_pk", "game_id").drop_nulls()
    quotes = None
    if not live_games.is_empty():
        quotes = copy_frame(
            conn,
            sql.SQL(
                "(SELECT g.game_id, q.book, q.market, q.side, q.line, q.price, q.observed_at, q.in_play "
                "FROM staging.pregame_odds_quotes q JOIN curated.games g USING (game_pk) "
                "WHERE NOT q.is_opening AND NOT q.is_live AND g.game_id = ANY(%s) AND q.observed_at <= %s) q"
            ),
            prices.QUOTE_SCHEMA,
            [live_games["game_id"].to_list(), latest],
        )
    frame = prices.collect_snapshots(
        opening, pinnacle_lines=lines, pinnacle_games=pin_games.lazy(), quotes=quotes
    ).collect()
    if frame.is_empty():
        return frame
    return prices.priced(frame)


def offered_prices(conn: psycopg.Connection, games: pl.DataFrame) -> pl.DataFrame:
    """Per game, book and market the price in force at the game's ``as_of`` (:data:`~mlbedge.features.prices.OFFER_SCHEMA`,
    by :func:`mlbedge.features.prices.offered_quotes`).

    ``games``: rows of :func:`games_on` (their ``as_of`` may be replaced by the served feature
    rows' own, which follow the same rule).
    """
    if games.is_empty():
        return pl.DataFrame(schema=prices.OFFER_SCHEMA)
    return offered_quotes(games.select("game_id", "as_of", "start_known"), _snapshots(conn, games))


def offered_at_open(conn: psycopg.Connection, games: pl.DataFrame) -> pl.DataFrame:
    """Per game, book and market the price in force at the start of the game's local date -- the
    moment the close strategy decides, as the backtest at the open does
    (:func:`mlbedge.betting.backtest.at_the_open`): SBRO's opening line (observed then) and each
    time-stamped book's last quote observed by then. ``games``: rows of :func:`games_on`."""
    if games.is_empty():
        return pl.DataFrame(schema=prices.OFFER_SCHEMA)
    at_open = games.with_columns(as_of=pl.col("day_start"), start_known=pl.lit(False))
    return offered_quotes(at_open.select("game_id", "as_of", "start_known"), _snapshots(conn, at_open))
