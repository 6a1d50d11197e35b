"""``mlbedge bets``: the ledger of bets placed. Thin: parse, call :mod:`mlbedge.betting.ledger`, print."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Literal

import polars as pl
import typer
from pydantic import ValidationError

from mlbedge.betting import ledger
from mlbedge.cli.options import HomeOption, console, fail, print_frame, settings_for
from mlbedge.storage.database import connect

app = typer.Typer(help="The ledger of bets you placed: add, list, settle, report.", no_args_is_help=True)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "bet"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def _shown(frame: pl.DataFrame) -> pl.DataFrame:
    """The ledger as a person reads it: the side with its own line, signed prices."""
    if frame.is_empty():
        return frame
    return frame.select(
        "bet_id",
        "date",
        pl.format("{} @ {}", "away_team", "home_team").alias("game"),
        "market",
        ledger.side_line_expr().alias("bet"),
        pl.when(pl.col("odds") > 0)
        .then(pl.format("+{}", "odds"))
        .otherwise(pl.col("odds").cast(pl.String))
        .alias("odds"),
        "stake",
        "book",
        "result",
        pl.col("profit").round(2),
        (pl.col("clv") * 100).round(2).alias("clv_%"),
    )


@app.command("add")
def add(
    game: str = typer.Option(..., "--game", help="Game id from curated.games, e.g. 20160704-ATL-PHI-0."),
    market: str = typer.Option(..., "--market", help="moneyline, total or runline."),
    side: str = typer.Option(
        ..., "--side", help="home or away (moneyline, run line); over or under (total)."
    ),
    line: float | None = typer.Option(
        None, "--line", help="Your side's line as offered: +1.5 / -1.5 on a run line, 7.5 on a total."
    ),
    odds: int = typer.Option(..., "--odds", help="American price you got, e.g. -131 or 165."),
    stake: float = typer.Option(..., "--stake", help="Amount staked."),
    book: str = typer.Option("", "--book", help="Where you placed it."),
    placed_at: datetime | None = typer.Option(
        None, "--placed-at", help="When you placed it (ISO time; default now, UTC without a zone)."
    ),
    home: Path | None = HomeOption,
) -> None:
    """Record a bet you placed. Refused, with the reason, when the game is unknown, the line was
    never offered for it, or the same bet is already recorded."""
    try:
        bet = ledger.BetIn(
            game_id=game,
            market=market,  # type: ignore[arg-type]
            side=side,  # type: ignore[arg-type]
            line=line,
            odds=odds,
            stake=stake,
            book=book,
            placed_at=placed_at,
        )
    except ValidationError as exc:
        raise fail(f"bet refused: {_validation_message(exc)}") from exc
    try:
        with connect(settings_for(home)) as conn:
            row = ledger.add_bet(conn, bet, source="cli")
    except ledger.BetRefusedError as exc:
        raise fail(f"bet refused: {exc}") from exc
    console.print(
        f"recorded bet #{row['bet_id']}: {row['away_team']} @ {row['home_team']} {row['date']}, "
        f"{row['market']} {ledger.format_line(row['market'], row['side'], row['line'])} "
        f"{row['odds']:+d}, stake {row['stake']:g}" + (f" at {row['book']}" if row["book"] else "")
    )


@app.command("list")
def list_(
    status: str = typer.Option("all", "--status", help="all, open or settled."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines instead of a table."),
    home: Path | None = HomeOption,
) -> None:
    """The bets recorded, oldest first."""
    if status not in ("all", "open", "settled"):
        raise typer.BadParameter("--status is all, open or settled")
    chosen: Literal["all", "open", "settled"] = status  # type: ignore[assignment]
    with connect(settings_for(home)) as conn:
        bets = ledger.list_bets(conn, status=chosen)
    if as_json:
        typer.echo(json.dumps(bets.to_dicts(), default=str, indent=1))
        return
    if bets.is_empty():
        console.print("no bets recorded")
        return
    print_frame(_shown(bets), title=f"{bets.height} bet(s)")


@app.command("settle")
def settle(home: Path | None = HomeOption) -> None:
    """Settle the open bets whose game has a result, and measure them against the close."""
    with connect(settings_for(home)) as conn:
        summary = ledger.settle_bets(conn)
    console.print(
        f"settled {summary.settled}, voided {summary.voided} (no result), {summary.still_open} still open"
    )


@app.command("report")
def report(
    json_out: Path | None = typer.Option(None, "--json", help="Write the numbers here.", dir_okay=False),
    html_out: Path | None = typer.Option(None, "--html", help="Write an HTML report here.", dir_okay=False),
    home: Path | None = HomeOption,
) -> None:
    """Profit, ROI and closing-line value of the ledger, and how they moved day by day."""
    from mlbedge.betting.report.ledger import render_ledger_report

    with connect(settings_for(home)) as conn:
        bets = ledger.list_bets(conn)
    summary = ledger.ledger_report(bets)
    console.print(summary.verdict())
    if summary.by_day.height:
        print_frame(
            summary.by_day.with_columns(
                pl.col("staked", "profit", "cumulative_profit").round(2),
                (pl.col("clv_mean", "cumulative_clv_mean") * 100).round(2),
            ).rename({"clv_mean": "clv_%", "cumulative_clv_mean": "cumulative_clv_%"}),
            title="profit and CLV by day",
        )
    if json_out is not None:
        doc = {**summary.as_dict(), "bets_list": bets.to_dicts()}
        json_out.write_text(json.dumps(doc, default=str, indent=1))
        console.print(f"numbers: {json_out}")
    if html_out is not None:
        html_out.write_text(render_ledger_report(summary, bets))
        console.print(f"report: {html_out}")
