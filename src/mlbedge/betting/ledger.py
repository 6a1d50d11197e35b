"""The ledger of bets a person placed: recorded with checks, settled from results, measured at the close.

A bet names its game (a ``curated.games`` id), market, side, **the line of its own side as the
book offered it** (ATL +1.5 on a run line is side ``away``, line ``1.5``; a total of 7.5 is line
``7.5`` for over and under alike; none on a moneyline), the American price, the stake, the book
and when it was placed. :func:`add_bet` refuses, with the reason, a bet on a game that is not in
``curated.games``, a line of that market that no source ever quoted for the game (any book, any
time: SBRO's open and close, Pinnacle's snapshots, the live books), and the same bet entered a
second time (same game, market, side, line, price, stake and book) — so nothing is counted twice.

:func:`settle_bets` settles the open bets whose game has a final score (the rules of
:mod:`mlbedge.betting.settlement`; a game still without a score ``void_after_days`` after its date
is no action) and measures each against the close: the de-vigged closing probability of the same
side at the same line (the bet's own book where it is time-stamped, else SBRO's close), and
``clv = p_close * decimal(price) - 1`` (:func:`mlbedge.betting.metrics.clv`). A settled bet is
never settled again. :func:`ledger_report` sums the ledger and gives profit and CLV per day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import polars as pl
import psycopg
from psycopg import sql
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mlbedge.betting.backtest import GAMES_SCHEMA, closing_line_value, closing_quotes, market_snapshots
from mlbedge.betting.metrics import Interval, mean_ci, roi_ci
from mlbedge.betting.settlement import MARKET_SIDES, settle_frame
from mlbedge.features import market as market_features
from mlbedge.features.io import copy_frame
from mlbedge.settings import get_settings

Market = Literal["moneyline", "total", "runline"]
Side = Literal["home", "away", "over", "under"]

BET_COLUMNS: tuple[str, ...] = (
    "bet_id",
    "game_id",
    "date",
    "away_team",
    "home_team",
    "market",
    "side",
    "line",
    "odds",
    "stake",
    "book",
    "placed_at",
    "recorded_at",
    "source",
    "result",
    "profit",
    "settled_at",
    "close_book",
    "close_probability",
    "clv",
)


class BetRefusedError(ValueError):
    """A bet the ledger will not record; the message is the reason."""


class BetIn(BaseModel):
    """A bet as a person enters it (CLI or ``POST /v1/bets``)."""

    # The rules the validators below apply, stated in the JSON schema too (OpenAPI clients and the
    # fuzzer see them): each market's sides, its line or none.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {
                    "properties": {
                        "market": {"const": "moneyline"},
                        "side": {"enum": ["home", "away"]},
                        "line": {"type": "null"},
                    }
                },
                {
                    "properties": {
                        "market": {"const": "total"},
                        "side": {"enum": ["over", "under"]},
                        "line": {"type": "number"},
                    },
                    "required": ["line"],
                },
                {
                    "properties": {
                        "market": {"const": "runline"},
                        "side": {"enum": ["home", "away"]},
                        "line": {"type": "number"},
                    },
                    "required": ["line"],
                },
            ]
        },
    )

    game_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The game's id in curated.games, e.g. 20160704-ATL-PHI-0.",
    )
    market: Market
    side: Side
    line: float | None = Field(
        default=None,
        description="The line of the side bet on as offered: +1.5 for an underdog's run line, 7.5 for a total; "
        "none for a moneyline.",
    )
    odds: int = Field(
        description="American price of the side bet on (e.g. -131, +165): <= -100 or >= +100.",
        json_schema_extra={"not": {"exclusiveMinimum": -100, "exclusiveMaximum": 100}},
    )
    stake: float = Field(gt=0, description="Amount staked.")
    book: str = Field(
        default="", max_length=64, pattern=r"^[^\x00-\x1f\x7f]*$", description="Where the bet was placed."
    )
    placed_at: datetime | None = Field(default=None, description="When it was placed (default: now).")

    @field_validator("odds")
    @classmethod
    def _american(cls, value: int) -> int:
        if -100 < value < 100:
            raise ValueError(f"{value} is not an American price (they are <= -100 or >= +100)")
        return value

    @field_validator("stake")
    @classmethod
    def _finite_stake(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("the stake must be a finite amount")
        return value

    @field_validator("placed_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A time without a zone is read as UTC, the database's clock.
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    @model_validator(mode="after")
    def _side_and_line(self) -> BetIn:
        sides = MARKET_SIDES[self.market]
        if self.side not in sides:
            raise ValueError(f"a {self.market} bet is on {' or '.join(sides)}, not {self.side!r}")
        if self.market == "moneyline":
            if self.line is not None:
                raise ValueError("a moneyline bet has no line; leave it out")
        elif self.line is None or not math.isfinite(self.line):
            what = "the total" if self.market == "total" else "the handicap of the side bet on, e.g. +1.5"
            raise ValueError(f"a {self.market} bet needs its line ({what})")
        return self


@dataclass(frozen=True)
class SettleSummary:
    """What one :func:`settle_bets` pass did."""

    settled: int
    voided: int
    still_open: int


def home_line(market: str, side: str, line: float | None) -> float | None:
    """The line in the form the price tables keep it: the total, or the HOME handicap of a run line."""
    if line is None or market != "runline":
        return line
    return line if side == "home" else -line


def format_line(market: str, side: str, line: float | None) -> str:
    """A bet's side and line as a bettor reads it: ``away +1.5``, ``under 7.75``, ``home``."""
    if line is None:
        return side
    shown = f"{line:g}"
    return f"{side} {'+' if market == 'runline' and line > 0 else ''}{shown}"


def side_line_expr(market: str = "market", side: str = "side", line: str = "line") -> pl.Expr:
    """:func:`format_line` as a Polars expression over the three columns."""
    m, s, x = pl.col(market), pl.col(side), pl.col(line)
    number = x.cast(pl.String).str.replace(r"\.0$", "")
    signed = pl.when((m == "runline") & (x > 0)).then(pl.lit("+") + number).otherwise(number)
    return pl.when(x.is_null()).then(s).otherwise(pl.concat_str([s, pl.lit(" "), signed]))


# ----------------------------------------------------------------------------------------------
# prices of a few games


def _games(conn: psycopg.Connection, game_ids: list[str]) -> pl.DataFrame:
    return copy_frame(
        conn, sql.SQL("(SELECT * FROM curated.games WHERE game_id = ANY(%s)) g"), GAMES_SCHEMA, [game_ids]
    )


def _snapshots(conn: psycopg.Connection, games: pl.DataFrame) -> pl.DataFrame:
    """Every priced snapshot of ``games`` at any time (SBRO open, Pinnacle lines, live quotes)."""
    ids = games["game_id"].to_list()
    lines = copy_frame(
        conn,
        sql.SQL(
            "(SELECT l.* FROM staging.pinnacle_lines l JOIN curated.games g USING (pin_game_no) "
            "WHERE g.game_id = ANY(%s)) l"
        ),
        market_features.PINNACLE_SCHEMA,
        [ids],
    )
    quotes = copy_frame(
        conn,
        sql.SQL(
            "(SELECT g.game_id, q.book, q.market, q.side, q.line, q.price, q.observed_at, q.in_play "
            "FROM staging.pregame_odds_quotes q JOIN curated.games g USING (game_pk) "
            "WHERE NOT q.is_opening AND NOT q.is_live AND g.game_id = ANY(%s)) q"
        ),
        market_features.QUOTE_SCHEMA,
        [ids],
    )
    cutoff = get_settings().cutoff_minutes
    return market_snapshots(games, pinnacle_lines=lines, quotes=quotes, cutoff_minutes=cutoff)


def offered_lines(conn: psycopg.Connection, game_id: str) -> pl.DataFrame:
    """Every line quoted for one game, any book and time: ``market, line`` (the total, the home
    handicap, null for the moneyline), one row each."""
    games = _games(conn, [game_id])
    if games.is_empty():
        return pl.DataFrame(schema={"market": pl.String(), "line": pl.Float64()})
    quoted = _snapshots(conn, games).select("market", "line")
    closing = closing_quotes(games, market_features.empty_snapshots()).select("market", "line")
    return pl.concat([quoted, closing]).unique().sort("market", "line", nulls_last=True)


def _describe_offered(offered: pl.DataFrame, market: str) -> str:
    lines = offered.filter(pl.col("market") == market)["line"].drop_nulls().to_list()
    if not lines:
        return "none"
    if market == "runline":
        return ", ".join(f"home {h:+g} / away {-h:+g}" for h in lines)
    return ", ".join(f"{x:g}" for x in lines)


# ----------------------------------------------------------------------------------------------
# recording


def add_bet(conn: psycopg.Connection, bet: BetIn, *, source: str = "cli") -> dict[str, Any]:
    """Record ``bet``; return it as stored (with its ``bet_id``).

    Raises :class:`BetRefusedError` naming the reason: an unknown game, a line the market never
    offered for it, or the same bet already in the ledger.
    """
    games = _games(conn, [bet.game_id])
    if games.is_empty():
        raise BetRefusedError(
            f"unknown game {bet.game_id!r}: no such game_id in curated.games "
            "(ids look like 20160704-ATL-PIT-0; see `mlbedge data games`)"
        )
    offered = offered_lines(conn, bet.game_id)
    target = home_line(bet.market, bet.side, bet.line)
    in_market = offered.filter(pl.col("market") == bet.market)
    if in_market.is_empty():
        raise BetRefusedError(
            f"the {bet.market} of game {bet.game_id} was never offered by any source we hold"
        )
    if not in_market.filter(pl.col("line").eq_missing(target)).height:
        raise BetRefusedError(
            f"{bet.market} {format_line(bet.market, bet.side, bet.line)} was never offered for game "
            f"{bet.game_id}; lines quoted: {_describe_offered(offered, bet.market)}"
        )
    placed_at = bet.placed_at or datetime.now(UTC)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            """INSERT INTO ledger.bets (game_id, market, side, line, odds, stake, book, placed_at, source)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (game_id, market, side, line, odds, stake, book) DO NOTHING
               RETURNING bet_id""",
            (bet.game_id, bet.market, bet.side, bet.line, bet.odds, bet.stake, bet.book, placed_at, source),
        )
        row = cur.fetchone()
        if row is None:
            existing = cur.execute(
                """SELECT bet_id FROM ledger.bets WHERE game_id = %s AND market = %s AND side = %s
                   AND line IS NOT DISTINCT FROM %s AND odds = %s AND stake = %s AND book = %s""",
                (bet.game_id, bet.market, bet.side, bet.line, bet.odds, bet.stake, bet.book),
            ).fetchone()
            number = existing[0] if existing else "?"
            raise BetRefusedError(
                f"duplicate: this bet (game {bet.game_id}, {bet.market} "
                f"{format_line(bet.market, bet.side, bet.line)} {bet.odds:+d}, stake {bet.stake:g}, "
                f"book {bet.book or '-'}) is already in the ledger as bet #{number}"
            )
    return list_bets(conn, bet_ids=[int(row[0])]).row(0, named=True)


_LIST_SCHEMA: dict[str, pl.DataType] = {
    "bet_id": pl.Int64(),
    "game_id": pl.String(),
    "date": pl.Date(),
    "away_team": pl.String(),
    "home_team": pl.String(),
    "market": pl.String(),
    "side": pl.String(),
    "line": pl.Float64(),
    "odds": pl.Int64(),
    "stake": pl.Float64(),
    "book": pl.String(),
    "placed_at": pl.Datetime("us", "UTC"),
    "recorded_at": pl.Datetime("us", "UTC"),
    "source": pl.String(),
    "result": pl.String(),
    "profit": pl.Float64(),
    "settled_at": pl.Datetime("us", "UTC"),
    "close_book": pl.String(),
    "close_probability": pl.Float64(),
    "clv": pl.Float64(),
}


def list_bets(
    conn: psycopg.Connection,
    *,
    status: Literal["all", "open", "settled"] = "all",
    bet_ids: list[int] | None = None,
) -> pl.DataFrame:
    """The ledger (:data:`BET_COLUMNS`), oldest placement first, with each game's date and teams."""
    where = []
    params: list[object] = []
    if status == "open":
        where.append("b.result IS NULL")
    elif status == "settled":
        where.append("b.result IS NOT NULL")
    if bet_ids is not None:
        where.append("b.bet_id = ANY(%s)")
        params.append(bet_ids)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with conn.cursor() as cur:
        cur.execute(
            f"""SELECT b.bet_id, b.game_id, g.date, g.away_team, g.home_team, b.market, b.side, b.line,
                       b.odds, b.stake, b.book, b.placed_at, b.recorded_at, b.source, b.result, b.profit,
                       b.settled_at, b.close_book, b.close_probability, b.clv
                FROM ledger.bets b LEFT JOIN curated.games g USING (game_id)
                {clause} ORDER BY b.placed_at, b.bet_id""",
            params,
        )
        rows = cur.fetchall()
    return pl.DataFrame(rows, schema=_LIST_SCHEMA, orient="row")


# ----------------------------------------------------------------------------------------------
# settling


def settle_bets(
    conn: psycopg.Connection, *, today: date | None = None, void_after_days: int = 3
) -> SettleSummary:
    """Settle every open bet whose game has a final score, void those whose game is
    ``void_after_days`` past its date without one, and measure each against the close."""
    today = today or datetime.now(UTC).date()
    open_bets = list_bets(conn, status="open")
    if open_bets.is_empty():
        return SettleSummary(0, 0, 0)
    games = _games(conn, open_bets["game_id"].unique().to_list())
    scored = games.select("game_id", "date", "home_score", "away_score")
    bets = open_bets.select("bet_id", "game_id", "market", "side", "line", "odds", "stake", "book").join(
        scored.rename({"date": "_game_date"}), on="game_id", how="left"
    )
    has_score = pl.col("home_score").is_not_null() & pl.col("away_score").is_not_null()
    stale = pl.col("_game_date") <= pl.lit(today - timedelta(days=void_after_days))
    due = bets.filter(has_score | stale)
    if due.is_empty():
        return SettleSummary(0, 0, open_bets.height)
    settled = settle_frame(due.with_columns(no_action=~has_score))
    # The price tables keep the home handicap; compare the close at the bet's own line.
    for_close = settled.with_columns(
        line=pl.when(pl.col("market") == "runline")
        .then(pl.when(pl.col("side") == "home").then(pl.col("line")).otherwise(-pl.col("line")))
        .otherwise(pl.col("line"))
    )
    closes = closing_quotes(games, _snapshots(conn, games))
    measured = closing_line_value(
        for_close.select("bet_id", "game_id", "market", "side", "book", "line", "odds"), closes
    ).select("bet_id", "close_book", "close_probability", "clv")
    out = settled.select("bet_id", "result", "profit").join(measured, on="bet_id", how="left")
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(
            """UPDATE ledger.bets SET result = %s, profit = %s, settled_at = now(), close_book = %s,
                      close_probability = %s, clv = %s
               WHERE bet_id = %s AND result IS NULL""",
            [
                (r["result"], r["profit"], r["close_book"], r["close_probability"], r["clv"], r["bet_id"])
                for r in out.iter_rows(named=True)
            ],
        )
    voided = out.filter(pl.col("result") == "void").height
    return SettleSummary(out.height - voided, voided, open_bets.height - out.height)


# ----------------------------------------------------------------------------------------------
# the report


@dataclass(frozen=True)
class LedgerReport:
    """The ledger summed: totals, intervals and the day-by-day profit and CLV."""

    bets: int
    open: int
    settled: int
    staked: float
    profit: float
    roi: Interval | None
    clv: Interval | None
    n_clv: int
    max_drawdown: float  # currency: the largest fall of cumulative profit from its peak
    by_day: pl.DataFrame  # date, bets, staked, profit, cumulative_profit, clv_mean, cumulative_clv_mean

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""

        def interval(i: Interval | None) -> dict[str, float] | None:
            return None if i is None else {"estimate": i.estimate, "low": i.low, "high": i.high}

        return {
            "bets": self.bets,
            "open": self.open,
            "settled": self.settled,
            "staked": self.staked,
            "profit": self.profit,
            "roi": interval(self.roi),
            "clv": interval(self.clv),
            "n_clv": self.n_clv,
            "max_drawdown": self.max_drawdown,
            "by_day": [{**r, "date": r["date"].isoformat()} for r in self.by_day.iter_rows(named=True)],
        }

    def verdict(self) -> str:
        """One line a person reads first."""
        if self.settled == 0:
            return f"{self.bets} bet(s) recorded, none settled yet"
        roi = (
            ""
            if self.roi is None
            else f" ROI {self.roi.estimate:+.1%} [{self.roi.low:+.1%}, {self.roi.high:+.1%}]"
        )
        clv = "CLV n/a" if self.clv is None else f"CLV {self.clv.estimate:+.2%} over {self.n_clv} bets"
        return (
            f"{self.settled} settled bet(s), staked {self.staked:,.2f}, profit {self.profit:+,.2f},{roi}, "
            f"{clv}, max drawdown {self.max_drawdown:,.2f}; {self.open} open"
        )


def ledger_report(bets: pl.DataFrame, *, n_resamples: int = 2000) -> LedgerReport:
    """Sum a ledger (:func:`list_bets`): settled bets only in the money, by the game's date."""
    done = bets.filter(pl.col("result").is_not_null())
    action = done.filter(pl.col("result") != "void")
    staked = float(action["stake"].sum()) if action.height else 0.0
    profit = float(done["profit"].sum()) if done.height else 0.0
    roi = (
        roi_ci(action["profit"].to_numpy(), action["stake"].to_numpy(), n_resamples=n_resamples)
        if action.height
        else None
    )
    with_clv = action.filter(pl.col("clv").is_not_null())
    clv = mean_ci(with_clv["clv"].to_numpy(), n_resamples=n_resamples) if with_clv.height else None
    by_day = (
        done.with_columns(pl.coalesce("date", pl.col("placed_at").dt.date()).alias("date"))
        .group_by("date")
        .agg(
            bets=pl.len(),
            staked=pl.col("stake").filter(pl.col("result") != "void").sum(),
            profit=pl.col("profit").sum(),
            _clv_sum=pl.col("clv").sum(),
            _clv_n=pl.col("clv").count(),
        )
        .sort("date")
        .with_columns(
            cumulative_profit=pl.col("profit").cum_sum(),
            clv_mean=pl.when(pl.col("_clv_n") > 0).then(pl.col("_clv_sum") / pl.col("_clv_n")),
            cumulative_clv_mean=pl.col("_clv_sum").cum_sum() / pl.col("_clv_n").cum_sum(),
        )
        .with_columns(pl.col("cumulative_clv_mean").fill_nan(None))
        .drop("_clv_sum", "_clv_n")
    )
    # In currency: the ledger has no bankroll, so the fall of cumulative profit from its peak.
    curve = np.concatenate([[0.0], by_day["cumulative_profit"].to_numpy()])
    drawdown = float(np.max(np.maximum.accumulate(curve) - curve))
    return LedgerReport(
        bets=bets.height,
        open=bets.height - done.height,
        settled=done.height,
        staked=staked,
        profit=profit,
        roi=roi,
        clv=clv,
        n_clv=with_clv.height,
        max_drawdown=drawdown,
        by_day=by_day,
    )
